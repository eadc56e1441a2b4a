package server_test

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/servertest"
)

// TestRequestsTimeOutWhenThePoolIsExhausted holds every connection of
// the server's pool, as slow queries or a leak would, and checks that
// requests give up at the request timeout with TIMEOUT rather than wait
// for a connection for ever, and that the server serves again once
// connections are free.
func TestRequestsTimeOutWhenThePoolIsExhausted(t *testing.T) {
	const timeout = 300 * time.Millisecond
	wrongLogIn := map[string]any{"in": map[string]any{"email": "nobody@example.test", "password": "not the password"}}
	for _, b := range servertest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			s := servertest.StartWith(t, b, servertest.Options{Config: server.Config{RequestTimeout: timeout}})
			ctx := context.Background()
			var held []*sql.Conn
			for range s.DB.SQL.Stats().MaxOpenConnections {
				c, err := s.DB.SQL.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, c)
			}
			release := func() {
				for _, c := range held {
					c.Close()
				}
				held = nil
			}
			defer release()

			for _, tc := range []struct {
				name, token, query string
				vars               map[string]any
			}{
				// No fixtures: under load they could outlast so short a timeout.
				{"a query, whose token cannot be checked", "plt_not-a-token-anyone-has", `{ viewer { id } }`, nil},
				{"a mutation, whose transaction cannot begin", "", logInMutation, wrongLogIn},
			} {
				start := time.Now()
				r := postGQL(t, s.URL, tc.token, tc.query, tc.vars, nil)
				took := time.Since(start)
				if r.code() != "TIMEOUT" || r.status != http.StatusServiceUnavailable {
					t.Errorf("%s: HTTP %d, %+v, want 503 and TIMEOUT", tc.name, r.status, r.Errors)
				}
				if took < timeout || took > 5*time.Second {
					t.Errorf("%s: answered after %v, want soon after the %v timeout", tc.name, took, timeout)
				}
			}

			// Over a websocket, which outlives any request, each operation
			// is bounded on its own.
			c := dial(t, s.URL, transportWS, nil)
			c.init(nil)
			start := time.Now()
			c.subscribe("1", logInMutation, wrongLogIn)
			m := c.next()
			if took := time.Since(start); !strings.Contains(string(m.Payload), `"TIMEOUT"`) || took > 5*time.Second {
				t.Errorf("a mutation over a websocket: %s %s after %v, want TIMEOUT soon after %v", m.Type, m.Payload, took, timeout)
			}

			release()
			// The same logIn now runs, and finds no such account.
			if r := postGQL(t, s.URL, "", logInMutation, wrongLogIn, nil); r.code() != "UNAUTHENTICATED" {
				t.Errorf("with connections free again: HTTP %d, %+v, want UNAUTHENTICATED", r.status, r.Errors)
			}
		})
	}
}

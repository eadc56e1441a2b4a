package server_test

import (
	"context"
	"database/sql"
	"net/http"
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
	for _, b := range servertest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			s := servertest.StartWith(t, b, servertest.Options{Configure: func(c *server.Config) {
				c.RequestTimeout = timeout
			}})
			u := s.NewUser(t, "Olive")
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
				{"a query, whose token cannot be checked", u.Token, `{ viewer { id } }`, nil},
				{"a mutation, whose transaction cannot begin", "", logInMutation,
					map[string]any{"in": map[string]any{"email": u.Email, "password": servertest.Password}}},
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

			release()
			requireGQLOK(t, postGQL(t, s.URL, u.Token, `{ viewer { id } }`, nil, nil))
		})
	}
}

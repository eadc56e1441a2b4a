package server_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/servertest"
)

func TestWebsocketAnswersClientPings(t *testing.T) {
	s := start(t, server.Config{})
	c := dial(t, s.url, transportWS, nil)
	c.init(nil)
	c.send(wsMessage{Type: "ping"})
	for {
		m, err := c.readAny()
		if err != nil {
			t.Fatal(err)
		}
		if m.Type == "pong" {
			return
		}
	}
}

func TestWebsocketClientThatStopsReadingIsCutOff(t *testing.T) {
	const writeTimeout = 300 * time.Millisecond
	s := start(t, server.Config{WebsocketWriteTimeout: writeTimeout})
	stalled := dial(t, s.url, transportWS, nil)
	stalled.init(nil)
	other := dial(t, s.url, transportWS, nil)
	other.init(nil)

	// The server answers each ping with a pong carrying its payload: a
	// client that sends large pings and reads nothing fills the socket's
	// buffers both ways, until the server's write blocks.
	ping := []byte(`{"type":"ping","payload":{"pad":"` + strings.Repeat("x", 60<<10) + `"}}`)
	began := time.Now()
	sent := 0
	for ; sent < 2000; sent++ {
		_ = stalled.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := stalled.conn.WriteMessage(websocket.TextMessage, ping); err != nil {
			break
		}
	}
	t.Logf("%d pings of 60 KiB sent before the connection stalled, in %v", sent, time.Since(began))
	if sent == 2000 {
		t.Fatal("the connection never stalled")
	}

	// Meanwhile everyone else is served.
	other.send(wsMessage{Type: "ping"})
	for {
		m, err := other.readAny()
		if err != nil {
			t.Fatalf("another connection: %v", err)
		}
		if m.Type == "pong" {
			break
		}
	}

	// After the write timeout the server has cut the stalled connection:
	// reading what it did send ends in an error, not in waiting for more.
	time.Sleep(writeTimeout + time.Second)
	_ = stalled.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := stalled.conn.ReadMessage()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the stalled connection is still open %v after it stalled", time.Since(began))
		}
		t.Logf("the stalled connection ended: %v", err)
		break
	}
}

func TestWebsocketWithARevokedTokenIsClosed(t *testing.T) {
	// The periodic check is an hour away: the revocation itself closes
	// the connection (see IdentityCache.OnInvalidate).
	s := start(t, server.Config{RevalidateTokens: time.Hour})
	token, _ := newLoopOver(t, s.url)
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			var login struct{ LogIn struct{ Token string } }
			graphQL(t, s.url, "", `mutation($in: LogInInput!) { logIn(input: $in) { token } }`,
				map[string]any{"in": map[string]any{"email": "olive@example.test", "password": servertest.Password}}, &login)
			session := login.LogIn.Token
			c := dial(t, s.url, proto, nil)
			c.init(map[string]any{"Authorization": "Bearer " + session})
			kept := dial(t, s.url, proto, nil)
			kept.init(map[string]any{"Authorization": "Bearer " + token})

			var out struct{ LogOut bool }
			graphQL(t, s.url, session, `mutation { logOut }`, nil, &out)
			began := time.Now()
			c.requireClose(codeForbidden)
			t.Logf("closed %v after the token was revoked", time.Since(began))

			// A connection with another token stays open.
			kept.subscribe("1", `subscription { __typename }`, nil)
			if m := kept.next(); m.ID != "1" {
				t.Fatalf("got %s %s, want an answer", m.Type, m.Payload)
			}
		})
	}
}

func TestWebsocketWithATokenRevokedOnAnotherReplicaIsClosed(t *testing.T) {
	// Two servers on one PostgreSQL database, their periodic checks an
	// hour away: the logOut on one reaches the other through its LISTEN
	// connection, whose one token check closes the websocket.
	dsn := servertest.PostgresSchema(t)
	cfg := servertest.Options{DatabaseURL: dsn, Config: server.Config{RevalidateTokens: time.Hour}}
	here := servertest.StartWith(t, servertest.Postgres, cfg)
	there := servertest.StartWith(t, servertest.Postgres, cfg)
	user := here.NewUser(t, "Rhea")
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			var login struct{ LogIn struct{ Token string } }
			graphQL(t, here.URL, "", `mutation($in: LogInInput!) { logIn(input: $in) { token } }`,
				map[string]any{"in": map[string]any{"email": user.Email, "password": servertest.Password}}, &login)
			session := login.LogIn.Token
			c := dial(t, there.URL, proto, nil)
			c.init(map[string]any{"Authorization": "Bearer " + session})

			var out struct{ LogOut bool }
			graphQL(t, here.URL, session, `mutation { logOut }`, nil, &out)
			c.requireClose(codeForbidden)
		})
	}
}

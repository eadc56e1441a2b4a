package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// Subscribers of one group (the same document, variables and token) get
// an event's payload as the first of them encoded it, without gqlgen's
// executor (graph.EventFeed.Shared): their messages are byte for byte
// those of a subscriber whose own encoding went through the executor,
// and the server's metrics show that one of the two wrote each of its
// events from the other's payload (equal bytes alone would hold if
// nothing were shared).
func TestWebsocketSharedEventsAreTheBytesTheExecutorWrote(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		for _, proto := range protocols {
			t.Run(proto, func(t *testing.T) {
				// A prototype of its own, so that the other protocol's
				// subscribers, and the payloads encoded for them, do not
				// count here; and documents that awaitResolvers' probe has
				// not had payloads encoded for.
				loop := s.NewLoop(t)
				awaitResolvers(t, s.URL, loop.Owner.Token, loop.Prototype.ID)
				vars := map[string]any{"p": loop.Prototype.ID}
				group := prototypeEvents + "\n# a group of two"
				documents := []string{
					group, group,
					prototypeEvents + "\n# a group of its own",
				}
				// The probe's last events may be counted just after it
				// has gone (a frame is counted once its write returned):
				// start from counters that have settled.
				before := scrapeSettled(t, s)
				clients := make([]*wsClient, len(documents))
				for i, document := range documents {
					clients[i] = dial(t, s.URL, proto, nil)
					clients[i].init(map[string]any{"Authorization": "Bearer " + loop.Owner.Token})
					clients[i].subscribe("1", document, vars)
				}
				// The replay of the stored events, then a live one.
				frames := make([][][]byte, len(clients))
				for i, c := range clients {
					frames[i] = c.framesUntil("ITERATION_PUBLISHED")
				}
				s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)
				for i, c := range clients {
					frames[i] = append(frames[i], c.framesUntil("FEEDBACK_ADDED")...)
				}
				for i := 1; i < len(frames); i++ {
					if len(frames[i]) != len(frames[0]) {
						t.Fatalf("subscriber %d got %d messages, subscriber 0 %d", i, len(frames[i]), len(frames[0]))
					}
					for j := range frames[i] {
						if !bytes.Equal(frames[i][j], frames[0][j]) {
							t.Errorf("message %d: subscriber %d got\n%s\nsubscriber 0 got\n%s", j, i, frames[i][j], frames[0][j])
						}
					}
				}
				// Every event is written once to each subscriber, and once
				// from a shared payload: the second of the group to reach
				// it takes the first one's.
				wants := []struct {
					metric string
					n      int
				}{
					{"protoloop_websocket_events_total", len(clients) * len(frames[0])},
					{"protoloop_websocket_events_shared_total", len(frames[0])},
				}
				// The server counts a frame once its write has returned,
				// which may be just after the client has read it.
				counted := func(after map[string]float64) bool {
					for _, want := range wants {
						if after[want.metric]-before[want.metric] < float64(want.n) {
							return false
						}
					}
					return true
				}
				after := scrape(t, s)
				for deadline := time.Now().Add(5 * time.Second); !counted(after) && time.Now().Before(deadline); {
					time.Sleep(10 * time.Millisecond)
					after = scrape(t, s)
				}
				for _, want := range wants {
					if got := after[want.metric] - before[want.metric]; got != float64(want.n) {
						t.Errorf("%s grew by %v for %d events to %d subscribers, two of them of one group; want %d",
							want.metric, got, len(frames[0]), len(clients), want.n)
					}
				}
				// A write carries every event its writer found waiting: at
				// least one per subscriber (the live event came alone), at
				// most one per event.
				writes := after["protoloop_websocket_event_writes_total"] - before["protoloop_websocket_event_writes_total"]
				if writes < float64(2*len(clients)) || writes > float64(len(clients)*len(frames[0])) {
					t.Errorf("protoloop_websocket_event_writes_total grew by %v for %d events to %d subscribers; want %d to %d",
						writes, len(frames[0]), len(clients), 2*len(clients), len(clients)*len(frames[0]))
				}
			})
		}
	})
}

// scrapeSettled scrapes the server's metrics once no websocket is open and
// the websocket event counters have not moved for 100 ms (5 s at most).
func scrapeSettled(t *testing.T, s *servertest.Server) map[string]float64 {
	t.Helper()
	m := scrape(t, s)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		next := scrape(t, s)
		if next["protoloop_websocket_connections"] == 0 &&
			next["protoloop_websocket_events_total"] == m["protoloop_websocket_events_total"] &&
			next["protoloop_websocket_events_shared_total"] == m["protoloop_websocket_events_shared_total"] &&
			next["protoloop_websocket_event_writes_total"] == m["protoloop_websocket_event_writes_total"] {
			return next
		}
		m = next
	}
	t.Fatalf("the websocket metrics did not settle in 5 s: %v", m)
	return nil
}

// framesUntil returns the messages of operation "1" as they came, up to
// and including the first event of kind.
func (c *wsClient) framesUntil(kind string) [][]byte {
	c.t.Helper()
	var frames [][]byte
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(readTimeout))
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.t.Fatalf("%s: read: %v", c.proto, err)
		}
		var m wsMessage
		if err := json.Unmarshal(data, &m); err != nil || m.ID != "1" {
			continue // keep-alives
		}
		if m.Type != "next" && m.Type != "data" {
			c.t.Fatalf("%s: got %s %s, want an event", c.proto, m.Type, m.Payload)
		}
		frames = append(frames, data)
		if decodeEvent(c.t, m.Payload).Kind == kind {
			return frames
		}
	}
}

// A query's result larger than the bound on a connection's queue (1 MiB)
// is sent whole, with what is queued beside it (its complete, a
// keep-alive): the bound leaves the largest message queued out of its
// count, as it is there to cut clients that stop reading, not large
// answers.
func TestWebsocketDeliversAQueryResultOverOneMiB(t *testing.T) {
	const aliases = 60 // of two 10,000-character fields: 1.2 MB
	s := start(t, server.Config{Limits: server.Limits{MaxAliases: aliases, MaxRootFields: aliases}})
	token, prototypeID := newLoopOver(t, s.url)
	long := strings.Repeat("Volunteers retype the same form. ", 10_000/33)
	var up struct{ UpdatePrototype struct{ ID string } }
	graphQL(t, s.url, token, `mutation($id: ID!, $in: UpdatePrototypeInput!) { updatePrototype(id: $id, input: $in) { id } }`,
		map[string]any{"id": prototypeID, "in": map[string]any{"problem": long, "missionLink": long}}, &up)
	var query strings.Builder
	query.WriteString("query($p: ID!) {")
	for i := range aliases {
		fmt.Fprintf(&query, " a%d: node(id: $p) { ... on Prototype { problem missionLink } }", i)
	}
	query.WriteString(" }")
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			c := dial(t, s.url, proto, nil)
			c.init(map[string]any{"Authorization": "Bearer " + token})
			c.subscribe("1", query.String(), map[string]any{"p": prototypeID})
			m := c.next()
			if m.Type != "next" && m.Type != "data" {
				t.Fatalf("got %s %.200s, want the result", m.Type, m.Payload)
			}
			var r struct {
				Data   map[string]struct{ Problem, MissionLink string }
				Errors json.RawMessage
			}
			if err := json.Unmarshal(m.Payload, &r); err != nil || len(r.Errors) > 0 {
				t.Fatalf("result %.200s: %v", m.Payload, err)
			}
			if len(m.Payload) <= 1<<20 || len(r.Data) != aliases || r.Data["a59"].Problem != long {
				t.Fatalf("got %d bytes with %d aliases, want over 1 MiB with %d, each the whole text", len(m.Payload), len(r.Data), aliases)
			}
			if m := c.next(); m.Type != "complete" {
				t.Fatalf("got %s %s after the result, want complete", m.Type, m.Payload)
			}
		})
	}
}

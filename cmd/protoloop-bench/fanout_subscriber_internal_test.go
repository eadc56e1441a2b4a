package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestSubscriberReadsItsSocketAsAClientShould runs one subscriber
// against a graphql-transport-ws server of gorilla's that acknowledges
// it, sends two events, one of them twice, and pings it both ways, and
// only then hears its pongs.
func TestSubscriberReadsItsSocketAsAClientShould(t *testing.T) {
	event := func(seq int) string {
		return fmt.Sprintf(`{"id":"1","type":"next","payload":{"data":{"prototypeEvents":{"seq":%d,"kind":"FEEDBACK_ADDED","occurredAt":"%s"}}}}`,
			seq, time.Now().UTC().Format(time.RFC3339Nano))
	}
	served := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{Subprotocols: []string{"graphql-transport-ws"}}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			served <- err
			return
		}
		defer conn.Close()
		served <- func() error {
			var init, sub struct{ Type string }
			if err := conn.ReadJSON(&init); err != nil || init.Type != "connection_init" {
				return fmt.Errorf("init: %q %v", init.Type, err)
			}
			if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"connection_ack"}`)); err != nil {
				return err
			}
			if err := conn.ReadJSON(&sub); err != nil || sub.Type != "subscribe" {
				return fmt.Errorf("subscribe: %q %v", sub.Type, err)
			}
			ponged := false
			conn.SetPongHandler(func(data string) error { ponged = data == "hello"; return nil })
			for _, m := range []string{event(10), "", event(11), event(11), `{"type":"ping"}`} {
				if m == "" {
					err = conn.WriteControl(websocket.PingMessage, []byte("hello"), time.Now().Add(time.Second))
				} else {
					err = conn.WriteMessage(websocket.TextMessage, []byte(m))
				}
				if err != nil {
					return err
				}
			}
			_, pong, err := conn.ReadMessage()
			if err != nil || string(pong) != `{"type":"pong"}` || !ponged {
				return fmt.Errorf("got %q (%v), websocket pong %v", pong, err, ponged)
			}
			return nil
		}()
	}))
	defer srv.Close()

	s, err := subscribeTo(t, srv)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if got := s.received.Load(); got != 2 || len(s.latencies) != 2 || s.last != 11 {
		t.Errorf("received %d events, %d timed, the last %d; want 2, 2, 11", got, len(s.latencies), s.last)
	}
	if got := s.failures.Load(); got != 1 {
		t.Errorf("%d failures, want 1: the repeated event", got)
	}
}

func TestSubscribeFailsOnAnythingButAnAcknowledgement(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(*websocket.Conn) error
		want  string
	}{
		{"another message", func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
		}, "instead of connection_ack"},
		{"a close frame", func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4401, "Unauthorized"))
		}, "closed the websocket"},
		{"a binary frame", func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.BinaryMessage, []byte{1})
		}, "unexpected opcode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				up := websocket.Upgrader{Subprotocols: []string{"graphql-transport-ws"}}
				conn, err := up.Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer conn.Close()
				if _, _, err := conn.ReadMessage(); err == nil {
					_ = tc.write(conn)
				}
				_, _, _ = conn.ReadMessage() // until the client goes
			}))
			defer srv.Close()
			s, err := subscribeTo(t, srv)
			if err == nil {
				s.close()
				t.Fatal("subscribed")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
}

// subscribeTo subscribes to srv as the scenario's subscribers do, read by
// readers of its own that stop with the test.
func subscribeTo(t *testing.T, srv *httptest.Server) (*subscriber, error) {
	t.Helper()
	readers, err := startReaders()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(readers.stop)
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	return subscribe(context.Background(), &d, readers, "ws"+strings.TrimPrefix(srv.URL, "http"), "token", nil)
}

package server_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/servertest"
)

// Between its client's messages a websocket keeps no goroutine on Linux:
// it waits in the server's poller, and a goroutine reads it only while
// the client has sent something. These tests write the client's frames
// by hand, so that they arrive together or in pieces as the test says.

// clientFrame is a client's text frame carrying payload, masked as a
// client's must be (with a zero key: the server checks that frames are
// masked, not the key).
func clientFrame(payload string) []byte {
	b := []byte{0x80 | websocket.TextMessage}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0x80|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0x80|127), uint64(n))
	}
	b = append(b, 0, 0, 0, 0)
	return append(b, payload...)
}

// pingFrame is a graphql-transport-ws ping numbered n, which the server
// answers with a pong carrying the same payload.
func pingFrame(n int) []byte {
	return clientFrame(fmt.Sprintf(`{"type":"ping","payload":{"n":%d}}`, n))
}

// writeRaw writes bytes to the client's socket in one write: one TCP
// segment on loopback.
func (c *wsClient) writeRaw(b []byte) {
	c.t.Helper()
	_ = c.conn.NetConn().SetWriteDeadline(time.Now().Add(readTimeout))
	if _, err := c.conn.NetConn().Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// requirePongs reads the pongs numbered from, from+1, … to, in order.
func (c *wsClient) requirePongs(from, to int) {
	c.t.Helper()
	for n := from; n <= to; n++ {
		m, err := c.readAny()
		if err != nil {
			c.t.Fatalf("waiting for pong %d (of %d…%d): %v", n, from, to, err)
		}
		var p struct{ N int }
		if err := json.Unmarshal(m.Payload, &p); m.Type != "pong" || err != nil || p.N != n {
			c.t.Fatalf("got %s %s, want pong %d", m.Type, m.Payload, n)
		}
	}
}

func TestWebsocketHandlesEveryMessageOfASegment(t *testing.T) {
	s := start(t, server.Config{})
	c := dial(t, s.url, transportWS, nil)

	// connection_init and four pings in one segment, 188 bytes: the first
	// read takes all of them into the connection's read buffer, and the
	// socket is empty after it. Each must be answered without the client
	// sending anything more.
	burst := clientFrame(`{"type":"connection_init"}`)
	for n := range 4 {
		burst = append(burst, pingFrame(n)...)
	}
	c.writeRaw(burst)
	if m, err := c.readAny(); err != nil || m.Type != "connection_ack" {
		c.t.Fatalf("got %s, %v; want connection_ack", m.Type, err)
	}
	c.requirePongs(0, 3)

	// Forty pings in one segment, more than the read buffer holds: some
	// are in the buffer, the rest still in the socket.
	burst = burst[:0]
	for n := 4; n < 44; n++ {
		burst = append(burst, pingFrame(n)...)
	}
	c.writeRaw(burst)
	c.requirePongs(4, 43)

	// And the connection waits for the next.
	c.writeRaw(pingFrame(44))
	c.requirePongs(44, 44)
}

func TestWebsocketWaitsForTheRestOfAMessage(t *testing.T) {
	s := start(t, server.Config{})
	c := dial(t, s.url, transportWS, nil)
	c.init(nil)

	for _, split := range []struct {
		name string
		at   []int // offsets where the frame is cut
	}{
		{"in the frame header", []int{1}},
		{"in the payload", []int{10}},
		{"everywhere", []int{1, 2, 5, 6, 20}},
	} {
		t.Run(split.name, func(t *testing.T) {
			frame := pingFrame(1)
			prev := 0
			for _, at := range split.at {
				c.writeRaw(frame[prev:at])
				prev = at
				time.Sleep(150 * time.Millisecond)
			}
			c.writeRaw(frame[prev:])
			c.requirePongs(1, 1)
		})
	}

	// A message of 100 KiB, over the 64 KiB a client may send, in pieces:
	// the server closes with 1009 once it has read past the limit.
	big := clientFrame(`{"type":"ping","payload":{"pad":"` + string(make([]byte, 100<<10)) + `"}}`)
	for i := 0; i < len(big); i += 16 << 10 {
		_ = c.conn.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.conn.NetConn().Write(big[i:min(i+16<<10, len(big))]); err != nil {
			break // the server has closed
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.requireClose(codeTooBig)
}

func TestWebsocketClientsThatGoWhileIdleAreForgotten(t *testing.T) {
	for _, b := range servertest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			s := servertest.Start(t, b)
			loop := s.NewLoop(t)
			awaitResolvers(t, s.URL, loop.Owner.Token, loop.Prototype.ID)
			vars := map[string]any{"p": loop.Prototype.ID}
			base := scrapeSettled(t, s)

			var clients []*wsClient
			for i := range 6 {
				c := dial(t, s.URL, protocols[i%2], nil)
				c.init(map[string]any{"token": loop.Owner.Token})
				c.subscribe("1", prototypeEvents, vars)
				c.nextEvent("1")
				clients = append(clients, c)
			}
			m := scrape(t, s)
			if got := m["protoloop_websocket_connections"]; got != 6 {
				t.Fatalf("%v websockets open, want 6", got)
			}
			time.Sleep(100 * time.Millisecond) // every connection back waiting
			for i, c := range clients {
				switch i % 3 {
				case 0:
					_ = c.conn.Close() // vanishes: the socket closes, no close frame
				case 1:
					_ = c.conn.WriteControl(websocket.CloseMessage,
						websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
				case 2:
					_ = c.conn.NetConn().(interface{ CloseWrite() error }).CloseWrite() // shuts its half
				}
			}
			// scrapeSettled fails the test unless every websocket is closed
			// within 5 s.
			m = scrapeSettled(t, s)
			if got, want := m["protoloop_subscriptions_active"], base["protoloop_subscriptions_active"]; got != want {
				t.Errorf("%v subscriptions active after their clients went, want %v as before", got, want)
			}
		})
	}
}

func TestShutdownEndsIdleWebsocketsWhoseClientsDoNotAnswer(t *testing.T) {
	s := start(t, server.Config{ShutdownTimeout: 10 * time.Second})
	token, prototypeID := newLoopOver(t, s.url)
	awaitResolvers(t, s.url, token, prototypeID)
	vars := map[string]any{"p": prototypeID}
	var answering, silent []*wsClient
	for i := range 8 {
		c := dial(t, s.url, protocols[i%2], nil)
		c.init(map[string]any{"token": token})
		c.subscribe("1", prototypeEvents, vars)
		c.nextEvent("1")
		if i%2 == 0 {
			answering = append(answering, c)
		} else {
			silent = append(silent, c) // never reads again: never answers the close frame
		}
	}
	time.Sleep(100 * time.Millisecond) // every connection back waiting

	began := time.Now()
	s.stop()
	for _, c := range answering {
		c.requireClose(codeServiceRestart)
	}
	// The silent ones are closed for good after the close grace (2 s):
	// shutdown waits for that, not for its timeout.
	if err := s.wait(t); err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("shutdown took %v with idle websockets whose clients do not answer", took)
	}
	for _, c := range silent {
		c.requireClose(codeServiceRestart) // it was sent before the socket closed
	}
}

func TestIdleWebsocketsKeepNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("idle websockets wait in epoll on Linux only; elsewhere each keeps its reader goroutine")
	}
	// Not parallel: goroutines are counted for the whole process.
	s := start(t, server.Config{})
	token, prototypeID := newLoopOver(t, s.url)
	awaitResolvers(t, s.url, token, prototypeID)
	vars := map[string]any{"p": prototypeID}
	const connections = 200
	before := settledGoroutines(t, -1)
	for i := range connections {
		c := dial(t, s.url, protocols[i%2], nil)
		c.init(map[string]any{"token": token})
		c.subscribe(strconv.Itoa(i), prototypeEvents, vars)
		c.nextEvent(strconv.Itoa(i))
	}
	// The test's own clients keep none either: gorilla's client reads
	// only when asked to.
	const slack = 10
	after := settledGoroutines(t, before+slack)
	t.Logf("%d goroutines before, %d with %d idle subscribers", before, after, connections)
	if after-before > slack {
		t.Errorf("%d goroutines more with %d idle subscribers, want at most %d, whatever their number",
			after-before, connections, slack)
	}
}

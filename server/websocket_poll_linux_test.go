package server

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A connection waiting in the poller, with no goroutine reading it, that
// its writer cuts (a client that takes nothing, or lets too much pile up)
// is ended as if its reader had seen the socket close: it leaves the
// poller and the server's connections, and its operations end.
func TestWebsocketIdleInThePollerIsEndedWhenItsWriterCutsIt(t *testing.T) {
	cases := []struct {
		name string
		send func(c *gorillaConn)
	}{
		{
			name: "its write times out",
			send: func(c *gorillaConn) {
				c.send(appendMessage(nil, nil, "ka", []byte(`"`+strings.Repeat("x", 512<<10)+`"`)))
			},
		},
		{
			name: "its queue overflows",
			send: func(c *gorillaConn) {
				// As if a round were running: nothing is taken.
				c.mu.Lock()
				c.writing = true
				c.mu.Unlock()
				for range 3 {
					c.send(appendMessage(nil, nil, "ka", []byte(`"`+strings.Repeat("x", maxQueued/2)+`"`)))
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, client := dialSmallConn(t, 300*time.Millisecond)
			if !c.watch() {
				t.Skip("no poller: each connection keeps a reader")
			}
			token := c.pollToken
			tc.send(c) // the client reads nothing

			// Its context ends last, as its reading ends.
			select {
			case <-c.ctx.Done():
			case <-time.After(20 * time.Second):
				t.Fatal("the connection's reading has not ended")
			}
			_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				if _, _, err := client.ReadMessage(); err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						t.Fatal("the client's socket is still open")
					}
					break
				}
			}
			c.mu.Lock()
			polled, ended := c.polled, c.readEnded
			c.mu.Unlock()
			poller.mu.Lock()
			_, registered := poller.conns[token]
			poller.mu.Unlock()
			if polled || registered || !ended || c.live.count() != 0 {
				t.Fatalf("cut while idle: polled %v, in the poller %v, reading ended %v, connections %d; want out of everything",
					polled, registered, ended, c.live.count())
			}
		})
	}
}

// The kernel gives a closed socket's descriptor number to the next socket.
// A connection whose socket has closed reaches nothing of the new owner's:
// its registration was taken out with it, and whatever it still asks of
// the poller (deregistering again, re-arming) fails rather than act on
// the descriptor that now belongs to another connection, which goes on
// getting its client's messages. Two things stand in the way, each
// enough alone: rearm's check that the connection is gone, and, beneath
// it, every epoll_ctl going through the closed socket's RawConn.Control,
// which refuses to run. The test holds the second, the premise (it passes
// with the first removed), and that the registrations are by token, not
// descriptor number; the race of a reader re-arming while its socket
// closes is left to the first.
func TestWebsocketPollerTellsNoConnectionOfItsDescriptorsNextOwner(t *testing.T) {
	gate := make(chan struct{})
	urlB, connsB := serveConns(t, 10*time.Second, 0, func(l net.Listener) net.Listener {
		return &gatedListener{Listener: l, gate: gate}
	})
	t.Cleanup(func() { close(gate) })

	var a, b *gorillaConn
	var clientB *websocket.Conn
	for attempt := 0; ; attempt++ {
		if attempt == 10 {
			t.Fatal("no new socket got a closed one's descriptor number in 10 attempts")
		}
		a, _ = dialConn(t, 10*time.Second)
		if !a.watch() {
			t.Skip("no poller: each connection keeps a reader")
		}
		fdA := fdOf(t, a)

		// B's client connects while A is open, so that its own socket
		// does not take A's number; the server accepts B once A's socket
		// has closed.
		type dialResult struct {
			client *websocket.Conn
			err    error
		}
		dialed, done := make(chan struct{}), make(chan dialResult, 1)
		dialer := &websocket.Dialer{
			Subprotocols: []string{protocolTransportWS},
			NetDial: func(network, addr string) (net.Conn, error) {
				defer close(dialed)
				return net.Dial(network, addr)
			},
		}
		go func() {
			client, _, err := dialer.Dial(urlB, nil)
			done <- dialResult{client, err}
		}()
		<-dialed
		a.closeSocket()
		gate <- struct{}{}
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Cleanup(func() { _ = r.client.Close() })
		clientB, b = r.client, <-connsB
		if fdOf(t, b) == fdA {
			t.Logf("descriptor %d reused at attempt %d", fdA, attempt+1)
			break
		}
	}
	if !b.watch() {
		t.Fatal("the new connection could not be registered")
	}

	// What A might still ask of the poller after its socket closed.
	if err := poller.ctl(rawConn(a.netConn), syscall.EPOLL_CTL_DEL, a.pollToken); err == nil {
		t.Error("a closed socket was deregistered again: its descriptor is another's now")
	}
	if a.rearm() {
		t.Error("a closed connection was re-armed")
	}
	poller.mu.Lock()
	_, aRegistered := poller.conns[a.pollToken]
	bRegistered := poller.conns[b.pollToken] == b
	poller.mu.Unlock()
	if aRegistered || !bRegistered || a.pollToken == b.pollToken {
		t.Fatalf("the poller holds A %v, B %v (tokens %d and %d); want B only", aRegistered, bRegistered, a.pollToken, b.pollToken)
	}

	// B is still watched: its client's ping is answered.
	if err := clientB.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	_ = clientB.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := clientB.ReadMessage(); err != nil || string(msg) != `{"type":"pong"}` {
		t.Fatalf("B's client read %q, %v; want its pong", msg, err)
	}
}

// gatedListener accepts a connection only when gate lets it.
type gatedListener struct {
	net.Listener
	gate chan struct{}
}

func (l *gatedListener) Accept() (net.Conn, error) {
	<-l.gate
	return l.Listener.Accept()
}

// fdOf returns the number of c's socket's file descriptor.
func fdOf(t *testing.T, c *gorillaConn) int {
	t.Helper()
	var fd int
	if err := rawConn(c.netConn).Control(func(d uintptr) { fd = int(d) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

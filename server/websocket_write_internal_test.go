//go:build unix

package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

// A worker's write to a subscriber's socket allocates nothing: it runs
// for every event and every subscriber.
func TestTryWriteAllocatesNothing(t *testing.T) {
	ln := listenLoopback(t)
	got := make(chan []byte, 1)
	go func() {
		peer, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer peer.Close()
		b, _ := io.ReadAll(peer)
		got <- b
	}()
	c := dialLoopback(t, ln)
	var w connWriter
	frame := []byte("a frame of an event")
	const runs = 100
	allocs := testing.AllocsPerRun(runs, func() {
		if n, err := c.tryWrite(&w.raw, frame); n != len(frame) || err != nil {
			t.Fatalf("tryWrite = %d, %v; want %d, nil", n, err, len(frame))
		}
	})
	if allocs != 0 {
		t.Errorf("tryWrite allocated %.1f times per write, want none", allocs)
	}
	c.netConn.Close()
	// AllocsPerRun runs the function once more to warm up.
	if want := bytes.Repeat(frame, runs+1); !bytes.Equal(<-got, want) {
		t.Error("the peer did not read every frame, in order, once")
	}
}

// A write to a socket closed meanwhile (the connection cut by its reader,
// say) fails rather than writing to whatever the descriptor's number
// names by then.
func TestTryWriteToAClosedSocketFails(t *testing.T) {
	c := dialLoopback(t, listenLoopback(t))
	var w connWriter
	if n, err := c.tryWrite(&w.raw, []byte("before")); n != 6 || err != nil {
		t.Fatalf("tryWrite = %d, %v; want 6, nil", n, err)
	}
	c.netConn.Close()
	if n, err := c.tryWrite(&w.raw, []byte("after")); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Errorf("tryWrite after close = %d, %v; want 0 and net.ErrClosed", n, err)
	}
}

// BenchmarkTryWrite writes a 300-byte frame to each of 2,000 loopback
// sockets in turn, as the writer workers write an event to its
// subscribers one socket after another; readers drain the peers. Most of
// its time is the system call and the readers: profile it to see
// tryWrite's own.
func BenchmarkTryWrite(b *testing.B) {
	const sockets = 2000
	ln := listenLoopback(b)
	go func() {
		for {
			peer, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer peer.Close()
				_, _ = io.Copy(io.Discard, peer)
			}()
		}
	}()
	conns := make([]*gorillaConn, sockets)
	for i := range conns {
		conns[i] = dialLoopback(b, ln)
	}
	var w connWriter
	frame := bytes.Repeat([]byte("e"), 300)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := conns[i].tryWrite(&w.raw, frame); err != nil {
			b.Fatal(err)
		}
		i = (i + 1) % sockets
	}
}

// listenLoopback listens on a free loopback port until the test ends.
func listenLoopback(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln
}

// dialLoopback returns a connection to ln, closed when the test ends, for
// tryWrite to write to.
func dialLoopback(tb testing.TB, ln net.Listener) *gorillaConn {
	tb.Helper()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return &gorillaConn{netConn: conn}
}

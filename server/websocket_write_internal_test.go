//go:build unix

package server

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// A worker's write to a subscriber's socket allocates nothing: it runs
// for every event and every subscriber.
func TestTryWriteAllocatesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
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
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := &gorillaConn{netConn: conn}
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
	conn.Close()
	// AllocsPerRun runs the function once more to warm up.
	if want := bytes.Repeat(frame, runs+1); !bytes.Equal(<-got, want) {
		t.Error("the peer did not read every frame, in order, once")
	}
}

package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Clients that do not read hold no writer: more of them than there are
// workers (maxWriters), each with a message far larger than its socket
// takes, and a client that reads still gets its message while all of
// them are waiting; each of them is cut once writeWait has passed, and
// not before.
func TestWebsocketClientsThatDoNotReadHoldUpNoOne(t *testing.T) {
	const writeWait = 5 * time.Second
	large := appendMessage(nil, nil, "ka", []byte(`"`+strings.Repeat("x", 512<<10)+`"`))
	var stuck []*gorillaConn
	for range maxWriters + 4 {
		c, _ := dialSmallConn(t, writeWait)
		stuck = append(stuck, c)
	}
	began := time.Now()
	for _, c := range stuck {
		c.send(large)
	}

	c, client := dialSmallConn(t, writeWait)
	c.send(appendMessage(nil, nil, "ping", nil))
	_ = client.SetReadDeadline(time.Now().Add(2 * writeWait))
	_, msg, err := client.ReadMessage()
	if err != nil || !bytes.Contains(msg, []byte(`"ping"`)) {
		t.Fatalf("the reading client read %q, %v; want its ping", msg, err)
	}
	for i, s := range stuck {
		if gone(s) {
			t.Fatalf("client %d that does not read was cut after %v, before the reading client got its message (writeWait %v)",
				i, time.Since(began), writeWait)
		}
	}

	for i, s := range stuck {
		for !gone(s) && time.Since(began) < writeWait+20*time.Second {
			time.Sleep(20 * time.Millisecond)
		}
		switch took := time.Since(began); {
		case !gone(s):
			t.Fatalf("client %d that does not read is still connected after %v (writeWait %v)", i, took, writeWait)
		case i == 0 && took < writeWait:
			t.Fatalf("client %d that does not read was cut after %v, before writeWait (%v)", i, took, writeWait)
		}
	}
}

// Frames go out whole and in order when the socket takes them a part at
// a time: a client that starts reading late, with a small receive
// window, reads every message queued, in the order queued, as it was.
func TestWebsocketFramesStayWholeAndInOrderThroughPartialWrites(t *testing.T) {
	const messages = 60
	c, client := dialSmallConn(t, 30*time.Second)
	payload := func(i int) string {
		return fmt.Sprintf(`"%d %s"`, i, strings.Repeat(string(rune('a'+i%26)), 500+(i*997)%5000))
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range messages {
			c.send(appendMessage(nil, nil, "ka", []byte(payload(i))))
			if i%10 == 0 {
				time.Sleep(5 * time.Millisecond) // some rounds find the writer busy, some not
			}
		}
	}()
	time.Sleep(200 * time.Millisecond) // the socket fills up
	_ = client.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i := range messages {
		_, msg, err := client.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if want := `{"type":"ka","payload":` + payload(i) + `}`; string(msg) != want {
			t.Fatalf("message %d: read %.60s… (%d bytes), want %.60s… (%d bytes)", i, msg, len(msg), want, len(want))
		}
	}
	wg.Wait()
	if gone(c) {
		t.Fatal("the connection was cut")
	}
}

// gone reports whether the server has cut c.
func gone(c *gorillaConn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gone
}

// dialSmallConn is dialConn with small socket buffers on both sides (a
// client with a tiny receive window): a large message is written a part
// at a time, as the client reads.
func dialSmallConn(t *testing.T, writeWait time.Duration) (*gorillaConn, *websocket.Conn) {
	t.Helper()
	return dialConnWithBuffers(t, writeWait, 4<<10)
}

// The client's ping and close control frames are answered in turn with
// the writer's frames, never in the middle of one: while the writer holds
// writeMu (as it does through a write the socket takes a part at a time),
// neither answer goes out; once it lets go, both do, whole.
func TestWebsocketControlFramesWaitForTheWriter(t *testing.T) {
	c, client := dialSmallConn(t, 30*time.Second)
	go func() { // the server's reader, which meets the control frames
		for {
			if _, _, err := c.ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	pongs := make(chan string, 1)
	client.SetPongHandler(func(data string) error { pongs <- data; return nil })
	clientRead := make(chan error, 1)
	go func() {
		for {
			if _, _, err := client.ReadMessage(); err != nil {
				clientRead <- err
				return
			}
		}
	}()

	c.writeMu.Lock()
	deadline := time.Now().Add(time.Second)
	if err := client.WriteControl(websocket.PingMessage, []byte("p1"), deadline); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-pongs:
		c.writeMu.Unlock()
		t.Fatalf("pong %q written while the writer held writeMu", p)
	case <-time.After(300 * time.Millisecond):
	}
	if err := client.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline); err != nil {
		c.writeMu.Unlock()
		t.Fatal(err)
	}
	select {
	case err := <-clientRead:
		c.writeMu.Unlock()
		t.Fatalf("the close was answered while the writer held writeMu: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	c.writeMu.Unlock()

	select {
	case p := <-pongs:
		if p != "p1" {
			t.Fatalf("pong %q, want p1", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong once the writer let go")
	}
	select {
	case err := <-clientRead:
		if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Fatalf("the client's read ended with %v, want the echoed 1000 close", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer to the close once the writer let go")
	}
}

// A queue that never empties stays the size of what waits in it: two
// connections taken and queued again a million times, as busy writers
// are, leave a queue of two, not of a million taken slots.
func TestWriterQueueThatNeverEmptiesDoesNotGrow(t *testing.T) {
	p := &writerPool{max: 1}
	a, b := &gorillaConn{}, &gorillaConn{}
	p.queue = append(p.queue, a, b)
	for range 1_000_000 {
		c := p.next()
		if c == nil {
			t.Fatal("the queue emptied")
		}
		p.requeue(c)
	}
	if n := len(p.queue) - p.head; n != 2 {
		t.Fatalf("%d connections wait, want 2", n)
	}
	if c := cap(p.queue); c > 4*compactAfter {
		t.Fatalf("the queue holds %d slots for 2 connections", c)
	}
	if first, second := p.next(), p.next(); first == second || first == nil || second == nil {
		t.Fatalf("took %p then %p, want both connections once", first, second)
	}
}

// The close frames gorilla writes itself, for a message over the read
// limit (1009) or a frame that breaks the protocol (1002), go out in turn
// with the writer's frames: while the writer has written a part of a
// frame and holds writeMu to write the rest, the client's bad frame comes
// in; the client then reads that frame whole, and the close after it.
func TestWebsocketGorillasClosesWaitForAFrameWrittenInParts(t *testing.T) {
	cases := []struct {
		name  string
		frame []byte // the client's
		code  int
	}{
		{
			name: "a message over the read limit",
			// A masked text frame announcing 100 KiB: gorilla refuses it
			// from its header.
			frame: append(binary.BigEndian.AppendUint64([]byte{0x81, 0x80 | 127}, 100<<10), 0, 0, 0, 0),
			code:  websocket.CloseMessageTooBig,
		},
		{
			name:  "a frame that breaks the protocol",
			frame: []byte{0x81, 0x00}, // not masked
			code:  websocket.CloseProtocolError,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, client := dialConn(t, 30*time.Second)
			readEnded := make(chan error, 1)
			go func() { // the server's reader, which meets the bad frame
				_, _, err := c.ws.ReadMessage()
				readEnded <- err
			}()

			payload := `"` + strings.Repeat("x", 100) + `"`
			frame := appendMessage(nil, nil, "ka", []byte(payload))
			c.writeMu.Lock() // a writer that has written a part of frame
			if _, err := c.netConn.Write(frame[:10]); err != nil {
				c.writeMu.Unlock()
				t.Fatal(err)
			}
			if _, err := client.NetConn().Write(tc.frame); err != nil {
				c.writeMu.Unlock()
				t.Fatal(err)
			}
			// gorilla writes its close as soon as it reads the frame: had
			// it gone straight to the socket, the server's read would end
			// now, with the close inside the frame; while it waits for
			// writeMu, the read does not end.
			select {
			case <-readEnded:
			case <-time.After(500 * time.Millisecond):
			}
			_, err := c.netConn.Write(frame[10:])
			c.writeMu.Unlock()
			if err != nil {
				t.Fatal(err)
			}

			_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, msg, err := client.ReadMessage()
			if want := `{"type":"ka","payload":` + payload + `}`; err != nil || string(msg) != want {
				t.Fatalf("read %q, %v; want the frame written in parts, whole: %s", msg, err, want)
			}
			if _, _, err := client.ReadMessage(); !websocket.IsCloseError(err, tc.code) {
				t.Fatalf("read %v after the frame, want the close %d", err, tc.code)
			}
		})
	}
}

// A worker counts its writes' events for their own server's metrics:
// when it moves to another server's connection, every countedEvery
// writes, and when it ends, never mixing two servers' counts.
func TestWritersCountEachServersEventsForIt(t *testing.T) {
	var a, b liveConns
	w := &connWriter{}
	counted := func(l *liveConns) [3]int64 {
		return [3]int64{l.eventsWritten.Load(), l.eventsShared.Load(), l.eventWrites.Load()}
	}
	w.count(&a, eventCounts{events: 2, shared: 1})
	w.count(&a, eventCounts{}) // a write of no event counts nothing
	w.count(&a, eventCounts{events: 1})
	if got := counted(&a); got != [3]int64{} {
		t.Fatalf("before the worker moved on: %v counted, want nothing yet", got)
	}
	w.count(&b, eventCounts{events: 1, shared: 1})
	if got, want := counted(&a), [3]int64{3, 1, 2}; got != want {
		t.Errorf("once it moved to another server's connection: %v counted, want %v", got, want)
	}
	for range countedEvery {
		w.count(&b, eventCounts{events: 1})
	}
	if got, want := counted(&b), [3]int64{countedEvery, 1, countedEvery}; got != want {
		t.Errorf("after %d writes: %v counted, want %v", countedEvery, got, want)
	}
	w.addCounts()
	if got, want := counted(&b), [3]int64{countedEvery + 1, 1, countedEvery + 1}; got != want {
		t.Errorf("once the worker ended: %v counted, want %v", got, want)
	}
	if got, want := counted(&a), [3]int64{3, 1, 2}; got != want {
		t.Errorf("the first server's counts moved: %v, want %v", got, want)
	}
}

// No more workers write at once than there are Ps, but for those in a
// response handler, which may wait for the database: while one waits
// there, another starts and writes the connections queued; once it is
// back, the one too many ends at its next turn, leaving the queue to the
// others.
func TestWritersAreAsManyAsPsButForThoseInAHandler(t *testing.T) {
	p := &writerPool{max: maxWriters, procs: 1, running: 1}   // this test is the one worker
	p.queue = append(p.queue, &gorillaConn{}, &gorillaConn{}) // nothing to write: flush returns at once
	if p.mayStart() {
		t.Fatal("a second worker may start beside the one on the only P")
	}
	drained := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.head == len(p.queue) && p.running == 1
	}
	p.blocking(func() {
		for deadline := time.Now().Add(5 * time.Second); !drained(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the connections queued were not written while the only worker was in a handler")
			}
		}
	})
	if p.blocked != 0 || p.running != 1 {
		t.Fatalf("after the handler: %d blocked, %d running; want 0 and 1", p.blocked, p.running)
	}

	c := &gorillaConn{}
	p.queue = append(p.queue, c)
	p.running = 2 // one started while the other was in a handler
	if got := p.next(); got != nil || p.running != 1 {
		t.Fatalf("the one too many took %p and left %d running; want none taken and 1", got, p.running)
	}
	if got := p.next(); got != c {
		t.Fatalf("the worker left took %p, want the connection queued", got)
	}
}

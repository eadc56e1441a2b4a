//go:build unix

package server

import (
	"fmt"
	"syscall"
)

// tryWrite writes as much of frames as the socket takes at once, without
// waiting and without a deadline, and returns how much it wrote; writeMu
// is held. A socket it cannot write to that way (not a plain socket) is
// written nothing, for writeRest. r is the calling worker's, reused from
// one write to the next.
//
// It writes inside RawConn.Control, which only keeps the descriptor from
// being closed meanwhile, rather than RawConn.Write, which also takes
// the runtime's write lock and readies the poller to wait for the socket
// (resetting its write readiness, checking the deadline): neither is of
// use here, where writeMu orders the writes and a write that would wait
// goes to writeRest instead, and the poller's state of 10,000 sockets,
// each touched once per event, is one cache miss more per write. A
// deadline is set only by writeFrames, for writeRest's and a close's
// writes, and cleared after them, or left on a connection that is
// closing, which is written no more.
func (c *gorillaConn) tryWrite(r *rawWrite, frames []byte) (int, error) {
	if len(frames) == 0 {
		return 0, nil
	}
	if c.raw == nil {
		sc, ok := c.netConn.(syscall.Conn)
		if !ok {
			return 0, nil
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			return 0, nil
		}
		c.raw = raw
	}
	if r.call == nil {
		r.call = r.write
	}
	r.frames, r.n, r.err = frames, 0, nil
	err := c.raw.Control(r.call)
	n, werr := r.n, r.err
	r.frames, r.err = nil, nil // the buffer is the worker's to reuse, not ours to keep
	switch {
	case err != nil:
		return n, fmt.Errorf("websocket write: %w", err)
	case werr != nil:
		return n, fmt.Errorf("websocket write: %w", werr)
	}
	return n, nil
}

// rawWrite is one tryWrite's work inside the socket's RawConn.Control: the
// frames, how much of them went out, the error that stopped it. Each
// writer worker keeps one (connWriter) with its callback bound once: a
// closure over these, made for every write, allocated for every write
// to a subscriber's socket (2.6% of the server's CPU in a profile of
// 10,000 subscribers, before the collector's share).
type rawWrite struct {
	frames []byte
	n      int
	err    error
	call   func(fd uintptr) // r.write
}

// write writes r.frames to fd until they are out or the socket is full;
// it never waits for the socket (see writeRest).
func (r *rawWrite) write(fd uintptr) {
	for r.n < len(r.frames) {
		m, err := syscall.Write(int(fd), r.frames[r.n:])
		if m > 0 {
			r.n += m
		}
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return
		case err != nil:
			r.err = err
			return
		case m <= 0:
			return
		}
	}
}

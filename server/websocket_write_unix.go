//go:build unix

package server

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// tryWrite writes as much of frames as the socket takes at once, without
// waiting and without a deadline, and returns how much it wrote; writeMu
// is held. A socket it cannot write to that way (not a plain socket, or
// past a deadline someone set) is written nothing, for writeRest. r is
// the calling worker's, reused from one write to the next.
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
	err := c.raw.Write(r.call)
	n, werr := r.n, r.err
	r.frames, r.err = nil, nil // the buffer is the worker's to reuse, not ours to keep
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, nil
	case err != nil:
		return n, fmt.Errorf("websocket write: %w", err)
	case werr != nil:
		return n, fmt.Errorf("websocket write: %w", werr)
	}
	return n, nil
}

// rawWrite is one tryWrite's work inside the socket's RawConn.Write: the
// frames, how much of them went out, the error that stopped it. Each
// writer worker keeps one (connWriter) with its callback bound once: a
// closure over these, made for every write, allocated for every write
// to a subscriber's socket (2.6% of the server's CPU in a profile of
// 10,000 subscribers, before the collector's share).
type rawWrite struct {
	frames []byte
	n      int
	err    error
	call   func(fd uintptr) bool // r.write
}

// write writes r.frames to fd until they are out or the socket is full;
// it never asks RawConn.Write to wait for the socket (see writeRest).
func (r *rawWrite) write(fd uintptr) bool {
	for r.n < len(r.frames) {
		m, err := syscall.Write(int(fd), r.frames[r.n:])
		if m > 0 {
			r.n += m
		}
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return true
		case err != nil:
			r.err = err
			return true
		case m <= 0:
			return true
		}
	}
	return true // done, or not waiting: see writeRest
}

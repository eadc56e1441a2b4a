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
// past a deadline someone set) is written nothing, for writeRest.
func (c *gorillaConn) tryWrite(frames []byte) (int, error) {
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
	var (
		n    int
		werr error
	)
	err := c.raw.Write(func(fd uintptr) bool {
		for n < len(frames) {
			m, err := syscall.Write(int(fd), frames[n:])
			if m > 0 {
				n += m
			}
			switch {
			case err == syscall.EINTR:
			case err == syscall.EAGAIN:
				return true
			case err != nil:
				werr = err
				return true
			case m <= 0:
				return true
			}
		}
		return true // done, or not waiting: see writeRest
	})
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

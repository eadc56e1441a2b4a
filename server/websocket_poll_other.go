//go:build !linux

package server

// Without epoll, every websocket keeps a goroutine of its own waiting in
// gorilla's read (gorillaConn.readLoop): these say that no connection is
// ever in a poller.

// watch reports that c needs a reader of its own.
func (c *gorillaConn) watch() bool { return false }

// rearm reports that c cannot be handed back to a poller.
func (c *gorillaConn) rearm() bool { return false }

// unwatch reports that c was not waiting in a poller; c.mu is held.
func (c *gorillaConn) unwatch() bool { return false }

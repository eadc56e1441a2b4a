//go:build linux

package server

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// wsPoller waits for the client messages of every websocket of the
// process that is between messages, in one epoll instance, on one
// goroutine (run): an idle connection keeps no goroutine of its own.
//
// Each connection is registered with EPOLLONESHOT: when its client sends
// something (or shuts its end), the poller starts one goroutine to read
// it (gorillaConn.readReady), and says nothing more about it until that
// goroutine hands it back (rearm), so that one goroutine at a time
// reads. Re-arming with EPOLL_CTL_MOD checks the socket again, so bytes
// that came in while the goroutine read are not missed.
//
// A registration carries a token of the connection's, never its file
// descriptor's number, which the kernel reuses as soon as the socket is
// closed; and every epoll_ctl on a socket goes through its
// syscall.RawConn's Control, which keeps the descriptor open while it
// runs and refuses once it is closed.
type wsPoller struct {
	epfd int

	mu    sync.Mutex
	conns map[int32]*gorillaConn // registered, by pollToken
	next  int32
}

// pollEvents is what a connection waits for: bytes to read, or its client
// gone (a read then fails, and the connection ends); once, until rearm.
// EPOLLERR and EPOLLHUP are reported without being asked for.
const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

var (
	pollerOnce sync.Once
	poller     *wsPoller // nil when epoll is not available: connections keep a reader each
)

// sharedPoller returns the process's poller, started on first use, or
// nil if it cannot be.
func sharedPoller(log *slog.Logger) *wsPoller {
	pollerOnce.Do(func() {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			log.Warn("websocket poller: epoll_create1 failed: each websocket keeps a reading goroutine", "err", err)
			return
		}
		poller = &wsPoller{epfd: fd, conns: map[int32]*gorillaConn{}}
		go poller.run()
	})
	return poller
}

// run waits for connections to become readable and starts their readers,
// for the life of the process.
func (p *wsPoller) run() {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			// EINTR, when a signal comes; nothing else is expected of a
			// valid epoll descriptor and buffer, and the registered
			// connections depend on this loop: wait, and try again.
			if !errors.Is(err, syscall.EINTR) {
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		for i := range events[:n] {
			p.mu.Lock()
			c := p.conns[events[i].Fd]
			p.mu.Unlock()
			if c != nil {
				c.readable()
			}
		}
	}
}

// add gives c a token and keeps it under that token.
func (p *wsPoller) add(c *gorillaConn) int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		p.next++
		if _, taken := p.conns[p.next]; !taken {
			p.conns[p.next] = c
			return p.next
		}
	}
}

// remove forgets the connection of token.
func (p *wsPoller) remove(token int32) {
	p.mu.Lock()
	delete(p.conns, token)
	p.mu.Unlock()
}

// ctl registers (EPOLL_CTL_ADD), re-arms (EPOLL_CTL_MOD) or deregisters
// (EPOLL_CTL_DEL) the socket of raw, unless it is closed.
func (p *wsPoller) ctl(raw syscall.RawConn, op int, token int32) error {
	ev := syscall.EpollEvent{Events: pollEvents, Fd: token}
	var err error
	if cerr := raw.Control(func(fd uintptr) {
		err = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
	}); cerr != nil {
		return cerr
	}
	return err
}

// rawConn returns conn's file descriptor access, or nil if it has none
// (a TLS connection, say).
func rawConn(conn net.Conn) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// watch registers c with the poller, to wait for its client's first
// message; it reports false when c cannot be (no poller, no file
// descriptor, a socket closed already), and needs a reader of its own.
func (c *gorillaConn) watch() bool {
	p := sharedPoller(c.log)
	raw := rawConn(c.netConn)
	if p == nil || raw == nil || c.br == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return false
	}
	token := p.add(c)
	if err := p.ctl(raw, syscall.EPOLL_CTL_ADD, token); err != nil {
		p.remove(token)
		c.log.Debug("websocket poller: register", "err", err, "remote", c.ws.RemoteAddr().String())
		return false
	}
	c.pollToken, c.polled = token, true
	return true
}

// readable is the poller's call when c's client has sent something or
// gone: a goroutine reads it, unless c has left the poller meanwhile.
func (c *gorillaConn) readable() {
	c.mu.Lock()
	start := c.polled && !c.reading
	c.reading = c.reading || start
	c.mu.Unlock()
	if start {
		go c.readReady()
	}
}

// rearm hands c back to the poller once its reader has read everything
// gorilla buffered. It reports false when c has left the poller (its
// socket is closing) or cannot be re-armed: the reader then reads on.
func (c *gorillaConn) rearm() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || !c.polled {
		return false
	}
	raw := rawConn(c.netConn)
	// Before the re-arm, under c.mu: the poller may report c as soon as
	// it is re-armed, and readable waits for c.mu.
	c.reading = false
	if err := poller.ctl(raw, syscall.EPOLL_CTL_MOD, c.pollToken); err != nil {
		c.reading, c.polled = true, false
		poller.remove(c.pollToken)
		c.log.Debug("websocket poller: re-arm", "err", err, "remote", c.ws.RemoteAddr().String())
		return false
	}
	return true
}

// unwatch takes c out of the poller before its socket is closed; c.mu is
// held. It reports whether c was waiting there, with no goroutine
// reading it, which would otherwise see the socket close.
func (c *gorillaConn) unwatch() (idle bool) {
	if !c.polled {
		return false
	}
	c.polled = false
	if raw := rawConn(c.netConn); raw != nil {
		_ = poller.ctl(raw, syscall.EPOLL_CTL_DEL, c.pollToken)
	}
	poller.remove(c.pollToken)
	return !c.reading
}

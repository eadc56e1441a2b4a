//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/gorilla/websocket"
)

// subscriberReaders read the subscribers' sockets: on Linux, an epoll
// instance per core, each waited on by one goroutine that reads its
// ready sockets in turn into one buffer.
//
// In a run on one machine the tool's 10,000 clients share the two cores
// with the server they measure. A goroutine per client, parked in the
// runtime's poller between messages (as gorilla's readers were), cost
// the tool, for every message, the runtime's poller waking, the
// goroutine being scheduled, and a second read that found nothing before
// it parked again. Here a message costs a share of an epoll_wait and the read that
// takes it. The sockets are taken out of the runtime's poller (a
// descriptor of the tool's own, the net.Conn closed), or every message
// would still wake it.
type subscriberReaders struct {
	pollers []*subscriberPoller
	next    atomic.Uint64
	stopped atomic.Bool
	wg      sync.WaitGroup
}

// subscriberPoller is one epoll instance and the subscribers registered
// in it, each under its index in subs (never its file descriptor's
// number, which the kernel reuses once a socket is closed). mu is held
// while a socket is read, so that drop never closes one under a read.
type subscriberPoller struct {
	epfd int
	mu   sync.Mutex
	subs []*subscriber // nil where a subscriber was dropped or ended
}

// pollSlot is where a subscriber is registered: its poller and index.
type pollSlot struct {
	poller *subscriberPoller
	token  int32
}

// pollWait is how long a poller waits before it looks whether it should
// stop: closing an epoll instance does not end a wait on it.
const pollWait = 100 // ms

// pollEvents is what a poller waits for: bytes, or the server gone.
// Edge-triggered: read reads until the socket is empty, and a socket is
// not polled again until more comes. (EPOLLET is negative in package
// syscall.)
const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLET&0xffffffff

func startReaders() (*subscriberReaders, error) {
	r := &subscriberReaders{}
	for range runtime.GOMAXPROCS(0) {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			r.stop()
			return nil, fmt.Errorf("epoll_create1: %w", err)
		}
		p := &subscriberPoller{epfd: fd}
		r.pollers = append(r.pollers, p)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			p.run(&r.stopped)
		}()
	}
	return r, nil
}

// add makes conn's socket s's, to write to and close, and has it read
// from now on; conn is closed.
func (r *subscriberReaders) add(s *subscriber, conn *websocket.Conn) error {
	fd, err := takeSocket(conn)
	if err != nil {
		return err
	}
	s.sock = fd
	p := r.pollers[r.next.Add(1)%uint64(len(r.pollers))]
	p.mu.Lock()
	token := int32(len(p.subs))
	p.subs = append(p.subs, s)
	s.slot = pollSlot{p, token}
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: pollEvents, Fd: token}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// takeSocket returns a descriptor of conn's socket that the runtime does
// not poll, and closes conn.
func takeSocket(conn *websocket.Conn) (fdSocket, error) {
	sc, ok := conn.NetConn().(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("a %T is not a socket", conn.NetConn())
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	dup, derr := -1, error(nil)
	if err := raw.Control(func(fd uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			derr = errno
			return
		}
		dup = int(r)
	}); err != nil || derr != nil {
		return -1, fmt.Errorf("dup: %w", errors.Join(err, derr))
	}
	conn.Close()
	return fdSocket(dup), nil
}

// drop stops reading s, which has failed, and closes its socket. It
// leaves the poller first, under the poller's lock: a descriptor closed
// while registered would be read for s (an event already waited for)
// once the kernel gave its number to another subscriber's socket.
func (r *subscriberReaders) drop(s *subscriber) {
	if p := s.slot.poller; p != nil {
		p.mu.Lock()
		if p.subs[s.slot.token] == s {
			_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(s.sock.(fdSocket)), nil)
			p.subs[s.slot.token] = nil
		}
		p.mu.Unlock()
	}
	s.close()
}

// stop ends the readers; the subscribers' sockets stay open.
func (r *subscriberReaders) stop() {
	r.stopped.Store(true)
	r.wg.Wait()
	for _, p := range r.pollers {
		_ = syscall.Close(p.epfd)
	}
}

func (p *subscriberPoller) run(stopped *atomic.Bool) {
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for !stopped.Load() {
		n, err := syscall.EpollWait(p.epfd, events, pollWait)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			panic(fmt.Sprintf("epoll_wait: %v", err)) // a valid instance and buffer: a bug
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			if s := p.subs[ev.Fd]; s != nil {
				if fd := s.sock.(fdSocket); !p.read(s, fd, buf) {
					_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
					p.subs[ev.Fd] = nil
				}
			}
			p.mu.Unlock()
		}
	}
}

// read reads what s's socket holds, and reports whether s reads on. A
// read that does not fill buf emptied the socket, as far as the
// edge-triggered instance is concerned: more makes it ready again.
func (p *subscriberPoller) read(s *subscriber, fd fdSocket, buf []byte) bool {
	for {
		n, err := syscall.Read(int(fd), buf)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return true
		case err != nil:
			return s.consume(nil, err)
		case n == 0:
			return s.consume(nil, io.EOF)
		}
		if !s.consume(buf[:n], nil) {
			return false
		}
		if n < len(buf) {
			return true
		}
	}
}

// fdSocket is a socket's descriptor, in non-blocking mode: a subscriber
// writes a few small frames, which a socket's buffer takes at once.
type fdSocket int

func (fd fdSocket) Write(b []byte) (int, error) {
	for {
		n, err := syscall.Write(int(fd), b)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		return max(n, 0), err
	}
}

func (fd fdSocket) Close() error { return syscall.Close(int(fd)) }

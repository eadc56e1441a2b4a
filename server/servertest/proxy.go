package servertest

import (
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP proxy on a loopback port, for tests of what a server
// does when its database goes away: put it between the server and
// PostgreSQL (see [Proxy.URL]), then Cut and Restore it, Stall it, or
// Hold and Release it.
// Other tests keep using PostgreSQL as usual meanwhile.
type Proxy struct {
	// Addr is the proxy's address, 127.0.0.1:<port>; it stays the same
	// across Cut and Restore.
	Addr string

	t      testing.TB
	target string

	mu     sync.Mutex
	ln     net.Listener              // nil while cut
	conns  map[net.Conn]*atomic.Bool // both ends of a connection share whether it is stalled
	closed bool
	served sync.WaitGroup
	// held, while not nil, is closed by Release: until then nothing is
	// passed on, and nothing is lost.
	held     atomic.Pointer[chan struct{}]
	accepted atomic.Int64
}

// NewProxy starts a proxy to target (host:port) and stops it when t ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("servertest: proxy: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), t: t, target: target, conns: map[net.Conn]*atomic.Bool{}}
	p.serve(ln)
	t.Cleanup(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.Cut()
		p.served.Wait()
	})
	return p
}

// PostgresProxy starts a proxy to the PostgreSQL server of dsn (a
// postgres:// URL) and returns it with dsn rewritten to go through it.
func PostgresProxy(t testing.TB, dsn string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("servertest: proxy: %v", err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	p := NewProxy(t, target)
	u.Host = p.Addr
	return p, u.String()
}

// Cut closes every connection through the proxy and stops listening, so
// that new connections are refused, as by a database server that is down.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// Stall keeps the connections through the proxy open but passes
// nothing more through them, either way, as a network that lost their
// path does (a dropped NAT mapping, a host gone without a word): neither
// end hears of it but by a timeout of its own. New connections pass.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, stalled := range p.conns {
		stalled.Store(true)
	}
}

// Hold keeps back what the connections through the proxy send, either
// way, until Release, as a slow network or a starved server does: nothing
// is lost, it only comes late.
func (p *Proxy) Hold() {
	held := make(chan struct{})
	p.held.Store(&held)
}

// Release passes on what Hold kept back, and what follows.
func (p *Proxy) Release() {
	if held := p.held.Swap(nil); held != nil {
		close(*held)
	}
}

// Accepted is how many connections the proxy has accepted so far.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Restore listens again, on the same address. It fails the test if the
// address was taken meanwhile.
func (p *Proxy) Restore() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil || p.closed {
		return
	}
	var (
		ln  net.Listener
		err error
	)
	for range 50 { // the old listener's port is released asynchronously
		if ln, err = net.Listen("tcp", p.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("servertest: proxy: listen again on %s: %v", p.Addr, err)
	}
	p.serveLocked(ln)
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serveLocked(ln)
}

func (p *Proxy) serveLocked(ln net.Listener) {
	p.ln = ln
	p.served.Add(1)
	go func() {
		defer p.served.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Cut
			}
			p.accepted.Add(1)
			p.served.Add(1)
			go func() {
				defer p.served.Done()
				p.pipe(c)
			}()
		}
	}()
}

// pipe copies between client and a new connection to the target until
// either side closes or the proxy is cut.
func (p *Proxy) pipe(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut while dialling
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	stalled := new(atomic.Bool)
	p.conns[client] = stalled
	p.conns[server] = stalled
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { p.relay(server, client, stalled); done <- struct{}{} }()
	go func() { p.relay(client, server, stalled); done <- struct{}{} }()
	<-done
	client.Close()
	server.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// relay copies from src to dst until either fails, dropping what it reads
// once stalled, and keeping it back while held.
func (p *Proxy) relay(dst, src net.Conn, stalled *atomic.Bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if held := p.held.Load(); n > 0 && held != nil {
			<-*held
		}
		if n > 0 && !stalled.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

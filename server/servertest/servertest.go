// Package servertest starts real protoloop servers for tests, the way
// net/http/httptest starts HTTP servers: a fresh database, migrated, served
// over HTTP on a loopback port, and torn down when the test ends.
//
// Tests drive the server as a frontend would, with GraphQL over real HTTP,
// and seed their data through the same API (see the fixture helpers such
// as [Server.NewUser] and [Server.NewLoop]), never by writing rows.
//
// Every API test should run on both databases protoloop supports:
//
//	func TestCreateWorkspace(t *testing.T) {
//		servertest.Run(t, func(t *testing.T, s *servertest.Server) {
//			owner := s.NewUser(t, "Olive")
//			r := s.Do(t, owner.Token, `mutation($in: CreateWorkspaceInput!) {
//				createWorkspace(input: $in) { id slug }
//			}`, map[string]any{"in": map[string]any{"name": "Acme", "slug": "acme"}})
//			var got struct{ CreateWorkspace struct{ ID, Slug string } }
//			r.RequireOK(t).Decode(t, &got)
//		})
//	}
//
// Starting a server costs a migration run, so prefer one Run per test
// function with several t.Run subtests inside its body over one Run per
// case.
//
// # Databases
//
// SQLite: a new file in t.TempDir() for every server.
//
// PostgreSQL: the database at TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable, a URL, not a
// key=value string). Every server gets its own schema, pltest_<random>,
// selected through the search_path run-time parameter, and drops it when
// the test ends, so tests never see each other's rows and can run in
// parallel. When PostgreSQL cannot be reached the postgres subtests skip,
// saying so; set PROTOLOOP_REQUIRE_POSTGRES=1 (as CI does) to make them
// fail instead.
package servertest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/storage"
)

// Backend names a database protoloop can run on.
type Backend string

// The backends a server can be started on; they are also the names of the
// subtests Run starts.
const (
	SQLite   Backend = "sqlite"
	Postgres Backend = "postgres"
)

// Backends lists every backend, in the order Run starts them.
func Backends() []Backend { return []Backend{SQLite, Postgres} }

// shutdownTimeout bounds how long a test waits at cleanup for Serve to
// return after its context is cancelled; a server that takes longer has a
// stuck request or a leaked goroutine, which is a bug worth failing on.
const shutdownTimeout = 10 * time.Second

// Server is a running protoloop server with its own fresh database.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:<port>, without a
	// trailing slash.
	URL string
	// DB is the server's database. Tests may read it directly to check
	// what the API cannot show (the events of a workspace, say), under
	// privacy.DecisionContext; they should not write through it.
	DB *storage.DB
	// Backend is the database the server runs on.
	Backend Backend

	// Logs holds what the server has logged so far.
	Logs *Buffer
	// AdminURL is the base URL of the server's admin endpoints
	// (Server.AdminHandler: /metrics, /debug/pprof/), on a listener of
	// their own.
	AdminURL string

	http      *http.Client
	transport *http.Transport
	seq       atomic.Int64 // makes fixture names, emails and slugs unique

	opts storage.Options // the database, for Restart
	cfg  server.Config
	halt func() // stops the server and closes its database, once
}

// Run runs body once per backend, as the subtests "sqlite" and
// "postgres", each against its own freshly started server.
//
// The two subtests run in parallel with each other (t.Parallel), so Run
// returns before they finish: it should be the last statement of the test
// function, and anything the caller needs to do after them belongs in a
// t.Cleanup, which runs only once both are done.
func Run(t *testing.T, body func(t *testing.T, s *Server)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			body(t, Start(t, b))
		})
	}
}

// RunWith is Run with servers started with o (see StartWith).
func RunWith(t *testing.T, o Options, body func(t *testing.T, s *Server)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			body(t, StartWith(t, b, o))
		})
	}
}

// Start starts a server on backend b with a fresh, migrated database and
// stops it when t ends. On PostgreSQL it skips t when the database is
// unreachable (see the package documentation).
//
// The server logs into a buffer that is written to the test log only if
// the test fails, so passing tests stay quiet and failing ones show what
// the server saw.
//
// Its server has no rate limits (server.Config.RateLimits is nil):
// fixtures seed data faster than any person would. Tests of the limits
// set them with StartWith.
func Start(t testing.TB, b Backend) *Server {
	t.Helper()
	return StartWith(t, b, Options{})
}

// Options adjust the server StartWith starts.
type Options struct {
	// Config configures the server, for tests that need limits, or
	// shorter intervals than the defaults. Its Logger is replaced by the
	// test's log buffer.
	Config server.Config
	// DatabaseURL, on PostgreSQL, replaces the fresh schema's URL: a test
	// that reaches the schema another way (through a proxy it can cut,
	// say) creates it with PostgresSchema and passes the URL here.
	DatabaseURL string
	// MaxConns, if set, is the size of the server's PostgreSQL pool
	// (storage.Options.MaxConns).
	MaxConns int
}

// StartWith is Start with options.
func StartWith(t testing.TB, b Backend, o Options) *Server {
	t.Helper()
	logs := &Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			if out := logs.String(); out != "" {
				t.Logf("server log (%s):\n%s", b, out)
			}
		}
	})
	cfg := o.Config
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	opts := storage.Options{DataDir: t.TempDir(), MaxConns: o.MaxConns}
	switch {
	case b == Postgres && o.DatabaseURL != "":
		opts.DatabaseURL = o.DatabaseURL
	case b == Postgres:
		opts.DatabaseURL = PostgresSchema(t)
	}
	transport := &http.Transport{
		// Concurrency tests send dozens of requests at once; let them
		// reuse connections rather than open and abandon one each.
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	s := &Server{
		Backend:   b,
		Logs:      logs,
		http:      &http.Client{Transport: transport},
		transport: transport,
		opts:      opts,
		cfg:       cfg,
	}
	s.start(t)
	return s
}

// Restart stops the server, as a deploy or a crash would stop the
// process, and starts a new one on the same database, reopened. s then
// talks to the new server, at a new URL.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.halt()
	s.start(t)
}

// start opens and migrates s's database and serves it on a new port
// until t ends or s.halt is called.
func (s *Server) start(t testing.TB) {
	t.Helper()
	b := s.Backend
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := storage.Open(ctx, s.opts)
	if err != nil {
		t.Fatalf("servertest: open %s database: %v", b, err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		t.Fatalf("servertest: migrate %s database: %v", b, err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		t.Fatalf("servertest: listen: %v", err)
	}
	srv := server.New(db, s.cfg)
	serveCtx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()

	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("servertest: listen (admin): %v", err)
	}
	admin := &http.Server{Handler: srv.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = admin.Serve(adminLn) }()

	s.URL = "http://" + ln.Addr().String()
	s.AdminURL = "http://" + adminLn.Addr().String()
	if b == Postgres {
		s.awaitIdentityCache(t)
	}
	s.DB = db
	s.halt = sync.OnceFunc(func() {
		_ = admin.Close()
		// Idle keep-alive connections would otherwise hold the graceful
		// shutdown until they time out.
		s.transport.CloseIdleConnections()
		stop()
		select {
		case err := <-served:
			if err != nil { // Serve returns nil after a clean shutdown
				t.Errorf("servertest: serve: %v", err)
			}
		case <-time.After(shutdownTimeout):
			t.Errorf("servertest: server still running %v after shutdown began", shutdownTimeout)
		}
		if err := db.Close(); err != nil {
			t.Errorf("servertest: close %s database: %v", b, err)
		}
	})
	t.Cleanup(s.halt)
}

// awaitIdentityCache waits, for a while, for the server's LISTEN connection
// to listen, and so for its cache of identities to be in use (see
// graph.IdentityCache): until then every request resolves its token with
// a statement, and statement counts would depend on how quick it was.
// A server that cannot listen (its database is cut, say) runs all the
// same: that is for the test to see.
func (s *Server) awaitIdentityCache(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := s.http.Get(s.AdminURL + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if bytes.Contains(body, []byte("\nprotoloop_identity_cache_trusted 1\n")) {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("servertest: the identity cache is still not in use after 10s")
}

// Statements returns how many SQL statements the server has run through
// its ent client so far. Compare it before and after one request to see
// what the request cost.
func (s *Server) Statements() int64 { return s.DB.Statements() }

// next returns a number unique within the server, for fixture names.
func (s *Server) next() int64 { return s.seq.Add(1) }

// Buffer is a bytes.Buffer that goroutines may write and read at once: a
// destination for a server's logs or a command's output in tests.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

var _ io.Writer = (*Buffer)(nil)

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what has been written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

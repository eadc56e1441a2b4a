// Package server is protoloop's HTTP server: the GraphQL transports,
// authentication, health checks and graceful shutdown.
//
// A request passes through, from the outside in: request logging and panic
// recovery (observe), then the router; on /graphql it meets guard, which
// notes the client's address and starts the request timeout (guard.go),
// the origin policy (CORS), the body limit, bearer-token authentication
// and gqlgen's transports, in that order, and then the document limits
// (limits.go).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"sync/atomic"
	"time"

	entdialect "entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql/playground"
	"golang.org/x/sync/semaphore"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/graph"
	"github.com/protoloop/protoloop/server/broker"
	"github.com/protoloop/protoloop/server/storage"
	"github.com/protoloop/protoloop/server/webhooks"
)

// Defaults for the Config fields left zero.
const (
	DefaultShutdownTimeout = 10 * time.Second
	DefaultMaxBodyBytes    = 1 << 20
)

// Connection limits. They bound what one slow or hostile client can hold
// on to; the hardening work makes them configurable where that proves
// useful.
const (
	readHeaderTimeout = 10 * time.Second
	// readTimeout covers the body too: 1 MiB at a slow mobile link's pace.
	readTimeout = 30 * time.Second
	// writeTimeout bounds an ordinary response. Streaming transports
	// (websockets, SSE) must lift it per connection with
	// http.ResponseController.SetWriteDeadline.
	writeTimeout   = 60 * time.Second
	idleTimeout    = 2 * time.Minute
	maxHeaderBytes = 64 << 10 // a bearer token is under 100 bytes
)

// Config configures a Server.
type Config struct {
	// Logger receives request logs and the detail of internal errors.
	// Nil means slog.Default().
	Logger *slog.Logger
	// ShutdownTimeout bounds how long Serve waits, once its context is
	// done, for requests in flight. Zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// MaxBodyBytes caps the size of a request body; a larger one gets 413.
	// Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// AllowedOrigins lists the web origins ("https://app.example.org")
	// whose pages may call the API (CORS) and open websockets here,
	// besides the server's own; "*" allows any. Clients that send no
	// Origin (anything but a browser) are always allowed.
	AllowedOrigins []string
	// Limits bound the size and shape of GraphQL documents; see Limits.
	Limits Limits
	// Production turns off introspection, the field suggestions of
	// validation errors ("Did you mean …?") and GraphiQL at /.
	Production bool
	// TrustedDocuments, when set, are the only documents the server runs
	// (over HTTP and websockets alike). Without them, clients may use
	// Automatic Persisted Queries.
	TrustedDocuments *TrustedDocuments
	// WebsocketInitTimeout is how long a websocket may stay open without
	// a connection_init before it is closed with 4408. Zero means
	// DefaultWebsocketInitTimeout.
	WebsocketInitTimeout time.Duration
	// WebsocketWriteTimeout bounds each message's write to a websocket:
	// a client that takes none for this long (it stopped reading, or its
	// network did) is disconnected, and its operations end. Zero means 10
	// seconds.
	WebsocketWriteTimeout time.Duration
	// RevalidateTokens is how often the bearer tokens of open websockets
	// and subscriptions are checked: a revoked or expired token's
	// subscriptions end and its websockets are closed with 4403. Zero
	// means broker.DefaultRevalidate (30 seconds).
	RevalidateTokens time.Duration
	// EventPoll is how often the broker looks for committed events that
	// no notification announced (and, on PostgreSQL, numbers events a
	// writer left pending). Zero means broker.DefaultPoll (1 second).
	EventPoll time.Duration
	// IdentityCache is how many bearer tokens' identities the process
	// keeps across requests (graph.IdentityCache), so that a request
	// with a token seen lately skips the statement that resolves it.
	// Zero means graph.DefaultIdentityCacheSize; negative, none.
	IdentityCache int
	// KeepAlive is how often an idle websocket or SSE stream hears from
	// the server (graphql-ws "ka", graphql-transport-ws ping, SSE
	// comment); a graphql-transport-ws client that has not answered a
	// ping by the next is closed with 1001. Zero means DefaultKeepAlive.
	KeepAlive time.Duration
	// RequestTimeout bounds a query or mutation: past it, the operation
	// is stopped and answered with TIMEOUT. It covers waiting for a
	// database connection. Zero means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// RateLimits bound what one caller may do per minute; a zero limit in
	// them is no limit. Nil means none at all, for servers that tests and
	// tools drive harder than people would: `protoloop serve` sets
	// DefaultRateLimits() unless told otherwise.
	RateLimits *RateLimits
	// TrustedProxies are the addresses of the reverse proxies in front
	// of the server, whose X-Forwarded-For is believed for the client's
	// IP address (which rate limits key on). Without any, the peer's
	// address is the client's.
	TrustedProxies []netip.Prefix
	// Webhooks configures the delivery of events to webhooks: retries,
	// timeouts, and whether private networks may be reached
	// (DenyPrivate). Its Logger defaults to Logger.
	Webhooks webhooks.Options
}

// Server serves protoloop's API over HTTP.
type Server struct {
	db      *storage.DB
	cfg     Config
	log     *slog.Logger
	handler http.Handler
	broker  *broker.Broker  // streams committed events to subscriptions
	tokens  *graph.TokenUse // when each bearer token was last used
	live    liveConns       // websockets and SSE streams, for shutdown
	metrics *metrics
	reauth  *graph.Reauthenticator
	// identities resolves bearer tokens, keeping what they resolve to.
	identities *graph.IdentityCache
	hooks      *webhooks.Worker
	// exports bounds the exports' reads at once (see exportSlots);
	// nil for a pool without a limit. exportsStreaming and exportsRefused
	// are for /metrics.
	exports          *semaphore.Weighted
	exportsStreaming atomic.Int64
	exportsRefused   atomic.Int64
}

// New returns a server for db. It does not migrate db: see storage.
func New(db *storage.DB, cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.RateLimits == nil {
		cfg.RateLimits = &RateLimits{}
	}
	if cfg.RevalidateTokens <= 0 {
		cfg.RevalidateTokens = broker.DefaultRevalidate
	}
	s := &Server{db: db, cfg: cfg, log: cfg.Logger, metrics: newMetrics()}
	if db.SQL != nil { // nil in a DB made by hand rather than by storage.Open
		if n := exportSlots(db.SQL.Stats().MaxOpenConnections); n > 0 {
			s.exports = semaphore.NewWeighted(n)
		}
	}
	if cfg.IdentityCache == 0 {
		cfg.IdentityCache = graph.DefaultIdentityCacheSize
	}
	// On PostgreSQL other processes' changes come through the broker's
	// LISTEN connection: the cache is trusted only while it listens.
	s.identities = graph.NewIdentityCache(cfg.IdentityCache, db.Dialect != entdialect.Postgres)
	s.identities.Watch(db.Client, db.Dialect)
	db.ObserveStatements(s.metrics.statements.observe)
	// What the server does besides answering requests (the broker, the
	// webhook worker, writing lastUsedAt) goes through a client of its own
	// over db's pool: those statements are no request's, and
	// db.Statements (protoloop_sql_statements_total) counts requests'.
	background := ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, db.SQL)))
	s.tokens = graph.NewTokenUse(background)
	s.reauth = graph.NewReauthenticator(background)
	if cfg.Webhooks.Logger == nil {
		cfg.Webhooks.Logger = cfg.Logger
	}
	s.broker = broker.New(background, broker.Options{
		PostgresURL: db.URL,
		Identities:  s.reauth,
		Holders:     &s.live,
		Logger:      cfg.Logger,
		Revalidate:  cfg.RevalidateTokens,
		Poll:        cfg.EventPoll,
		// Other replicas' commits reach this one's LISTEN connection.
		// (The worker, made next, publishes its events to the broker.)
		OnDeliveries: func() { s.hooks.Wake() },
		OnIdentityChanged: func(changed []gid.ID) {
			s.identities.Invalidate(changed...)
		},
		IdentityOrigin: s.identities.Origin(),
		OnListening:    s.identities.SetTrusted,
	})
	s.hooks = webhooks.New(background, db.Dialect, s.broker, cfg.Webhooks)
	// A revoked token's subscriptions end, and its websockets close, at
	// once on every replica, after one query over both's tokens;
	// RevalidateTokens' tick is the safety net.
	// Subscriptions whose identity the change names (every one, when it
	// names nothing: the LISTEN connection heard again) read it again.
	s.identities.OnInvalidate(func(changed []gid.ID) {
		s.broker.IdentitiesChanged(changed)
		if mayRevoke(changed) {
			s.broker.Recheck()
		}
	})
	s.handler = s.routes()
	return s
}

// Handler returns the server's routes: / (GraphiQL, outside production),
// /graphql, /export/{workspace}/feedback.csv and .jsonl, /healthz and
// /readyz. Anything else is 404.
func (s *Server) Handler() http.Handler { return s.handler }

// AdminHandler returns the routes for operators, to be served on a
// listener of their own that only they can reach: /metrics (Prometheus
// text format) and /debug/pprof/ (net/http/pprof). Neither is on the API's
// listener: profiles and metrics tell an attacker too much, and a CPU
// profile costs the server while it runs.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	return mux
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	if !s.cfg.Production {
		mux.Handle("GET /{$}", playground.Handler("protoloop", "/graphql"))
	}
	mux.Handle("/graphql", s.guard(s.cors(s.limitBody(s.authenticate(s.graphql())))))
	// Exports stream for as long as they take, extending their own write
	// deadline: no request timeout.
	mux.Handle("GET /export/{workspace}/{file}", s.authenticate(http.HandlerFunc(s.export)))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	return s.observe(mux)
}

// Serve serves on ln until ctx is done, then shuts down gracefully: it
// stops accepting connections and waits up to Config.ShutdownTimeout for
// requests in flight. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// Requests do not inherit ctx: when it is done they are to finish,
		// not to be cancelled.
	}
	// Shutdown neither ends websockets and SSE streams nor (websockets)
	// waits for them: they are told to reconnect as it begins.
	srv.RegisterOnShutdown(s.live.shutdown)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// The broker stops last, once the live connections are gone.
	streamCtx, stopStreaming := context.WithCancel(context.WithoutCancel(ctx))
	streamed := make(chan error, 1)
	go func() { streamed <- s.broker.Run(streamCtx) }()
	defer func() {
		stopStreaming()
		if err := <-streamed; err != nil {
			s.log.Error("broker", "err", err)
		}
	}()
	// Webhook deliveries stop after the last request: whatever it queued
	// is either sent or waits in the table for the next start.
	deliverCtx, stopDelivering := context.WithCancel(context.WithoutCancel(ctx))
	delivered := make(chan error, 1)
	go func() { delivered <- s.hooks.Run(deliverCtx) }()
	defer func() {
		stopDelivering()
		if err := <-delivered; err != nil {
			s.log.Error("webhook deliveries", "err", err)
		}
	}()
	recordCtx, stopRecording := context.WithCancel(context.WithoutCancel(ctx))
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		s.recordTokenUse(recordCtx)
	}()
	defer func() {
		// After the last request, so that its use is written too.
		stopRecording()
		<-recorded
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
		defer cancel()
		s.flushTokenUse(flushCtx)
	}()

	select {
	case err := <-served:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := errors.Join(srv.Shutdown(shutdownCtx), s.live.wait(shutdownCtx))
	if err != nil {
		// Cut off what is still running rather than hang: the operator
		// asked for the process to stop.
		_ = srv.Close()
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), serr)
	}
	if err != nil {
		return fmt.Errorf("shut down: requests still running after %s: %w", s.cfg.ShutdownTimeout, err)
	}
	return nil
}

// mayRevoke reports whether an identity change naming changed (nothing:
// anything may have changed) can have revoked a token or made it expire:
// only one that names a token or a user. Those naming only participants
// or prototypes change what a token may see, which the broker follows
// through its events, not whether the token works.
func mayRevoke(changed []gid.ID) bool {
	if len(changed) == 0 {
		return true
	}
	for _, id := range changed {
		if t := id.Type(); t == gid.AuthToken || t == gid.User {
			return true
		}
	}
	return false
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/protoloop/protoloop/graph"
	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/heapfloor"
	"github.com/protoloop/protoloop/server/storage"
	"github.com/protoloop/protoloop/server/webhooks"
)

func serveCommand() *command {
	return &command{
		name:    "serve",
		summary: "serve the GraphQL API, applying pending migrations first",
		setup: func(fs *flag.FlagSet) func(context.Context, *env) error {
			addr := fs.String("addr", "localhost:8080", "`host:port` to listen on (env PROTOLOOP_ADDR)")
			noMigrate := fs.Bool("no-migrate", false, "do not apply migrations; refuse to start if any are pending")
			admin := fs.String("admin-addr", "", "`host:port` for operators' endpoints, /metrics (Prometheus) and /debug/pprof/; off when empty. Keep it private, e.g. 127.0.0.1:9090 (env PROTOLOOP_ADMIN_ADDR)")
			var o serveOptions
			o.register(fs)
			return func(ctx context.Context, e *env) error {
				cfg, err := o.config()
				if err != nil {
					return err
				}
				e.storage.StatementTimeout = o.statementTimeout
				if o.statementTimeout == 0 {
					e.storage.StatementTimeout = -1 // none
				}
				e.storage.MaxConns = o.maxConns
				defer heapfloor.Start(uint64(o.heapFloor), gcPercent()).Stop()
				return serve(ctx, e, *addr, *admin, *noMigrate, cfg)
			}
		},
	}
}

// defaultGCPercent is the garbage collector's target when the GOGC
// environment variable does not set one: a request allocates a lot of
// short-lived memory (rows, field values, the response), and at Go's
// default of 100 the collector ran for a tenth of a large query's CPU.
// A heap allowed to grow to three times what is live rather than twice
// takes a sixth off the dashboard query's CPU time (docs/performance.md,
// "Per-field cost, cursors and the response"). GOGC set in the
// environment wins; GOMEMLIMIT bounds the heap as usual.
const defaultGCPercent = 200

// defaultHeapFloor is the least heap goal (--gc-heap-floor): with a few
// megabytes live, three times that is reached many times a second under
// load, and the collector's cycles cost a sixth of a dashboard's or a
// timeline page's CPU (docs/performance.md, "Tenth round: a floor under
// the heap goal").
const defaultHeapFloor = 128 << 20

// gcPercent is GOGC as the runtime read it from the environment, or
// defaultGCPercent when it is unset.
func gcPercent() int {
	if _, set := os.LookupEnv("GOGC"); !set {
		return defaultGCPercent
	}
	p := debug.SetGCPercent(100) // reads it; serve sets it next
	debug.SetGCPercent(p)
	return p
}

// serve runs the server until ctx is done (SIGINT or SIGTERM), then stops
// gracefully.
func serve(ctx context.Context, e *env, addr, adminAddr string, noMigrate bool, cfg server.Config) error {
	db, err := openDB(ctx, e)
	if err != nil {
		return err
	}
	defer db.Close()
	if noMigrate {
		err = requireMigrated(ctx, db)
	} else {
		_, err = migrate(ctx, e, db)
	}
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	url := "http://" + ln.Addr().String()
	attrs := []any{"version", versionString(), "graphql", url + "/graphql", "production", cfg.Production}
	if !cfg.Production {
		attrs = append(attrs, "graphiql", url+"/")
	}
	if cfg.TrustedDocuments != nil {
		attrs = append(attrs, "trusted_documents", cfg.TrustedDocuments.Len())
	}
	e.log.Info("serving", attrs...)
	cfg.Logger = e.log
	srv := server.New(db, cfg)
	if adminAddr != "" {
		stop, err := serveAdmin(e, adminAddr, srv.AdminHandler())
		if err != nil {
			_ = ln.Close()
			return err
		}
		defer stop()
	}
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	e.log.Info("stopped")
	return nil
}

// serveOptions are serve's flags for what the server allows: origins,
// environment, trusted documents, request limits, timeouts, rate limits.
type serveOptions struct {
	origins          string
	env              string
	trustedDocuments string
	maxBodyBytes     int64
	limits           server.Limits
	requestTimeout   time.Duration
	statementTimeout time.Duration
	maxConns         int
	identityCache    int
	trustedProxies   string
	rateLimits       server.RateLimits
	webhookDenyPriv  bool
	heapFloor        byteSize
}

func (o *serveOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.origins, "allow-origin", "", "comma-separated web `origins` (https://app.example.org) whose pages may call the API and open websockets here, or * for any; the server's own origin always may (env PROTOLOOP_ALLOW_ORIGINS)")
	fs.StringVar(&o.env, "env", "development", "`environment`: development, or production, which turns off introspection, field suggestions and GraphiQL (env PROTOLOOP_ENV)")
	fs.StringVar(&o.trustedDocuments, "trusted-documents", "", "JSON manifest `file` of the only GraphQL documents to run, by SHA-256 (env PROTOLOOP_TRUSTED_DOCUMENTS)")
	fs.Int64Var(&o.maxBodyBytes, "max-body-bytes", server.DefaultMaxBodyBytes, "largest request `size` in bytes (env PROTOLOOP_MAX_BODY_BYTES)")
	l := &o.limits
	for _, f := range []struct {
		v          *int
		name, what string
		def        int
	}{
		{&l.MaxTokens, "max-tokens", "tokens in a GraphQL document", server.DefaultMaxTokens},
		{&l.MaxFields, "max-fields", "fields a document selects, fragments expanded", server.DefaultMaxFields},
		{&l.MaxDirectives, "max-directives", "directives in a document", server.DefaultMaxDirectives},
		{&l.MaxDepth, "max-depth", "levels of nesting in a document", server.DefaultMaxDepth},
		{&l.MaxAliases, "max-aliases", "aliases in a document, fragments expanded", server.DefaultMaxAliases},
		{&l.MaxRootFields, "max-root-fields", "fields at the top of an operation", server.DefaultMaxRootFields},
		{&l.MaxComplexity, "max-complexity", "for the complexity of an operation, pages multiplying", server.DefaultMaxComplexity},
		{&l.MaxPageSize, "max-page-size", "rows a page of a connection may ask for (first, last)", server.DefaultMaxPageSize},
	} {
		fs.IntVar(f.v, f.name, f.def, fmt.Sprintf("at most `n` %s (env %s)", f.what, envVars[f.name]))
	}

	d := server.DefaultRateLimits()
	fs.DurationVar(&o.requestTimeout, "request-timeout", server.DefaultRequestTimeout,
		"stop a query or mutation that runs longer, answering TIMEOUT (env PROTOLOOP_REQUEST_TIMEOUT)")
	fs.DurationVar(&o.statementTimeout, "statement-timeout", storage.DefaultStatementTimeout,
		"PostgreSQL statement_timeout of the server's connections; 0 for none (env PROTOLOOP_STATEMENT_TIMEOUT)")
	fs.IntVar(&o.maxConns, "db-max-conns", storage.DefaultMaxConns(),
		"PostgreSQL connections this process may open, besides its LISTEN connection; the default is 4 per CPU the process may use, at most 20 (env PROTOLOOP_DB_MAX_CONNS)")
	fs.IntVar(&o.identityCache, "identity-cache", graph.DefaultIdentityCacheSize,
		"bearer tokens whose identities are kept across requests (30 s at most, dropped on every replica when they change); 0 for none (env PROTOLOOP_IDENTITY_CACHE)")
	fs.StringVar(&o.trustedProxies, "trusted-proxy", "",
		"comma-separated `addresses or CIDRs` of reverse proxies whose X-Forwarded-For gives the client's IP address (env PROTOLOOP_TRUSTED_PROXIES)")
	fs.IntVar(&o.rateLimits.Feedback, "rate-feedback", d.Feedback,
		"feedback writes (leaveFeedback, comments, votes, trials) per minute per token; 0 for no limit (env PROTOLOOP_RATE_FEEDBACK)")
	fs.IntVar(&o.rateLimits.GuestFeedbackPerIP, "rate-guest-feedback-ip", d.GuestFeedbackPerIP,
		"guests' feedback writes per minute per IP address; 0 for no limit (env PROTOLOOP_RATE_GUEST_FEEDBACK_IP)")
	fs.IntVar(&o.rateLimits.Redeem, "rate-redeem", d.Redeem,
		"invite redemptions per minute per IP address (per token when signed in); 0 for no limit (env PROTOLOOP_RATE_REDEEM)")
	fs.IntVar(&o.rateLimits.LogIn, "rate-login", d.LogIn,
		"logIns and signUps per minute per IP address; 0 for no limit (env PROTOLOOP_RATE_LOGIN)")
	fs.DurationVar(&o.rateLimits.LogInBackoff, "login-backoff", d.LogInBackoff,
		"first delay after repeated failed logIns for an email or IP address, doubling per failure; 0 for none (env PROTOLOOP_LOGIN_BACKOFF)")
	o.rateLimits.LogInFreeFailures = d.LogInFreeFailures

	o.heapFloor = defaultHeapFloor
	fs.Var(&o.heapFloor, "gc-heap-floor",
		"least heap `size` the garbage collector lets the heap grow to before it collects, GOGC setting the goal above it: 64MiB, 1GiB (GOMEMLIMIT's units); 0 for none (env PROTOLOOP_GC_HEAP_FLOOR)")
	fs.BoolVar(&o.webhookDenyPriv, "webhook-deny-private", false,
		"refuse to deliver webhooks to loopback, private and link-local addresses (env PROTOLOOP_WEBHOOK_DENY_PRIVATE)")
}

// config returns the server configuration the flags ask for.
func (o *serveOptions) config() (server.Config, error) {
	var production bool
	switch o.env {
	case "development":
	case "production":
		production = true
	default:
		return server.Config{}, fmt.Errorf("--env %q: want development or production", o.env)
	}
	var docs *server.TrustedDocuments
	if o.trustedDocuments != "" {
		var err error
		if docs, err = server.LoadTrustedDocuments(o.trustedDocuments); err != nil {
			return server.Config{}, err
		}
	}
	var proxies []netip.Prefix
	for _, item := range splitList(o.trustedProxies) {
		p, err := netip.ParsePrefix(item)
		if err != nil {
			a, aerr := netip.ParseAddr(item)
			if aerr != nil {
				return server.Config{}, fmt.Errorf("--trusted-proxy: %q is neither an IP address nor a CIDR", item)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		proxies = append(proxies, p.Masked())
	}
	if o.requestTimeout <= 0 {
		return server.Config{}, fmt.Errorf("--request-timeout must be positive, not %s", o.requestTimeout)
	}
	if o.identityCache < 0 {
		return server.Config{}, fmt.Errorf("--identity-cache must be 0 or more, not %d", o.identityCache)
	}
	identityCache := o.identityCache
	if identityCache == 0 {
		identityCache = -1 // server.Config's "none"
	}
	limits := o.rateLimits
	return server.Config{
		AllowedOrigins:   splitList(o.origins),
		Production:       production,
		TrustedDocuments: docs,
		MaxBodyBytes:     o.maxBodyBytes,
		Limits:           o.limits,
		RequestTimeout:   o.requestTimeout,
		RateLimits:       &limits,
		TrustedProxies:   proxies,
		Webhooks:         webhooks.Options{DenyPrivate: o.webhookDenyPriv},
		IdentityCache:    identityCache,
	}, nil
}

// serveAdmin serves the operators' endpoints on addr until stop is
// called (after the API server has stopped, so that its last moments can
// still be scraped and profiled).
func serveAdmin(e *env, addr string, h http.Handler) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen (admin): %w", err)
	}
	e.log.Info("serving admin endpoints", "metrics", "http://"+ln.Addr().String()+"/metrics",
		"pprof", "http://"+ln.Addr().String()+"/debug/pprof/")
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			e.log.Error("admin server", "err", err)
		}
	}()
	return func() {
		_ = srv.Close() // a CPU profile or trace in progress is cut short
		<-done
	}, nil
}

// splitList reads a comma-separated flag value, ignoring blanks.
func splitList(s string) []string {
	var items []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

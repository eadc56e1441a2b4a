package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/protoloop/protoloop/server"
)

func serveCommand() *command {
	return &command{
		name:    "serve",
		summary: "serve the GraphQL API, applying pending migrations first",
		setup: func(fs *flag.FlagSet) func(context.Context, *env) error {
			addr := fs.String("addr", "localhost:8080", "`host:port` to listen on (env PROTOLOOP_ADDR)")
			noMigrate := fs.Bool("no-migrate", false, "do not apply migrations; refuse to start if any are pending")
			admin := fs.String("admin-addr", "", "`host:port` for operators' endpoints, /metrics (Prometheus) and /debug/pprof/; off when empty. Keep it private, e.g. 127.0.0.1:9090 (env PROTOLOOP_ADMIN_ADDR)")
			origins := fs.String("allow-origin", "", "comma-separated web `origins` (https://app.example.org) whose pages may open websockets here, or * for any; the server's own origin always may (env PROTOLOOP_ALLOW_ORIGINS)")
			return func(ctx context.Context, e *env) error {
				return serve(ctx, e, *addr, *admin, *noMigrate, splitList(*origins))
			}
		},
	}
}

// serve runs the server until ctx is done (SIGINT or SIGTERM), then stops
// gracefully.
func serve(ctx context.Context, e *env, addr, adminAddr string, noMigrate bool, origins []string) error {
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
	e.log.Info("serving", "version", versionString(), "graphiql", url+"/", "graphql", url+"/graphql")
	srv := server.New(db, server.Config{Logger: e.log, AllowedOrigins: origins})
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

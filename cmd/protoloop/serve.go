package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strings"

	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/webhooks"
)

func serveCommand() *command {
	return &command{
		name:    "serve",
		summary: "serve the GraphQL API, applying pending migrations first",
		setup: func(fs *flag.FlagSet) func(context.Context, *env) error {
			addr := fs.String("addr", "localhost:8080", "`host:port` to listen on (env PROTOLOOP_ADDR)")
			noMigrate := fs.Bool("no-migrate", false, "do not apply migrations; refuse to start if any are pending")
			origins := fs.String("allow-origin", "", "comma-separated web `origins` (https://app.example.org) whose pages may open websockets here, or * for any; the server's own origin always may (env PROTOLOOP_ALLOW_ORIGINS)")
			denyPrivate := fs.Bool("webhook-deny-private", false, "refuse to deliver webhooks to loopback, private and link-local addresses (env PROTOLOOP_WEBHOOK_DENY_PRIVATE)")
			return func(ctx context.Context, e *env) error {
				return serve(ctx, e, *addr, *noMigrate, splitList(*origins), *denyPrivate)
			}
		},
	}
}

// serve runs the server until ctx is done (SIGINT or SIGTERM), then stops
// gracefully.
func serve(ctx context.Context, e *env, addr string, noMigrate bool, origins []string, denyPrivate bool) error {
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
	srv := server.New(db, server.Config{Logger: e.log, AllowedOrigins: origins,
		Webhooks: webhooks.Options{DenyPrivate: denyPrivate}})
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	e.log.Info("stopped")
	return nil
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

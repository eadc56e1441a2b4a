package main

import (
	"context"
	"flag"
	"fmt"
	"net"
)

func serveCommand() *command {
	return &command{
		name:    "serve",
		summary: "serve the GraphQL API, applying pending migrations first",
		setup: func(fs *flag.FlagSet) func(context.Context, *env) error {
			addr := fs.String("addr", "localhost:8080", "`host:port` to listen on (env PROTOLOOP_ADDR)")
			noMigrate := fs.Bool("no-migrate", false, "do not apply migrations; refuse to start if any are pending")
			return func(ctx context.Context, e *env) error {
				return serve(ctx, e, *addr, *noMigrate)
			}
		},
	}
}

// serve runs the server until ctx is done (SIGINT or SIGTERM), then stops
// gracefully.
func serve(ctx context.Context, e *env, addr string, noMigrate bool) error {
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
	if err := newServer(e.log, db).Serve(ctx, ln); err != nil {
		return err
	}
	e.log.Info("stopped")
	return nil
}

package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strings"

	"github.com/protoloop/protoloop/server"
)

func serveCommand() *command {
	return &command{
		name:    "serve",
		summary: "serve the GraphQL API, applying pending migrations first",
		setup: func(fs *flag.FlagSet) func(context.Context, *env) error {
			addr := fs.String("addr", "localhost:8080", "`host:port` to listen on (env PROTOLOOP_ADDR)")
			noMigrate := fs.Bool("no-migrate", false, "do not apply migrations; refuse to start if any are pending")
			origins := fs.String("allow-origin", "", "comma-separated web `origins` (https://app.example.org) whose pages may call the API and open websockets here, or * for any; the server's own origin always may (env PROTOLOOP_ALLOW_ORIGINS)")
			mode := fs.String("env", "development", "`environment`: development, or production, which turns off introspection, field suggestions and GraphiQL (env PROTOLOOP_ENV)")
			trusted := fs.String("trusted-documents", "", "JSON manifest `file` of the only GraphQL documents to run, by SHA-256 (env PROTOLOOP_TRUSTED_DOCUMENTS)")
			var cfg server.Config
			fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", server.DefaultMaxBodyBytes, "largest request `size` in bytes (env PROTOLOOP_MAX_BODY_BYTES)")
			l := &cfg.Limits
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
			return func(ctx context.Context, e *env) error {
				cfg.AllowedOrigins = splitList(*origins)
				switch *mode {
				case "development":
				case "production":
					cfg.Production = true
				default:
					return fmt.Errorf("--env %q: want development or production", *mode)
				}
				if *trusted != "" {
					docs, err := server.LoadTrustedDocuments(*trusted)
					if err != nil {
						return err
					}
					cfg.TrustedDocuments = docs
				}
				return serve(ctx, e, *addr, *noMigrate, cfg)
			}
		},
	}
}

// serve runs the server until ctx is done (SIGINT or SIGTERM), then stops
// gracefully.
func serve(ctx context.Context, e *env, addr string, noMigrate bool, cfg server.Config) error {
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

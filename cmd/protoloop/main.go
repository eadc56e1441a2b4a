// Command protoloop runs protoloop's GraphQL API and administers its
// database.
//
//	protoloop serve     serve the API (migrating first)
//	protoloop migrate   apply pending database migrations
//	protoloop seed      create a demo workspace through the API
//	protoloop export    write a workspace's feedback as CSV or JSON Lines
//	protoloop version   print the version
//
// Without DATABASE_URL it keeps its data in an embedded SQLite file, so it
// runs on a fresh machine with nothing else installed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/storage"
)

// command is one subcommand. Its setup registers its own flags and returns
// what runs it once they are parsed.
type command struct {
	name    string
	summary string
	// standalone commands take neither the storage nor the log flags.
	standalone bool
	setup      func(fs *flag.FlagSet) func(ctx context.Context, env *env) error
}

func commands() []*command {
	return []*command{serveCommand(), migrateCommand(), seedCommand(), exportCommand(), versionCommand()}
}

// env is what a command runs with: its logger, its output and the
// database it was pointed at.
type env struct {
	log     *slog.Logger
	stdout  io.Writer
	storage storage.Options
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process at once,
		// should a graceful stop hang.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run runs the command named by args and returns the process's exit code:
// 0 on success, 1 when the command failed, 2 for a usage error.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "-help" || name == "--help" {
		usage(stdout)
		return 0
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == name {
			cmd = c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "protoloop: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}

	fs := flag.NewFlagSet("protoloop "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: protoloop %s [flags]\n\n%s\n\nflags:\n", name, cmd.summary)
		fs.PrintDefaults()
	}
	var shared sharedFlags
	if !cmd.standalone {
		shared.register(fs)
	}
	runCmd := cmd.setup(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "protoloop %s: unexpected arguments %q\n", name, fs.Args())
		fs.Usage()
		return 2
	}
	if err := applyEnv(fs, getenv); err != nil {
		fmt.Fprintf(stderr, "protoloop %s: %v\n", name, err)
		return 2
	}

	e := &env{log: shared.logger(stderr), stdout: stdout, storage: shared.storage()}
	if err := runCmd(ctx, e); err != nil {
		e.log.Error(name+" failed", "err", err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprint(w, "protoloop: a GraphQL API for prototype feedback loops\n\nusage: protoloop <command> [flags]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s  %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "  help      print this help\n\nRun protoloop <command> -h for a command's flags.\n")
}

// openDB opens the database the flags name; it does not migrate.
func openDB(ctx context.Context, e *env) (*storage.DB, error) {
	db, err := storage.Open(ctx, e.storage)
	if err != nil {
		return nil, err
	}
	if e.storage.DatabaseURL != "" {
		e.log.Info("database", "dialect", db.Dialect)
	} else {
		e.log.Info("database", "dialect", db.Dialect, "data", e.storage.DataDir)
	}
	return db, nil
}

// migrate applies pending migrations, saying which.
func migrate(ctx context.Context, e *env, db *storage.DB) ([]string, error) {
	applied, err := db.Migrate(ctx)
	if err != nil {
		return applied, fmt.Errorf("migrate: %w", err)
	}
	for _, m := range applied {
		e.log.Info("applied migration", "version", m)
	}
	return applied, nil
}

// requireMigrated fails when migrations are pending, for a server told not
// to apply them: it would fail on its first query otherwise.
func requireMigrated(ctx context.Context, db *storage.DB) error {
	pending, err := db.Pending(ctx)
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if len(pending) > 0 {
		return fmt.Errorf("the database lacks %d migration(s) (%v) and --no-migrate was given: run `protoloop migrate` first, or start without --no-migrate", len(pending), pending)
	}
	return nil
}

// newServer builds the HTTP server over db.
func newServer(log *slog.Logger, db *storage.DB) *server.Server {
	return server.New(db, server.Config{Logger: log})
}

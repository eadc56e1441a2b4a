//go:build ignore

// migrate_gen writes a new versioned migration for each database when the
// ent schema no longer matches what the checked-in migrations build. It runs
// by `go generate ./...` after entc (so it sees the regenerated ent/migrate
// tables) and writes nothing when the schema did not change.
//
// It replays migrations/<dialect> on a throw-away dev database, lets Atlas
// (through ent) diff the result against the ent schema, and writes the
// difference as <version>_<name>.sql plus an updated atlas.sum. The dev
// databases are an in-memory SQLite database and a fresh schema on the
// PostgreSQL server named by PROTOLOOP_DEV_DATABASE_URL, dropped afterwards.
//
// The first migration is named "initial"; later ones "changes" unless
// named on the command line, run in server/storage:
//
//	go run migrate_gen.go -name add_feedback_tags
//
// What ent cannot declare (an expression index, an extension) goes in a
// hand-written migration instead: a file with a later version, then
//
//	go run migrate_gen.go -rehash
//
// to write atlas.sum. Its indexes are named storage.HandWrittenPrefix…, so
// that the diff leaves them alone (storage.KeepHandWritten).
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"path/filepath"

	atlas "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	_ "github.com/lib/pq"
	_ "modernc.org/sqlite"

	"github.com/protoloop/protoloop/ent/migrate"
	"github.com/protoloop/protoloop/server/storage"
)

const defaultDevURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func main() {
	name := flag.String("name", "changes", "what the new migration does, in snake_case (the first one is always \"initial\")")
	rehash := flag.Bool("rehash", false, "only rewrite atlas.sum, after adding a hand-written migration (see storage.KeepHandWritten)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("migrate_gen: ")
	if *rehash {
		for _, d := range []string{"sqlite", dialect.Postgres} {
			if err := writeSum(filepath.Join("migrations", d)); err != nil {
				log.Fatal(err)
			}
		}
		return
	}

	ctx := context.Background()
	// Both dialects' files of one run share a version, so a change reads as
	// one step in either directory.
	version := atlas.NewVersion()
	devURL := os.Getenv("PROTOLOOP_DEV_DATABASE_URL")
	if devURL == "" {
		devURL = defaultDevURL
	}
	if err := generate(ctx, dialect.SQLite, version, *name, sqliteDiff); err != nil {
		log.Fatal(err)
	}
	postgresDiff := func(ctx context.Context, opts []schema.MigrateOption, name string) error {
		return diffPostgres(ctx, devURL, opts, name)
	}
	if err := generate(ctx, dialect.Postgres, version, *name, postgresDiff); err != nil {
		log.Fatal(err)
	}
}

// differ computes the plan against one dev database and writes it, if any,
// through the options' directory and formatter.
type differ func(ctx context.Context, opts []schema.MigrateOption, name string) error

func generate(ctx context.Context, dialectName, version, name string, diff differ) error {
	dirName := dialectName
	if dialectName == dialect.SQLite {
		dirName = "sqlite" // ent calls it sqlite3 after mattn's driver
	}
	path := filepath.Join("migrations", dirName)
	if err := os.MkdirAll(path, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	dir, err := atlas.NewLocalDir(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	files, err := dir.Files()
	if err != nil {
		return fmt.Errorf("list %s: %w", path, err)
	}
	if len(files) == 0 {
		name = "initial"
	}
	opts := []schema.MigrateOption{
		schema.WithDir(dir),
		schema.WithDialect(dialectName),
		schema.WithFormatter(fixedVersion{version: version, Formatter: atlas.DefaultFormatter}),
		// Build the current state from the migration files, not from
		// whatever a database happens to hold.
		schema.WithMigrationMode(schema.ModeReplay),
		// ent leaves dropped columns and indexes alone by default, which
		// is right for auto-migration but would let the files drift from
		// the schema.
		schema.WithDropColumn(true),
		schema.WithDropIndex(true),
		// Indexes that hand-written migrations made (see storage.KeepHandWritten).
		schema.WithDiffHook(storage.KeepHandWritten),
	}
	if err := diff(ctx, opts, name); err != nil {
		return fmt.Errorf("diff %s migrations against the ent schema: %w", dirName, err)
	}
	return nil
}

// fixedVersion gives every file of a run the same version.
type fixedVersion struct {
	version string
	atlas.Formatter
}

func (f fixedVersion) Format(p *atlas.Plan) ([]atlas.File, error) {
	p.Version = f.version
	return f.Formatter.Format(p)
}

func sqliteDiff(ctx context.Context, opts []schema.MigrateOption, name string) error {
	db, err := sql.Open("sqlite", "file:dev?mode=memory&_pragma=foreign_keys(1)")
	if err != nil {
		return fmt.Errorf("open in-memory sqlite: %w", err)
	}
	defer db.Close()
	// Each connection to mode=memory has a database of its own: keep to
	// one, for good.
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	m, err := schema.NewMigrate(entsql.OpenDB(dialect.SQLite, db), opts...)
	if err != nil {
		return err
	}
	return m.NamedDiff(ctx, name, migrate.Tables...)
}

// diffPostgres works in a schema of its own: Atlas, bound to it through
// search_path, checks only that schema is clean, and the statements it
// writes name no schema, so they apply in whichever search_path a server
// uses.
func diffPostgres(ctx context.Context, devURL string, opts []schema.MigrateOption, name string) (err error) {
	admin, err := sql.Open("postgres", devURL)
	if err != nil {
		return fmt.Errorf("open dev database: %w", err)
	}
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		return fmt.Errorf("reach the dev database (set PROTOLOOP_DEV_DATABASE_URL): %w", err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("name dev schema: %w", err)
	}
	devSchema := "protoloop_dev_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA "`+devSchema+`"`); err != nil {
		return fmt.Errorf("create dev schema: %w", err)
	}
	defer func() {
		if _, derr := admin.ExecContext(context.WithoutCancel(ctx), `DROP SCHEMA "`+devSchema+`" CASCADE`); derr != nil {
			err = errors.Join(err, fmt.Errorf("drop dev schema %s: %w", devSchema, derr))
		}
	}()
	u, err := url.Parse(devURL)
	if err != nil {
		return fmt.Errorf("parse PROTOLOOP_DEV_DATABASE_URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", devSchema)
	u.RawQuery = q.Encode()
	u.Scheme = "postgres" // Atlas also knows postgresql://, ent does not
	m, err := schema.NewMigrateURL(u.String(), opts...)
	if err != nil {
		return err
	}
	return m.NamedDiff(ctx, name, migrate.Tables...)
}

// writeSum rewrites a migration directory's atlas.sum from its files.
func writeSum(path string) error {
	dir, err := atlas.NewLocalDir(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	sum, err := dir.Checksum()
	if err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	if err := atlas.WriteSumFile(dir, sum); err != nil {
		return fmt.Errorf("write %s/atlas.sum: %w", path, err)
	}
	return nil
}

package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"slices"
	"strings"
	"time"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
)

//go:generate go run migrate_gen.go

// builtinMigrations are the migrations this binary applies: migrations/postgres
// and migrations/sqlite, written by migrate_gen.go.
//
//go:embed migrations
var builtinMigrations embed.FS

var (
	// ErrMigrationsModified means the migration files do not match their
	// atlas.sum: one was edited, added or removed by hand after it was
	// generated.
	ErrMigrationsModified = errors.New("migration files do not match atlas.sum")
	// ErrNewerDatabase means the database has had migrations this binary
	// does not know: a newer protoloop has run against it.
	ErrNewerDatabase = errors.New("database was migrated by a newer protoloop")
)

// migrationsTable records the migrations a database has had.
const migrationsTable = "schema_migrations"

// migrationSQL is the SQL the runner needs, per dialect.
type migrationSQL struct {
	createTable, tableExists, isApplied, insert string
}

var migrationQueries = map[string]migrationSQL{
	dialect.Postgres: {
		createTable: `CREATE TABLE IF NOT EXISTS ` + migrationsTable + ` (version character varying NOT NULL PRIMARY KEY, applied_at timestamptz NOT NULL)`,
		tableExists: `SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = '` + migrationsTable + `')`,
		isApplied:   `SELECT COUNT(*) FROM ` + migrationsTable + ` WHERE version = $1`,
		insert:      `INSERT INTO ` + migrationsTable + ` (version, applied_at) VALUES ($1, $2)`,
	},
	dialect.SQLite: {
		createTable: `CREATE TABLE IF NOT EXISTS ` + migrationsTable + ` (version text NOT NULL PRIMARY KEY, applied_at datetime NOT NULL)`,
		tableExists: `SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '` + migrationsTable + `'`,
		isApplied:   `SELECT COUNT(*) FROM ` + migrationsTable + ` WHERE version = ?`,
		insert:      `INSERT INTO ` + migrationsTable + ` (version, applied_at) VALUES (?, ?)`,
	},
}

// migrationDir returns the directory of migrations for the dialect, from
// custom if set, else from the ones built in.
func migrationDir(custom fs.FS, dialectName string) (fs.FS, error) {
	name := dialectName
	if dialectName == dialect.SQLite {
		name = "sqlite" // ent calls the dialect sqlite3, after mattn's driver
	}
	root := custom
	if root == nil {
		root, name = builtinMigrations, "migrations/"+name
	}
	dir, err := fs.Sub(root, name)
	if err != nil {
		return nil, fmt.Errorf("open %s migrations: %w", name, err)
	}
	return dir, nil
}

// Migrate applies the migrations the database has not had yet, oldest
// first, each in a transaction of its own, and returns the versions it
// applied. Running it again, or from several processes at once, applies
// nothing twice. It refuses to run if the migration files do not match
// their atlas.sum (ErrMigrationsModified) or the database has migrations
// this binary does not know (ErrNewerDatabase). If a migration fails,
// applied holds the ones that succeeded before it.
func (db *DB) Migrate(ctx context.Context) (applied []string, err error) {
	files, err := db.migrationFiles()
	if err != nil {
		return nil, err
	}
	// Most starts find nothing to do: that is seen on a pooled connection,
	// which the server keeps, without opening the migration's own
	// connection or taking the lock (on PostgreSQL, a connection costs the
	// server a process and tens of milliseconds of start-up). If that
	// look fails (a pooled connection's statement timeout may be too short
	// even for it), or finds anything pending, the migration's connection
	// reads it again under the lock and says why it cannot go on.
	if pending, err := db.pending(ctx, files); err == nil && len(pending) == 0 {
		return nil, nil
	}
	q := migrationQueries[db.Dialect]
	// Everything runs on one connection: PostgreSQL's advisory lock and
	// SQLite's foreign_keys pragma belong to the connection.
	pool := db.SQL
	if db.Dialect == dialect.Postgres {
		// A migration may rewrite a large table, and waiting for another
		// replica's migration to finish may take as long: neither is
		// bounded by the statement timeout of requests. The connection is
		// opened without it (a SET on a pooled connection would itself be
		// bound by the timeout it lifts) and closed afterwards.
		unbounded, err := openPostgresURL(withParam(db.URL, "statement_timeout", "0"))
		if err != nil {
			return nil, fmt.Errorf("migrate postgres: %w", err)
		}
		defer unbounded.Close()
		pool = unbounded
	}
	conn, err := pool.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate %s: get a connection: %w", db.name(), err)
	}
	var discard bool
	defer func() {
		if discard {
			// The connection holds state it must not take back to the pool
			// (a lock, a pragma): close it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		_ = conn.Close()
	}()
	if db.Dialect == dialect.Postgres {
		unlock, lerr := lockSchema(ctx, conn)
		if lerr != nil {
			return nil, fmt.Errorf("migrate postgres: %w", lerr)
		}
		defer func() {
			if uerr := unlock(); uerr != nil {
				discard = true
				err = errors.Join(err, fmt.Errorf("migrate postgres: %w", uerr))
			}
		}()
	}
	if _, err := conn.ExecContext(ctx, q.createTable); err != nil {
		return nil, fmt.Errorf("migrate %s: create %s: %w", db.name(), migrationsTable, err)
	}
	done, err := appliedVersions(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", db.name(), err)
	}
	pending, err := pendingFiles(files, done)
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", db.name(), err)
	}
	for _, f := range pending {
		ok, bad, err := db.apply(ctx, conn, f)
		discard = discard || bad
		if err != nil {
			return applied, fmt.Errorf("migrate %s: apply %s: %w", db.name(), f.Name(), err)
		}
		if ok {
			applied = append(applied, f.Version())
		}
	}
	return applied, nil
}

// Pending returns the versions of the migrations the database has not had
// yet, oldest first. It fails like Migrate if the files were modified or
// the database is newer than this binary.
func (db *DB) Pending(ctx context.Context) ([]string, error) {
	files, err := db.migrationFiles()
	if err != nil {
		return nil, err
	}
	pending, err := db.pending(ctx, files)
	if err != nil {
		return nil, err
	}
	versions := make([]string, len(pending))
	for i, f := range pending {
		versions[i] = f.Version()
	}
	return versions, nil
}

// pending returns the files the database has not had, read on a pooled
// connection without the migrations' lock.
func (db *DB) pending(ctx context.Context, files []migrate.File) ([]migrate.File, error) {
	var exists bool
	if err := db.SQL.QueryRowContext(ctx, migrationQueries[db.Dialect].tableExists).Scan(&exists); err != nil {
		return nil, fmt.Errorf("pending %s migrations: look for %s: %w", db.name(), migrationsTable, err)
	}
	done := map[string]bool{}
	if exists {
		var err error
		if done, err = appliedVersions(ctx, db.SQL); err != nil {
			return nil, fmt.Errorf("pending %s migrations: %w", db.name(), err)
		}
	}
	pending, err := pendingFiles(files, done)
	if err != nil {
		return nil, fmt.Errorf("pending %s migrations: %w", db.name(), err)
	}
	return pending, nil
}

// migrationFiles reads the dialect's migration files, checks them against
// atlas.sum and returns them in version order.
func (db *DB) migrationFiles() ([]migrate.File, error) {
	entries, err := fs.ReadDir(db.migrations, ".")
	if err != nil {
		return nil, fmt.Errorf("read %s migrations: %w", db.name(), err)
	}
	dir := &migrate.MemDir{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := fs.ReadFile(db.migrations, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read %s migrations: %w", db.name(), err)
		}
		if err := dir.WriteFile(e.Name(), b); err != nil {
			return nil, fmt.Errorf("read %s migrations: %w", db.name(), err)
		}
	}
	if err := migrate.Validate(dir); err != nil {
		var ce *migrate.ChecksumError
		switch {
		case errors.As(err, &ce):
			return nil, fmt.Errorf("%s migrations: %w: %s was %s after atlas.sum was written; migrations are generated by `go generate ./server/storage`, never edited", db.name(), ErrMigrationsModified, ce.File, ce.Reason)
		case errors.Is(err, migrate.ErrChecksumNotFound):
			return nil, fmt.Errorf("%s migrations: %w: atlas.sum is missing", db.name(), ErrMigrationsModified)
		default:
			return nil, fmt.Errorf("%s migrations: %w: %w", db.name(), ErrMigrationsModified, err)
		}
	}
	files, err := dir.Files()
	if err != nil {
		return nil, fmt.Errorf("read %s migrations: %w", db.name(), err)
	}
	slices.SortStableFunc(files, func(a, b migrate.File) int { return strings.Compare(a.Version(), b.Version()) })
	for i := 1; i < len(files); i++ {
		if files[i].Version() == files[i-1].Version() {
			return nil, fmt.Errorf("%s migrations: %s and %s have the same version", db.name(), files[i-1].Name(), files[i].Name())
		}
	}
	return files, nil
}

// pendingFiles returns the files whose versions are not done, or
// ErrNewerDatabase if done has versions files does not have.
func pendingFiles(files []migrate.File, done map[string]bool) ([]migrate.File, error) {
	known := make(map[string]bool, len(files))
	var pending []migrate.File
	for _, f := range files {
		known[f.Version()] = true
		if !done[f.Version()] {
			pending = append(pending, f)
		}
	}
	var unknown []string
	for v := range done {
		if !known[v] {
			unknown = append(unknown, v)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("%w: it has had migration %s, which this binary does not know; run a protoloop at least as new as the one that migrated it", ErrNewerDatabase, strings.Join(unknown, ", "))
	}
	return pending, nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// appliedVersions returns the versions recorded in migrationsTable.
func appliedVersions(ctx context.Context, q queryer) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM `+migrationsTable)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", migrationsTable, err)
	}
	defer rows.Close()
	done := map[string]bool{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read %s: %w", migrationsTable, err)
		}
		done[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", migrationsTable, err)
	}
	return done, nil
}

// apply runs the migration f in a transaction on conn and records it. It
// reports whether it applied f (false if another process did first) and
// whether conn was left in a state it must not be reused in.
func (db *DB) apply(ctx context.Context, conn *sql.Conn, f migrate.File) (applied, discard bool, err error) {
	stmts, err := f.Stmts()
	if err != nil {
		return false, false, fmt.Errorf("split statements: %w", err)
	}
	q := migrationQueries[db.Dialect]
	if db.Dialect == dialect.SQLite {
		// SQLite changes a table by copying it into a new one and dropping
		// the old, and with foreign keys enforced that DROP would delete
		// or orphan the rows referring to it. The pragma has no effect
		// inside a transaction, so it is switched off around it, and
		// foreign_key_check below makes sure the migration broke no
		// reference. See https://sqlite.org/lang_altertable.html#otheralter.
		if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = off"); err != nil {
			return false, true, fmt.Errorf("disable foreign keys: %w", err)
		}
		defer func() {
			if _, ferr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = on"); ferr != nil {
				discard = true
				err = errors.Join(err, fmt.Errorf("enable foreign keys again: %w", ferr))
			}
		}()
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, false, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if !applied {
			_ = tx.Rollback()
		}
	}()
	// Another process may have applied f since we looked. PostgreSQL
	// migrators are serialized by lockSchema; on SQLite this transaction
	// holds the write lock from BEGIN (_txlock=immediate), so the answer
	// stays true until commit.
	var n int
	if err := tx.QueryRowContext(ctx, q.isApplied, f.Version()).Scan(&n); err != nil {
		return false, false, fmt.Errorf("check %s: %w", migrationsTable, err)
	}
	if n > 0 {
		return false, false, nil
	}
	for i, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return false, false, fmt.Errorf("statement %d (%s): %w", i+1, abbreviate(s), err)
		}
	}
	if db.Dialect == dialect.SQLite {
		if err := foreignKeyCheck(ctx, tx); err != nil {
			return false, false, err
		}
	}
	if _, err := tx.ExecContext(ctx, q.insert, f.Version(), time.Now().UTC()); err != nil {
		return false, false, fmt.Errorf("record in %s: %w", migrationsTable, err)
	}
	if err := tx.Commit(); err != nil {
		return false, false, fmt.Errorf("commit: %w", err)
	}
	return true, false, nil
}

// foreignKeyCheck fails if any row refers to a row that does not exist.
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("check foreign keys: %w", err)
	}
	defer rows.Close()
	var broken []string
	for rows.Next() {
		var (
			table, parent string
			rowid         sql.NullInt64
			fk            int
		)
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return fmt.Errorf("check foreign keys: %w", err)
		}
		if len(broken) < 5 {
			broken = append(broken, fmt.Sprintf("%s row %d refers to a missing %s", table, rowid.Int64, parent))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("check foreign keys: %w", err)
	}
	if len(broken) > 0 {
		return fmt.Errorf("the migration breaks foreign keys: %s", strings.Join(broken, "; "))
	}
	return nil
}

// lockSchema takes a session-level advisory lock on conn for migrating the
// current schema, so that replicas starting at once migrate one after the
// other, and returns the function that releases it. The lock is per
// schema: databases whose schemas are apart (tests, tenants) do not wait
// for each other.
func lockSchema(ctx context.Context, conn *sql.Conn) (unlock func() error, err error) {
	var schema sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return nil, fmt.Errorf("read current schema: %w", err)
	}
	if !schema.Valid {
		return nil, errors.New("no schema to migrate: none of the schemas in search_path exists")
	}
	h := fnv.New64a()
	h.Write([]byte("protoloop migrate " + schema.String))
	key := int64(h.Sum64())
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return nil, fmt.Errorf("lock schema %s for migration: %w", schema.String, err)
	}
	return func() error {
		var released bool
		// Release even if ctx is done: the lock outlives ctx otherwise.
		err := conn.QueryRowContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key).Scan(&released)
		switch {
		case err != nil:
			return fmt.Errorf("unlock schema %s: %w", schema.String, err)
		case !released:
			return fmt.Errorf("unlock schema %s: the lock was not held", schema.String)
		}
		return nil
	}, nil
}

// abbreviate shortens a statement for an error message.
func abbreviate(stmt string) string {
	s := []rune(strings.Join(strings.Fields(stmt), " "))
	const limit = 80
	if len(s) > limit {
		return string(s[:limit]) + "…"
	}
	return string(s)
}

package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"

	entmigrate "github.com/protoloop/protoloop/ent/migrate"
	"github.com/protoloop/protoloop/server/storage"
)

// The built-in migrations, read from the source tree (tests run in the
// package directory) to build variants of them.
var migrationsDir = os.DirFS("migrations")

func migrationsSubdir(dialectName string) string {
	if dialectName == dialect.SQLite {
		return "sqlite"
	}
	return "postgres"
}

func dialectOf(opts storage.Options) string {
	if opts.DatabaseURL != "" {
		return dialect.Postgres
	}
	return dialect.SQLite
}

// builtinVersions returns the versions of the checked-in migrations of a
// dialect, oldest first.
func builtinVersions(t *testing.T, dialectName string) []string {
	t.Helper()
	names, err := fs.Glob(migrationsDir, migrationsSubdir(dialectName)+"/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, n := range names {
		v, _, _ := strings.Cut(path.Base(n), "_")
		versions = append(versions, v)
	}
	slices.Sort(versions)
	if len(versions) == 0 {
		t.Fatalf("no %s migrations checked in", dialectName)
	}
	return versions
}

// migrationsWith returns the built-in migrations with one more, the file
// name with the content sql[dir] in the directories "postgres" and
// "sqlite", and atlas.sum updated as generation would.
func migrationsWith(t *testing.T, name string, sql map[string]string) fs.FS {
	t.Helper()
	out := fstest.MapFS{}
	for _, sub := range []string{"postgres", "sqlite"} {
		dir := &atlasmigrate.MemDir{}
		files, err := fs.ReadDir(migrationsDir, sub)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := fs.ReadFile(migrationsDir, sub+"/"+f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if err := dir.WriteFile(f.Name(), b); err != nil {
				t.Fatal(err)
			}
		}
		if content, ok := sql[sub]; ok {
			if err := dir.WriteFile(name, []byte(content)); err != nil {
				t.Fatal(err)
			}
		}
		sum, err := dir.Checksum()
		if err != nil {
			t.Fatal(err)
		}
		if err := atlasmigrate.WriteSumFile(dir, sum); err != nil {
			t.Fatal(err)
		}
		for _, f := range mustFiles(t, dir) {
			out[sub+"/"+f.Name()] = &fstest.MapFile{Data: f.Bytes()}
		}
		out[sub+"/"+atlasmigrate.HashFileName] = &fstest.MapFile{Data: mustRead(t, dir, atlasmigrate.HashFileName)}
	}
	return out
}

// both returns the same SQL for both databases.
func both(sql string) map[string]string {
	return map[string]string{"postgres": sql, "sqlite": sql}
}

func mustFiles(t *testing.T, dir atlasmigrate.Dir) []atlasmigrate.File {
	t.Helper()
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func mustRead(t *testing.T, fsys fs.FS, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// schemaDrift returns the statements that would take the database to the
// ent schema: none if the migrations built exactly the schema.
func schemaDrift(t *testing.T, db *storage.DB) []string {
	t.Helper()
	ctx := context.Background()
	out := &atlasmigrate.MemDir{}
	m, err := schema.NewMigrate(entsql.OpenDB(db.Dialect, db.SQL),
		schema.WithDir(out),
		schema.WithFormatter(atlasmigrate.DefaultFormatter),
		// As migrate_gen.go does: a column or index the schema lost is
		// drift too.
		schema.WithDropColumn(true),
		schema.WithDropIndex(true),
		schema.WithDiffHook(storage.KeepHandWritten),
	)
	if err != nil {
		t.Fatalf("ent migrate: %v", err)
	}
	if err := m.NamedDiff(ctx, "drift", entmigrate.Tables...); err != nil {
		t.Fatalf("diff the database against the ent schema: %v", err)
	}
	var stmts []string
	for _, f := range mustFiles(t, out) {
		s, err := f.Stmts()
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, s...)
	}
	// ent diffs the tables it knows of only: look for the others.
	var drv atlasmigrate.Driver
	switch db.Dialect {
	case dialect.Postgres:
		drv, err = postgres.Open(db.SQL)
	default:
		drv, err = sqlite.Open(db.SQL)
	}
	if err != nil {
		t.Fatal(err)
	}
	current, err := drv.InspectSchema(ctx, "", nil)
	if err != nil {
		t.Fatalf("inspect the database: %v", err)
	}
	known := map[string]bool{"schema_migrations": true}
	for _, table := range entmigrate.Tables {
		known[table.Name] = true
	}
	for _, table := range current.Tables {
		if !known[table.Name] {
			stmts = append(stmts, fmt.Sprintf("DROP TABLE %s -- not in the ent schema", table.Name))
		}
	}
	return stmts
}

func TestMigrationsBuildTheEntSchema(t *testing.T) {
	eachDialect(t, func(t *testing.T, opts storage.Options) {
		db := openMigrated(t, opts)
		if drift := schemaDrift(t, db); len(drift) > 0 {
			t.Errorf("the %s migrations do not build the ent schema: run `go generate ./...`. A database they built still needs:\n%s",
				db.Dialect, strings.Join(drift, "\n"))
		}
	})
}

func TestDriftCheckNoticesWhatDiffers(t *testing.T) {
	eachDialect(t, func(t *testing.T, opts storage.Options) {
		db := openMigrated(t, opts)
		ctx := context.Background()
		for _, stmt := range []string{
			"DROP INDEX event_workspace_id_seq",
			"ALTER TABLE users ADD COLUMN nickname text",
			"CREATE TABLE leftovers (id integer PRIMARY KEY)",
		} {
			if _, err := db.SQL.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		drift := strings.Join(schemaDrift(t, db), "\n")
		// SQLite drops a column by copying the table without it.
		droppedColumn := map[string]string{dialect.Postgres: `DROP COLUMN "nickname"`, dialect.SQLite: "new_users"}[db.Dialect]
		for _, want := range []string{"event_workspace_id_seq", droppedColumn, "leftovers"} {
			if !strings.Contains(drift, want) {
				t.Errorf("drift does not mention %s:\n%s", want, drift)
			}
		}
	})
}

func TestMigrateAppliesEachMigrationOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, opts storage.Options) {
		ctx := context.Background()
		all := builtinVersions(t, dialectOf(opts))
		db := open(t, opts)
		pending, err := db.Pending(ctx)
		if err != nil {
			t.Fatalf("Pending on an empty database: %v", err)
		}
		if !slices.Equal(pending, all) {
			t.Errorf("Pending on an empty database = %v, want %v", pending, all)
		}
		applied, err := db.Migrate(ctx)
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if !slices.Equal(applied, all) {
			t.Errorf("Migrate applied %v, want %v", applied, all)
		}
		if applied, err := db.Migrate(ctx); err != nil || len(applied) != 0 {
			t.Errorf("Migrate again = %v, %v; want nothing applied", applied, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		// And in a new process, as it were.
		db = open(t, opts)
		if applied, err := db.Migrate(ctx); err != nil || len(applied) != 0 {
			t.Errorf("Migrate after reopening = %v, %v; want nothing applied", applied, err)
		}
		if pending, err := db.Pending(ctx); err != nil || len(pending) != 0 {
			t.Errorf("Pending after Migrate = %v, %v; want none", pending, err)
		}
	})
}

func TestMigrateAppliesNewMigrationsOnly(t *testing.T) {
	eachDialect(t, func(t *testing.T, opts storage.Options) {
		ctx := context.Background()
		openMigrated(t, opts)
		opts.Migrations = migrationsWith(t, "29990101000000_notes.sql",
			both("-- Create \"notes\" table\nCREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL);\n"))
		db := open(t, opts)
		if pending, err := db.Pending(ctx); err != nil || !slices.Equal(pending, []string{"29990101000000"}) {
			t.Errorf("Pending = %v, %v; want the new migration only", pending, err)
		}
		applied, err := db.Migrate(ctx)
		if err != nil || !slices.Equal(applied, []string{"29990101000000"}) {
			t.Fatalf("Migrate = %v, %v; want the new migration only", applied, err)
		}
		if _, err := db.SQL.ExecContext(ctx, "INSERT INTO notes (id, body) VALUES (1, 'it ran')"); err != nil {
			t.Errorf("the new migration did not run: %v", err)
		}
	})
}

func TestAFailedMigrationLeavesNothingBehind(t *testing.T) {
	eachDialect(t, func(t *testing.T, opts storage.Options) {
		ctx := context.Background()
		openMigrated(t, opts)
		opts.Migrations = migrationsWith(t, "29990101000000_broken.sql",
			both("CREATE TABLE half_done (id integer PRIMARY KEY);\nINSERT INTO nowhere VALUES (1);\n"))
		db := open(t, opts)
		_, err := db.Migrate(ctx)
		if err == nil {
			t.Fatal("Migrate succeeded with a broken migration")
		}
		for _, want := range []string{"29990101000000_broken.sql", "statement 2", "nowhere"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Migrate error %q does not say %q", err, want)
			}
		}
		if _, err := db.SQL.ExecContext(ctx, "SELECT * FROM half_done"); err == nil {
			t.Error("the failed migration's first statement was kept")
		}
		if pending, err := db.Pending(ctx); err != nil || !slices.Equal(pending, []string{"29990101000000"}) {
			t.Errorf("Pending after the failure = %v, %v; want the broken migration", pending, err)
		}
	})
}

func TestMigrateRefusesModifiedMigrationFiles(t *testing.T) {
	tampered := fstest.MapFS{}
	if err := fs.WalkDir(migrationsDir, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b := mustRead(t, migrationsDir, p)
		if strings.HasSuffix(p, "_initial.sql") {
			b = append(b, "DROP TABLE users;\n"...)
		}
		tampered[p] = &fstest.MapFile{Data: b}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	eachDialect(t, func(t *testing.T, opts storage.Options) {
		opts.Migrations = tampered
		db := open(t, opts)
		_, err := db.Migrate(context.Background())
		if !errors.Is(err, storage.ErrMigrationsModified) {
			t.Fatalf("Migrate = %v, want ErrMigrationsModified", err)
		}
		if !strings.Contains(err.Error(), "_initial.sql was edited") {
			t.Errorf("Migrate error %q does not name the edited file", err)
		}
		if _, err := db.Pending(context.Background()); !errors.Is(err, storage.ErrMigrationsModified) {
			t.Errorf("Pending = %v, want ErrMigrationsModified", err)
		}
	})
}

func TestMigrateRefusesADatabaseANewerBinaryMigrated(t *testing.T) {
	eachDialect(t, func(t *testing.T, opts storage.Options) {
		ctx := context.Background()
		newer := opts
		newer.Migrations = migrationsWith(t, "29990101000000_future.sql",
			both("CREATE TABLE future (id integer PRIMARY KEY);\n"))
		openMigrated(t, newer)

		db := open(t, opts)
		_, err := db.Migrate(ctx)
		if !errors.Is(err, storage.ErrNewerDatabase) {
			t.Fatalf("Migrate = %v, want ErrNewerDatabase", err)
		}
		if !strings.Contains(err.Error(), "29990101000000") {
			t.Errorf("Migrate error %q does not name the unknown migration", err)
		}
		if _, err := db.Pending(ctx); !errors.Is(err, storage.ErrNewerDatabase) {
			t.Errorf("Pending = %v, want ErrNewerDatabase", err)
		}
	})
}

func TestConcurrentMigratorsApplyEachMigrationOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, opts storage.Options) {
		ctx := context.Background()
		// Replicas starting at once, each with its own pool.
		const replicas = 4
		dbs := make([]*storage.DB, replicas)
		for i := range dbs {
			dbs[i] = open(t, opts)
		}
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			all []string
		)
		for _, db := range dbs {
			wg.Go(func() {
				applied, err := db.Migrate(ctx)
				if err != nil {
					t.Errorf("Migrate: %v", err)
					return
				}
				mu.Lock()
				all = append(all, applied...)
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.Sort(all)
		if want := builtinVersions(t, dialectOf(opts)); !slices.Equal(all, want) {
			t.Errorf("the replicas applied %v between them, want each of %v once", all, want)
		}
	})
}

// A replica that finds every migration it knows applied starts at once,
// even while another replica (a newer binary) holds the migrations' lock
// for a long migration: it neither opens the migration's connection nor
// queues for the lock. Here the other replica's migration waits on a
// table the test keeps locked.
func TestAnUpToDateDatabaseDoesNotWaitForAnotherReplicasMigration(t *testing.T) {
	ctx := context.Background()
	opts := storage.Options{DatabaseURL: postgresURL(t)}
	current := openMigrated(t, opts)
	if _, err := current.SQL.ExecContext(ctx, "CREATE TABLE gate (id integer)"); err != nil {
		t.Fatal(err)
	}
	hold, err := current.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback()
	if _, err := hold.ExecContext(ctx, "LOCK TABLE gate IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}

	newer := opts
	newer.Migrations = migrationsWith(t, "29990101000000_slow.sql",
		map[string]string{"postgres": "LOCK TABLE gate IN ACCESS EXCLUSIVE MODE;\n"})
	migrating := open(t, newer)
	done := make(chan error, 1)
	go func() {
		_, err := migrating.Migrate(ctx)
		done <- err
	}()
	waitFor(t, "the newer replica's migration to wait for the gate", func() bool {
		var n int
		err := current.SQL.QueryRowContext(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
			WHERE c.relname = 'gate' AND c.relnamespace = to_regnamespace(current_schema()) AND NOT l.granted`).Scan(&n)
		return err == nil && n > 0
	})

	start, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if applied, err := open(t, opts).Migrate(start); err != nil || len(applied) != 0 {
		t.Errorf("Migrate on the up-to-date database while another replica migrates = %v, %v; want nothing to do, at once", applied, err)
	}
	select {
	case err := <-done:
		t.Fatalf("the other replica's migration ended while the gate was held: %v", err)
	default:
	}
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("the other replica's migration: %v", err)
	}
}

// waitFor polls ok until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// rebuildUsers is how Atlas changes a SQLite table in ways ALTER TABLE
// cannot (here: dropping a column users no longer has).
const rebuildUsers = `-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
CREATE TABLE ` + "`new_users`" + ` (` + "`id`" + ` integer NOT NULL, ` + "`created_at`" + ` datetime NOT NULL, ` + "`updated_at`" + ` datetime NOT NULL, ` + "`email`" + ` text NOT NULL, ` + "`name`" + ` text NOT NULL, ` + "`password_hash`" + ` text NOT NULL, PRIMARY KEY (` + "`id`" + `));
INSERT INTO new_users (id, created_at, updated_at, email, name, password_hash) SELECT id, created_at, updated_at, email, name, password_hash FROM users;
DROP TABLE users;
ALTER TABLE new_users RENAME TO users;
CREATE UNIQUE INDEX users_email_key ON users (email);
PRAGMA foreign_keys = on;
`

func TestSQLiteTableRebuildKeepsTheRowsReferringToIt(t *testing.T) {
	ctx := context.Background()
	opts := storage.Options{DataDir: t.TempDir()}
	db := openMigrated(t, opts)
	const now = "2026-01-01 00:00:00+00:00"
	for _, stmt := range []string{
		`INSERT INTO users (id, created_at, updated_at, email, name, password_hash) VALUES (1, '` + now + `', '` + now + `', 'ada@example.org', 'Ada', 'x')`,
		`INSERT INTO workspaces (id, created_at, updated_at, name, slug) VALUES (2, '` + now + `', '` + now + `', 'W', 'w')`,
		`INSERT INTO prototypes (id, created_at, updated_at, title, slug, tags, owner_id, workspace_id) VALUES (3, '` + now + `', '` + now + `', 'P', 'p', '[]', 1, 2)`,
		// participants.user_id is ON DELETE SET NULL: were foreign keys
		// enforced while the old users table is dropped, it would lose
		// its user.
		`INSERT INTO participants (id, created_at, updated_at, display_name, workspace_id, user_id, prototype_id) VALUES (4, '` + now + `', '` + now + `', 'Ada', 2, 1, 3)`,
	} {
		if _, err := db.SQL.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	opts.Migrations = migrationsWith(t, "29990101000000_rebuild_users.sql", map[string]string{"sqlite": rebuildUsers})
	db = open(t, opts)
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	var userID sql.NullInt64
	if err := db.SQL.QueryRowContext(ctx, "SELECT user_id FROM participants WHERE id = 4").Scan(&userID); err != nil {
		t.Fatal(err)
	}
	if userID.Int64 != 1 {
		t.Errorf("the participant's user_id is %v after users was rebuilt, want 1", userID)
	}
	// The connection that migrated went back to the pool: it must
	// enforce foreign keys again, like the others.
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 4 {
		c, err := db.SQL.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var on int
		if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&on); err != nil {
			t.Fatal(err)
		}
		if on != 1 {
			t.Errorf("a pooled connection has foreign_keys = %d after Migrate, want 1", on)
		}
	}
}

// The search indexes are the one thing the ent schema cannot declare, so
// the drift check leaves them alone (storage.KeepHandWritten): this makes
// sure the hand-written migration made them, and that they serve the
// query graph/search.go runs.
func TestSearchIndexesComeFromTheHandWrittenMigration(t *testing.T) {
	db := openMigrated(t, storage.Options{DatabaseURL: postgresURL(t)})
	ctx := context.Background()
	for _, index := range []string{"search_feedbacks_body", "search_comments_body"} {
		var def string
		err := db.SQL.QueryRowContext(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1`, index).Scan(&def)
		if err != nil {
			t.Fatalf("index %s: %v", index, err)
		}
		if !strings.Contains(def, "USING gin") || !strings.Contains(def, "to_tsvector('simple'::regconfig, (body)") {
			t.Errorf("index %s is %s", index, def)
		}
	}
	// With sequential scans off, the planner uses any index that serves
	// the predicate, and only one that does.
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.QueryContext(ctx, `EXPLAIN SELECT id FROM feedbacks WHERE to_tsvector('simple', body) @@ to_tsquery('simple', 'export:*')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if !strings.Contains(plan.String(), "search_feedbacks_body") {
		t.Errorf("the search query does not use the index:\n%s", plan.String())
	}
}

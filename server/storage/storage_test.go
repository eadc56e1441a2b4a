package storage_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	_ "github.com/lib/pq"

	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/user"
	"github.com/protoloop/protoloop/server/storage"
)

const defaultTestDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// postgresURL returns a URL of the test PostgreSQL server whose search_path
// is a fresh schema, dropped when the test ends. It skips the test if the
// server cannot be reached, unless PROTOLOOP_REQUIRE_POSTGRES=1.
func postgresURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		base = defaultTestDatabaseURL
	}
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatalf("open TEST_DATABASE_URL: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		msg := "PostgreSQL at TEST_DATABASE_URL (default " + defaultTestDatabaseURL + ") is unreachable: " + err.Error()
		if os.Getenv("PROTOLOOP_REQUIRE_POSTGRES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (set PROTOLOOP_REQUIRE_POSTGRES=1 to fail instead)")
	}
	schema := "storage_test_" + randomHex(t)
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA "`+schema+`"`); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), `DROP SCHEMA "`+schema+`" CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// eachDialect runs f once on SQLite and once on PostgreSQL, in parallel,
// each time with options for a fresh, empty database.
func eachDialect(t *testing.T, f func(t *testing.T, opts storage.Options)) {
	t.Helper()
	runDialects(t, true, f)
}

// eachDialectInTurn is eachDialect with the dialects one after the other,
// for tests that count allocations: nothing else may allocate meanwhile.
func eachDialectInTurn(t *testing.T, f func(t *testing.T, opts storage.Options)) {
	t.Helper()
	runDialects(t, false, f)
}

func runDialects(t *testing.T, parallel bool, f func(t *testing.T, opts storage.Options)) {
	t.Helper()
	dialects := []struct {
		name string
		opts func(t *testing.T) storage.Options
	}{
		{"sqlite", func(t *testing.T) storage.Options { return storage.Options{DataDir: t.TempDir()} }},
		{"postgres", func(t *testing.T) storage.Options { return storage.Options{DatabaseURL: postgresURL(t)} }},
	}
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			if parallel {
				t.Parallel()
			}
			f(t, d.opts(t))
		})
	}
}

// open opens the database of opts and closes it when the test ends.
func open(t *testing.T, opts storage.Options) *storage.DB {
	t.Helper()
	db, err := storage.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// openMigrated opens the database of opts and migrates it.
func openMigrated(t *testing.T, opts storage.Options) *storage.DB {
	t.Helper()
	db := open(t, opts)
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

func TestOpenPicksTheDatabase(t *testing.T) {
	eachDialect(t, func(t *testing.T, opts storage.Options) {
		db := open(t, opts)
		want := dialect.SQLite
		if opts.DatabaseURL != "" {
			want = dialect.Postgres
		}
		if db.Dialect != want {
			t.Errorf("Dialect = %q, want %q", db.Dialect, want)
		}
		if err := db.Ping(context.Background()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

func TestOpenRejectsURLsThatAreNotPostgres(t *testing.T) {
	for _, raw := range []string{
		"mysql://root:secret@localhost/protoloop",
		"sqlite:///var/lib/protoloop.db",
		"127.0.0.1:5432",
	} {
		_, err := storage.Open(context.Background(), storage.Options{DatabaseURL: raw})
		if err == nil {
			t.Errorf("Open(%q) succeeded, want an error", raw)
			continue
		}
		if !strings.Contains(err.Error(), "postgres://") {
			t.Errorf("Open(%q) = %v, want it to name postgres://", raw, err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) = %v, which shows the password", raw, err)
		}
	}
}

func TestOpenCreatesThePrivateDataDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	open(t, storage.Options{DataDir: dir})
	fi, err := os.Stat(filepath.Join(dir, storage.SQLiteFile))
	if err != nil {
		t.Fatalf("the database file was not created: %v", err)
	}
	if fi.IsDir() {
		t.Fatalf("%s is a directory", fi.Name())
	}
	if runtime.GOOS == "windows" {
		return // no Unix permission bits
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("data directory mode = %o, want 700", perm)
	}
}

// TestPostgresPoolFollowsTheCPUs opens PostgreSQL with the default pool
// under several GOMAXPROCS: four connections per CPU, at most 20, unless
// Options.MaxConns says otherwise.
func TestPostgresPoolFollowsTheCPUs(t *testing.T) {
	url := postgresURL(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, c := range []struct{ procs, maxConns, want int }{
		{procs: 1, want: 4},
		{procs: 2, want: 8},
		{procs: 5, want: 20},
		{procs: 16, want: 20},
		{procs: 2, maxConns: 3, want: 3},
		{procs: 16, maxConns: 40, want: 40},
	} {
		runtime.GOMAXPROCS(c.procs)
		db := open(t, storage.Options{DatabaseURL: url, MaxConns: c.maxConns})
		if got := db.SQL.Stats().MaxOpenConnections; got != c.want {
			t.Errorf("GOMAXPROCS %d, MaxConns %d: a pool of %d connections, want %d", c.procs, c.maxConns, got, c.want)
		}
	}
}

func TestSQLiteFileMayHaveAnyPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "with space, ?query #hash & 100%")
	db := openMigrated(t, storage.Options{DataDir: dir})
	if _, err := os.Stat(filepath.Join(dir, storage.SQLiteFile)); err != nil {
		t.Fatalf("the database is not where it was asked to be: %v", err)
	}
	if pending, err := db.Pending(context.Background()); err != nil || len(pending) != 0 {
		t.Fatalf("Pending = %v, %v; want none", pending, err)
	}
}

func TestSQLiteConnectionsHaveTheirPragmas(t *testing.T) {
	db := open(t, storage.Options{DataDir: t.TempDir()})
	ctx := context.Background()
	// Hold several connections at once, so that each pragma is seen on
	// more than the one connection the pool would otherwise reuse.
	var conns []*sql.Conn
	for range 3 {
		c, err := db.SQL.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		for pragma, want := range map[string]string{
			"foreign_keys": "1",
			"journal_mode": "wal",
			"busy_timeout": "10000",
			"synchronous":  "2", // FULL
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("connection %d: PRAGMA %s: %v", i, pragma, err)
			}
			if got != want {
				t.Errorf("connection %d: PRAGMA %s = %s, want %s", i, pragma, got, want)
			}
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestSQLiteTransactionsTakeTheWriteLockAtBegin(t *testing.T) {
	db := openMigrated(t, storage.Options{DataDir: t.TempDir()})
	ctx := context.Background()
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// The transaction has not written, nor even read. Had BEGIN been
	// deferred it would hold no lock yet, and this write would succeed.
	other, err := db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		t.Fatal(err)
	}
	_, err = other.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES ('1', '2000-01-01')")
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("write beside an open transaction = %v, want database is locked", err)
	}
	// Leave the connection as the pool expects it.
	if _, err := other.ExecContext(ctx, "PRAGMA busy_timeout = 10000"); err != nil {
		t.Fatal(err)
	}
}

func TestPostgresURLChoosesTheSchema(t *testing.T) {
	u := postgresURL(t)
	db := openMigrated(t, storage.Options{DatabaseURL: u})
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	schema := parsed.Query().Get("search_path")
	ctx := context.Background()
	// Ask on several connections at once: search_path must be set on
	// each, not on the first only.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			tx, err := db.SQL.BeginTx(ctx, nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer tx.Rollback()
			var got string
			if err := tx.QueryRowContext(ctx, "SELECT current_schema()").Scan(&got); err != nil {
				t.Error(err)
				return
			}
			if got != schema {
				t.Errorf("current_schema() = %q, want %q", got, schema)
			}
		})
	}
	wg.Wait()
	var found bool
	if err := db.SQL.QueryRowContext(ctx, "SELECT to_regclass($1) IS NOT NULL", `"`+schema+`".users`).Scan(&found); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Errorf("the migrations did not create users in schema %s", schema)
	}
}

func TestStatementsCountsWhatTheClientRuns(t *testing.T) {
	eachDialect(t, func(t *testing.T, opts storage.Options) {
		db := openMigrated(t, opts)
		// User reads and writes are the server's own business in ent's
		// privacy rules: act as the server.
		ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
		step := func(what string, want int64, f func() error) {
			t.Helper()
			before := db.Statements()
			if err := f(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if got := db.Statements() - before; got != want {
				t.Errorf("%s ran %d statements by the count, want %d", what, got, want)
			}
		}
		step("a query", 1, func() error {
			_, err := db.Client.User.Query().Count(ctx)
			return err
		})
		step("a raw query", 1, func() error {
			rows, err := db.Client.QueryContext(ctx, "SELECT 1")
			if err != nil {
				return err
			}
			return rows.Close()
		})
		step("a raw statement", 1, func() error {
			_, err := db.Client.ExecContext(ctx, "UPDATE users SET name = name WHERE 1 = 0")
			return err
		})
		step("a transaction creating a user and reading it back", 2, func() error {
			tx, err := db.Client.Tx(ctx)
			if err != nil {
				return err
			}
			u, err := tx.User.Create().SetEmail("ada@example.org").SetName("Ada").SetPasswordHash("x").Save(ctx)
			if err != nil {
				return err
			}
			if _, err := tx.User.Get(ctx, u.ID); err != nil {
				return err
			}
			return tx.Commit()
		})
		step("raw statements in a transaction", 2, func() error {
			tx, err := db.Client.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE users SET name = name WHERE 1 = 0"); err != nil {
				return err
			}
			rows, err := tx.QueryContext(ctx, "SELECT 1")
			if err != nil {
				return err
			}
			if err := rows.Close(); err != nil {
				return err
			}
			return tx.Rollback()
		})
		step("two statements on a held connection", 2, func() error {
			conn, err := db.Conn(ctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			for range 2 {
				if _, err := conn.ExecContext(ctx, "UPDATE users SET name = name WHERE 1 = 0"); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

func TestTimesRoundTrip(t *testing.T) {
	eachDialect(t, func(t *testing.T, opts storage.Options) {
		db := openMigrated(t, opts)
		ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
		// Fractions of a second and a zone other than UTC: what SQLite
		// stores as text has to read back as the same instant, and order
		// as time does. (PostgreSQL keeps microseconds, SQLite more.)
		zone := time.FixedZone("UTC+5", 5*3600)
		early := time.Date(2026, 3, 1, 12, 0, 0, 123456000, zone) // 07:00 UTC
		late := time.Date(2026, 3, 1, 8, 0, 0, 5000, time.UTC)    // an hour after early
		for i, at := range []time.Time{late, early} {
			_, err := db.Client.User.Create().
				SetEmail([]string{"late@example.org", "early@example.org"}[i]).
				SetName("x").SetPasswordHash("x").SetCreatedAt(at).
				Save(ctx)
			if err != nil {
				t.Fatalf("create user: %v", err)
			}
		}
		users, err := db.Client.User.Query().Order(user.ByCreatedAt()).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 2 || users[0].Email != "early@example.org" {
			t.Fatalf("users by created_at = %v, want early then late", users)
		}
		if !users[0].CreatedAt.Equal(early) || !users[1].CreatedAt.Equal(late) {
			t.Errorf("created_at read back as %v and %v, want %v and %v", users[0].CreatedAt, users[1].CreatedAt, early, late)
		}
		n, err := db.Client.User.Query().Where(user.CreatedAtGT(early)).Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%d users created after early, want 1", n)
		}
	})
}

func TestDefaultDataDirFollowsXDG(t *testing.T) {
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "android", "plan9", "js", "wasip1":
		t.Skipf("XDG directories do not apply on %s", runtime.GOOS)
	}
	t.Setenv("HOME", "/home/tester")
	for _, tc := range []struct{ name, xdg, want string }{
		{"an absolute XDG_DATA_HOME is used", "/srv/data", "/srv/data/protoloop"},
		{"without XDG_DATA_HOME the home directory is used", "", "/home/tester/.local/share/protoloop"},
		{"a relative XDG_DATA_HOME is ignored, as the spec says", "data", "/home/tester/.local/share/protoloop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("XDG_DATA_HOME", tc.xdg)
			if got := storage.DefaultDataDir(); got != tc.want {
				t.Errorf("DefaultDataDir() = %q, want %q", got, tc.want)
			}
		})
	}
}

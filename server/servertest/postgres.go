package servertest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq" // the PostgreSQL driver, for creating and dropping test schemas
)

// DefaultPostgresURL is the database tests use when TEST_DATABASE_URL is
// not set: a local PostgreSQL with trust authentication, as in CI.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Environment variables the package reads.
const (
	// EnvDatabaseURL names the PostgreSQL database tests create their
	// schemas in.
	EnvDatabaseURL = "TEST_DATABASE_URL"
	// EnvRequirePostgres, set to 1, turns "PostgreSQL is unreachable"
	// from a skip into a failure, so CI cannot pass by testing SQLite only.
	EnvRequirePostgres = "PROTOLOOP_REQUIRE_POSTGRES"
)

// PostgresURL returns the URL of the PostgreSQL database tests use.
func PostgresURL() string {
	if u := os.Getenv(EnvDatabaseURL); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// probePostgres checks once per test binary whether PostgreSQL answers, so
// that a machine without it pays one connection timeout, not one per test.
var probePostgres = sync.OnceValue(func() error {
	db, err := sql.Open("postgres", PostgresURL())
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
})

// RequirePostgres skips t, or fails it under PROTOLOOP_REQUIRE_POSTGRES=1,
// when the PostgreSQL database at PostgresURL cannot be reached.
func RequirePostgres(t testing.TB) {
	t.Helper()
	err := probePostgres()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("PostgreSQL at %s unreachable: %v; set %s, or %s=1 to fail instead",
		redact(PostgresURL()), err, EnvDatabaseURL, EnvRequirePostgres)
	if os.Getenv(EnvRequirePostgres) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// PostgresSchema creates an empty schema pltest_<random> in the test
// database and returns a URL whose connections use it (through the
// search_path run-time parameter, which lib/pq passes on). The schema is
// dropped, with everything in it, when t ends. It skips t like
// RequirePostgres when PostgreSQL is unreachable.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	RequirePostgres(t)

	base := PostgresURL()
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("servertest: %s must be a postgres:// URL, got %q", EnvDatabaseURL, redact(base))
	}
	var random [6]byte
	if _, err := rand.Read(random[:]); err != nil {
		t.Fatalf("servertest: %v", err)
	}
	schema := "pltest_" + hex.EncodeToString(random[:])

	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatalf("servertest: open %s: %v", redact(base), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("servertest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("servertest: drop schema %s: %v", schema, err)
		}
	})

	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// redact hides a password in a database URL meant for a message.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// NamedSchemaURL returns the URL of s's PostgreSQL schema whose
// connections carry a fresh application_name starting with prefix, so
// that a test can find them in pg_stat_activity among other tests' (to
// kill a LISTEN connection, say). It returns the URL and the name.
func NamedSchemaURL(t testing.TB, s *Server, prefix string) (dsn, appName string) {
	t.Helper()
	var schema string
	if err := s.DB.SQL.QueryRow("SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatalf("servertest: read the current schema: %v", err)
	}
	var random [4]byte
	_, _ = rand.Read(random[:])
	appName = prefix + hex.EncodeToString(random[:])
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	return u.String(), appName
}

package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"time"
)

// PostgreSQL connection pool limits, per server process.
//
// A statement needs CPU on both sides: PostgreSQL's to run it, the
// server's to build it and read its rows. Connections beyond a few per
// core add no throughput, only backends competing for the cores: on two
// cores, with PostgreSQL on the same machine, a pool of 20 made
// PostgreSQL spend a third more CPU per statement than a pool of 8, and
// every read and write slower (docs/performance.md, "Fourteenth round:
// a pool sized to the cores"). So the pool has four connections per CPU
// the process may use (GOMAXPROCS, which follows a container's CPU
// limit), at most 20: PostgreSQL allows 100 connections by default, each
// a server process with its own memory, shared by every replica, by each
// replica's LISTEN connection (which lib/pq opens outside this pool) and
// by the operator's psql; 20 per process leaves room for four replicas.
// A larger database server may serve more: --db-max-conns sets the pool.
// A mutation holds its connection for its whole transaction, so the
// limit also bounds how many mutations run at once; the rest wait their
// turn, in order (see queue).
//
// A request waits for a connection no longer than its own deadline (the
// server's request timeout): database/sql takes the wait from the
// statement's context.
const (
	connsPerCPU     = 4
	maxDefaultConns = 20
	// As many idle as open, so that a burst does not pay for new
	// connections (TCP, TLS and authentication) on every request; and the ones a burst left behind are given back to the server
	// once things are quiet.
	pgConnMaxIdleTime = 5 * time.Minute
	// Recycling connections now and then moves them to a new primary or a
	// new pgbouncer after a failover or a DNS change, and returns the
	// memory a long-lived backend accumulates.
	pgConnMaxLifetime = 30 * time.Minute
)

// DefaultMaxConns is the size of the pool unless Options.MaxConns sets it:
// connsPerCPU for each CPU the process may use, at most maxDefaultConns.
func DefaultMaxConns() int {
	return min(connsPerCPU*runtime.GOMAXPROCS(0), maxDefaultConns)
}

// Connection parameters protoloop sets unless the URL sets them.
const (
	// DefaultStatementTimeout bounds a statement that runs away (a
	// missing index on a table that has grown, a lock held by a stuck
	// session) well before the HTTP request around it gives up, so that
	// it does not keep a connection busy for nobody.
	DefaultStatementTimeout = 10 * time.Second
	// pgConnectTimeout bounds connecting to a server that does not answer
	// at all (packets dropped rather than refused), in seconds, as lib/pq
	// reads connect_timeout.
	pgConnectTimeout = "5"
)

// openPostgres opens the database at opts.DatabaseURL, a postgres:// or
// postgresql:// URL, and returns it with the URL its connections use.
// Parameters lib/pq does not know, such as search_path and
// statement_timeout, are sent to the server as run-time parameters of
// every connection.
func openPostgres(ctx context.Context, opts Options) (*sql.DB, string, error) {
	u, err := url.Parse(opts.DatabaseURL)
	if err != nil || u.Scheme == "" {
		// url.Parse's error would repeat the URL, password and all.
		return nil, "", errors.New("DATABASE_URL is not a URL: want postgres://user:password@host:5432/database?sslmode=…")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, "", fmt.Errorf("DATABASE_URL has scheme %q: protoloop speaks PostgreSQL only, at a postgres:// or postgresql:// URL (leave DATABASE_URL unset for the embedded SQLite database)", u.Scheme)
	}
	q := u.Query()
	if !q.Has("statement_timeout") {
		timeout := opts.StatementTimeout
		if timeout == 0 {
			timeout = DefaultStatementTimeout
		}
		q.Set("statement_timeout", strconv.FormatInt(max(timeout.Milliseconds(), 0), 10))
	}
	if !q.Has("connect_timeout") {
		q.Set("connect_timeout", pgConnectTimeout)
	}
	u.RawQuery = q.Encode()
	dsn := u.String()
	db, err := openPostgresURL(dsn)
	if err != nil {
		return nil, "", err
	}
	conns := opts.MaxConns
	if conns <= 0 {
		conns = DefaultMaxConns()
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(pgConnMaxIdleTime)
	db.SetConnMaxLifetime(pgConnMaxLifetime)
	if err := db.PingContext(ctx); err != nil {
		return nil, "", errors.Join(fmt.Errorf("open postgres %s: %w", u.Redacted(), err), db.Close())
	}
	return db, dsn, nil
}

// openPostgresURL returns a pool of connections to the database at dsn, a
// URL with the parameters openPostgres added, without connecting yet.
func openPostgresURL(dsn string) (*sql.DB, error) {
	connector, err := NewPostgresConnector(dsn)
	if err != nil {
		redacted := "(unparsable URL)"
		if u, uerr := url.Parse(dsn); uerr == nil {
			redacted = u.Redacted()
		}
		return nil, fmt.Errorf("open postgres %s: %w", redacted, err)
	}
	return sql.OpenDB(connector), nil
}

// withParam returns dsn, a URL, with its query parameter name set to value.
func withParam(dsn, name, value string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn // openPostgres parsed it: cannot happen
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

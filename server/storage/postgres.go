package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "github.com/lib/pq" // registers the "postgres" driver
)

// PostgreSQL connection pool limits, per server process.
//
// PostgreSQL allows 100 connections by default, each a server process
// with its own memory; they have to be shared by every replica, by each
// replica's LISTEN connection (which lib/pq opens outside this pool) and
// by the operator's psql. 20 per process leaves room for four replicas. A
// mutation holds its connection for its whole transaction, so the limit
// also bounds how many mutations run at once; the rest wait their turn.
const (
	pgMaxOpenConns = 20
	// As many idle as open, so that a burst does not pay for new
	// connections (TCP, TLS and authentication) on every request ...
	pgMaxIdleConns = pgMaxOpenConns
	// ... and the ones a burst left behind are given back to the server
	// once things are quiet.
	pgConnMaxIdleTime = 5 * time.Minute
	// Recycling connections now and then moves them to a new primary or a
	// new pgbouncer after a failover or a DNS change, and returns the
	// memory a long-lived backend accumulates.
	pgConnMaxLifetime = 30 * time.Minute
)

// openPostgres opens the database at a postgres:// or postgresql:// URL.
// Parameters lib/pq does not know, such as search_path, are sent to the
// server as run-time parameters of every connection.
func openPostgres(ctx context.Context, rawURL string) (*sql.DB, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		// url.Parse's error would repeat the URL, password and all.
		return nil, errors.New("DATABASE_URL is not a URL: want postgres://user:password@host:5432/database?sslmode=…")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("DATABASE_URL has scheme %q: protoloop speaks PostgreSQL only, at a postgres:// or postgresql:// URL (leave DATABASE_URL unset for the embedded SQLite database)", u.Scheme)
	}
	db, err := sql.Open("postgres", rawURL)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", u.Redacted(), err)
	}
	db.SetMaxOpenConns(pgMaxOpenConns)
	db.SetMaxIdleConns(pgMaxIdleConns)
	db.SetConnMaxIdleTime(pgConnMaxIdleTime)
	db.SetConnMaxLifetime(pgConnMaxLifetime)
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open postgres %s: %w", u.Redacted(), err), db.Close())
	}
	return db, nil
}

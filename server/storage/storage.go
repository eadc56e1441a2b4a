// Package storage opens protoloop's database, PostgreSQL (lib/pq) or the
// embedded SQLite file (pure Go, no cgo), and applies its migrations.
package storage

import (
	"context"
	"database/sql"
	"errors"

	"github.com/protoloop/protoloop/ent"
)

// Options say which database to open. DatabaseURL (postgres://…) wins;
// without it the SQLite file protoloop.db in DataDir is used.
type Options struct {
	DatabaseURL string
	DataDir     string
}

// DB is an open database with the ent client over it.
type DB struct {
	Client  *ent.Client
	SQL     *sql.DB
	Dialect string // ent's dialect name: dialect.Postgres or dialect.SQLite
}

// Open opens the database named by opts. It does not migrate.
func Open(ctx context.Context, opts Options) (*DB, error) {
	return nil, errors.New("storage: not implemented yet")
}

// Migrate applies the migrations the database has not had yet.
func (db *DB) Migrate(ctx context.Context) error {
	return errors.New("storage: not implemented yet")
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.SQL.PingContext(ctx) }

// Statements returns how many SQL statements the client has run so far.
func (db *DB) Statements() int64 { return 0 }

// Close closes the database.
func (db *DB) Close() error { return db.Client.Close() }

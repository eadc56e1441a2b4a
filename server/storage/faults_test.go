package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/protoloop/protoloop/server/storage"
)

func TestPostgresStatementsStopAtTheStatementTimeout(t *testing.T) {
	db := open(t, storage.Options{DatabaseURL: postgresURL(t), StatementTimeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := db.SQL.ExecContext(context.Background(), "SELECT pg_sleep(5)")
	took := time.Since(start)
	if !storage.IsTimeout(err) {
		t.Fatalf("pg_sleep(5) under a 100 ms statement timeout: %v, want a timeout", err)
	}
	if storage.IsUnavailable(err) {
		t.Errorf("a statement timeout counts as the database being unavailable: %v", err)
	}
	if took > 3*time.Second {
		t.Errorf("the statement stopped after %v", took)
	}
	var setting string
	if err := db.SQL.QueryRow("SHOW statement_timeout").Scan(&setting); err != nil || setting != "100ms" {
		t.Errorf("statement_timeout = %q (%v), want 100ms", setting, err)
	}
}

func TestPostgresURLStatementTimeoutWins(t *testing.T) {
	u, err := url.Parse(postgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("statement_timeout", "1234")
	u.RawQuery = q.Encode()
	db := open(t, storage.Options{DatabaseURL: u.String()})
	var setting string
	if err := db.SQL.QueryRow("SHOW statement_timeout").Scan(&setting); err != nil || setting != "1234ms" {
		t.Errorf("statement_timeout = %q (%v), want the URL's 1234ms", setting, err)
	}
	def := open(t, storage.Options{DatabaseURL: postgresURL(t)})
	if err := def.SQL.QueryRow("SHOW statement_timeout").Scan(&setting); err != nil || setting != "10s" {
		t.Errorf("default statement_timeout = %q (%v), want 10s", setting, err)
	}
}

func TestMigrationsAreNotBoundByTheStatementTimeout(t *testing.T) {
	// No migration runs in a millisecond; with the timeout lifted they
	// all pass, and the connection that lifted it is not reused.
	db := openMigrated(t, storage.Options{DatabaseURL: postgresURL(t), StatementTimeout: time.Millisecond})
	if _, err := db.SQL.Exec("SELECT pg_sleep(0.1)"); !storage.IsTimeout(err) {
		t.Errorf("after Migrate, a 100 ms statement under a 1 ms timeout: %v, want a timeout", err)
	}
}

func TestWaitingForAConnectionEndsWithTheContext(t *testing.T) {
	eachDialect(t, func(t *testing.T, opts storage.Options) {
		db := open(t, opts)
		ctx := context.Background()
		var held []*sql.Conn
		for range db.SQL.Stats().MaxOpenConnections {
			c, err := db.SQL.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := db.SQL.ExecContext(ctx, "SELECT 1")
		if !storage.IsTimeout(err) {
			t.Fatalf("with the pool exhausted: %v, want a timeout", err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("gave up after %v", took)
		}
	})
}

func TestUnreachablePostgresIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	start := time.Now()
	_, err = storage.Open(context.Background(), storage.Options{DatabaseURL: "postgres://postgres@" + addr + "/test?sslmode=disable"})
	if !storage.IsUnavailable(err) {
		t.Fatalf("Open of a refused address: %v, want unavailable", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("gave up after %v", took)
	}
	for _, err := range []error{nil, errors.New("syntax error"), context.Canceled} {
		if storage.IsUnavailable(err) || storage.IsTimeout(err) {
			t.Errorf("%v counts as unavailable or a timeout", err)
		}
	}
}

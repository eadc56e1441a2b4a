package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// SQLiteFile is the name of the database file in the data directory.
const SQLiteFile = "protoloop.db"

// sqliteBusyTimeoutMillis is how long a statement waits for another
// connection's write lock before failing with SQLITE_BUSY. Writers queue
// behind each other (see sqliteDSN), and a burst of mutations should wait
// its turn rather than fail.
const sqliteBusyTimeoutMillis = 10_000

// openSQLite opens (creating if need be) the database file in dataDir.
func openSQLite(ctx context.Context, dataDir string) (*sql.DB, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dataDir, err)
	}
	path, err := filepath.Abs(filepath.Join(dataDir, SQLiteFile))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", dataDir, err)
	}
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// Readers run side by side under WAL; writers queue on the file lock,
	// so more connections than cores buy nothing. Connections to a local
	// file are cheap to keep and have no server to be rebalanced across.
	conns := max(4, runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite %s: %w", path, err), db.Close())
	}
	return db, nil
}

// sqliteDSN returns the modernc.org/sqlite data source name for the file at
// the absolute path. Every connection of the pool is set up with:
//
//   - foreign_keys(1): SQLite enforces foreign keys only when asked, per
//     connection.
//   - journal_mode(WAL): readers do not block the writer nor it them.
//   - busy_timeout: see sqliteBusyTimeoutMillis.
//   - synchronous(FULL): with WAL, NORMAL may lose the last transactions
//     on power loss or an OS crash. A tester's feedback cannot be asked
//     for again, and protoloop writes little, so every commit is synced.
//   - _txlock=immediate: every transaction takes the write lock at BEGIN.
//     Resolvers read, then write (the next iteration number, the next
//     event position); with the default deferred BEGIN two of them could
//     read the same value, and upgrading to the write lock mid-transaction
//     fails with SQLITE_BUSY at once instead of waiting. Taken at BEGIN,
//     the lock serializes write transactions and busy_timeout queues them.
//   - _time_format=sqlite, _timezone=UTC: times are stored as
//     "2006-01-02 15:04:05.999999999+00:00" in UTC, so that comparing and
//     ordering them as text, which is all SQLite does, orders them in
//     time; the driver's default format would also store Go's monotonic
//     clock reading.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeoutMillis))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	q.Set("_timezone", "UTC")
	// A file: URI, with the path escaped, is the one form in which any
	// path, even one holding '?' or '#', reaches SQLite intact. SQLite
	// wants "file:///C:/dir/f.db" for a Windows path.
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}
	return u.String()
}

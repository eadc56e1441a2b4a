package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/lib/pq"
	"modernc.org/sqlite"
)

// sqliteBusy is SQLITE_BUSY: another connection held the write lock for
// longer than the busy timeout.
const sqliteBusy = 5

// IsUnavailable reports whether err says the database could not be
// reached or is not taking work: a refused or broken connection, a server
// shutting down or starting up, or one out of connections. Such a failure
// is the database's, not the request's, and passes once it is back.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code {
		case "57P01", // admin_shutdown: a fast or smart shutdown, a restart
			"57P02", // crash_shutdown
			"57P03", // cannot_connect_now: starting up or shutting down
			"53300": // too_many_connections
			return true
		}
		return pqErr.Code.Class() == "08" // connection_exception
	}
	var netErr net.Error
	return errors.As(err, &netErr) ||
		errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// IsTimeout reports whether err says a statement ran out of time: its
// context's deadline passed, PostgreSQL's statement_timeout or
// lock_timeout cancelled it, or SQLite's busy_timeout ran out waiting for
// the write lock.
func IsTimeout(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "57014" || // query_canceled: statement_timeout, or a cancelled context
			pqErr.Code == "55P03" // lock_not_available: lock_timeout
	}
	var liteErr *sqlite.Error
	return errors.As(err, &liteErr) && liteErr.Code()&0xff == sqliteBusy
}

package storage

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/lib/pq"

	"github.com/protoloop/protoloop/ent/schema/bytea"
)

// NewPostgresConnector returns a connector for database/sql
// (sql.OpenDB) that opens lib/pq connections to the database at url, a
// postgres:// URL, and sends every statement with its parameters in one
// round trip.
//
// By default lib/pq sends a statement with parameters in two: Parse and
// Describe, to learn the parameters' types, then Bind and Execute. With
// binary_parameters it sends Parse, Bind, Describe and Execute at once,
// and the server infers the types from the statement as before; what
// changes is that lib/pq no longer knows them, so the format of each
// parameter must follow from its Go type. lib/pq sends a []byte in binary
// and everything else as text, which is wrong for the []byte that ent
// makes of a JSON field (binary jsonb starts with a version byte). These
// connections therefore send:
//
//   - a bytea.Bytes (every bytes field of the ent schema, the hashes of
//     tokens and invites) in binary, as bytea;
//   - any other []byte, and whatever a driver.Valuer makes into one, as
//     text: JSON for a jsonb column;
//   - everything else as lib/pq does.
//
// A plain []byte meant for a bytea column would be read as bytea's text
// form: pass a bytea.Bytes (TestBytesFieldsAreBytea holds the schema's).
// Each connection also prepares a statement with parameters on its first
// call and runs it prepared after that (see pgConn.QueryContext), so that
// PostgreSQL parses and analyses it once per connection; PostgreSQL's
// plan_cache_mode stays its default, auto, unless the URL sets it
// (docs/performance.md, "Statements prepared once per connection").
// Both the server and the load tool's hand-written SQL use this connector,
// so that the two compare on the same protocol.
func NewPostgresConnector(url string) (driver.Connector, error) {
	cfg, err := pq.NewConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.BinaryParameters = true
	c, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, err
	}
	return pgConnector{c}, nil
}

type pgConnector struct{ pq *pq.Connector }

var _ driver.Connector = pgConnector{}

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.pq.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := cn.(pqConn)
	if !ok {
		// A lib/pq that drops one of these would silently lose the
		// one-round-trip path (database/sql would prepare instead), or
		// session resets: fail loudly.
		return nil, errors.Join(fmt.Errorf("storage: lib/pq connection %T lacks a driver interface protoloop relies on", cn), cn.Close())
	}
	return &pgConn{pqConn: pc, stmts: newStmtCache(pgStmtCacheSize)}, nil
}

func (c pgConnector) Driver() driver.Driver { return c.pq.Driver() }

// pqConn is what a lib/pq connection implements and database/sql looks
// for; pgConn passes all of it on.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.NamedValueChecker
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// pgConn is a lib/pq connection that chooses each parameter's format by
// its Go type (see NewPostgresConnector) and parses each statement once
// (see QueryContext).
type pgConn struct {
	pqConn
	stmts *stmtCache
	// inTx is set between BeginTx and the end of its transaction: a
	// statement that fails there has aborted it, so it is not retried.
	inTx bool
	// rows is the result of a cached statement still being read. lib/pq
	// guards its own paths against a second query on the connection
	// before the first's rows are closed, but not its prepared
	// statements', which would read each other's messages.
	rows *pgRows
}

var _ pqConn = (*pgConn)(nil)

// CheckNamedValue implements driver.NamedValueChecker.
func (c *pgConn) CheckNamedValue(nv *driver.NamedValue) error {
	if b, ok := nv.Value.(bytea.Bytes); ok {
		if b == nil {
			nv.Value = nil
		} else {
			nv.Value = []byte(b) // lib/pq sends a []byte in binary
		}
		return nil
	}
	err := c.pqConn.CheckNamedValue(nv)
	if errors.Is(err, driver.ErrSkip) {
		nv.Value, err = driver.DefaultParameterConverter.ConvertValue(nv.Value)
	}
	if err != nil {
		return err
	}
	if b, ok := nv.Value.([]byte); ok {
		if b == nil {
			nv.Value = nil
		} else {
			nv.Value = string(b)
		}
	}
	return nil
}

// pgStmtCacheSize bounds the statements each connection keeps prepared.
// A server runs a few hundred distinct statements (ent's queries and the
// hand-written SQL); what varies per call, such as IN lists of n
// parameters, is evicted least recently used first. Each statement costs
// the PostgreSQL backend some kilobytes of memory.
const pgStmtCacheSize = 256

// errQueryInProgress is lib/pq's error for a query started on a
// connection whose previous rows are still open.
var errQueryInProgress = errors.New("pq: there is already a query being processed on this connection")

// QueryContext implements driver.QueryerContext.
//
// A statement with parameters runs as a prepared statement of the
// connection, prepared on its first call (Parse and Describe, one round
// trip) and then only bound and executed (one round trip, as lib/pq's
// unnamed statements with binary_parameters): PostgreSQL parses and
// analyses it once per connection instead of on every call. Parameters
// keep the formats CheckNamedValue chose, as lib/pq sends a prepared
// statement's parameters as it sends an unnamed one's with
// binary_parameters. Without parameters lib/pq's simple query protocol is
// as cheap, and is used as before.
func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 {
		return c.pqConn.QueryContext(ctx, query, args)
	}
	var rows driver.Rows
	err := c.withStmt(ctx, query, func(st driver.Stmt) (err error) {
		rows, err = st.(driver.StmtQueryContext).QueryContext(ctx, args)
		return err
	})
	if err != nil {
		return nil, err
	}
	pr, ok := rows.(pqRows)
	if !ok {
		return nil, errors.Join(fmt.Errorf("storage: lib/pq rows %T lack a driver interface protoloop relies on", rows), rows.Close())
	}
	c.rows = &pgRows{pqRows: pr, c: c}
	return c.rows, nil
}

// ExecContext implements driver.ExecerContext, as QueryContext.
func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 {
		return c.pqConn.ExecContext(ctx, query, args)
	}
	var res driver.Result
	err := c.withStmt(ctx, query, func(st driver.Stmt) (err error) {
		res, err = st.(driver.StmtExecContext).ExecContext(ctx, args)
		return err
	})
	return res, err
}

// withStmt runs f with the connection's prepared statement of query,
// preparing it if needed.
//
// PostgreSQL re-plans a prepared statement after a schema change, but
// refuses to run one whose result columns changed ("cached plan must not
// change result type"), and a statement can be gone from the session
// (DISCARD ALL, DEALLOCATE). Such a statement is dropped and prepared
// again, once, outside a transaction: the error is raised before the
// statement runs, so running it again does nothing twice. Inside a
// transaction the error has already aborted the transaction and the
// caller gets it, to roll back and retry the whole transaction.
func (c *pgConn) withStmt(ctx context.Context, query string, f func(driver.Stmt) error) error {
	if c.rows != nil {
		return errQueryInProgress
	}
	for attempt := 0; ; attempt++ {
		st, err := c.stmt(ctx, query)
		if err != nil {
			return err
		}
		err = f(st)
		if err == nil || attempt > 0 || c.inTx || !stmtInvalidated(err) {
			return err
		}
		c.stmts.remove(query)
		// The server may still have it (a changed result type): free it.
		// A failure here shows on the connection's next use.
		_ = st.Close()
	}
}

// stmt returns the connection's prepared statement of query, preparing it
// and evicting (closing) the least recently used one if the cache is full.
func (c *pgConn) stmt(ctx context.Context, query string) (driver.Stmt, error) {
	if st := c.stmts.get(query); st != nil {
		return st, nil
	}
	st, err := c.pqConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if _, ok := st.(driver.StmtQueryContext); !ok {
		return nil, errors.Join(fmt.Errorf("storage: lib/pq statement %T cannot run with a context", st), st.Close())
	}
	if old := c.stmts.put(query, st); old != nil {
		if err := old.Close(); err != nil {
			return nil, errors.Join(err, st.Close())
		}
	}
	return st, nil
}

// stmtInvalidated reports whether err says a prepared statement must be
// prepared again: its result type changed, or the session lost it.
func stmtInvalidated(err error) bool {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return false
	}
	switch pqErr.Code {
	case "0A000": // feature_not_supported
		return pqErr.Message == "cached plan must not change result type"
	case "26000": // invalid_sql_statement_name
		return true
	}
	return false
}

// BeginTx implements driver.ConnBeginTx, noting the transaction.
func (c *pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.pqConn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	c.inTx = true
	return pgTx{Tx: tx, c: c}, nil
}

// Close implements driver.Conn. The connection's prepared statements end
// with its session on the server; closing them one by one first would
// cost a round trip each.
func (c *pgConn) Close() error {
	c.stmts = newStmtCache(pgStmtCacheSize)
	return c.pqConn.Close()
}

type pgTx struct {
	driver.Tx
	c *pgConn
}

func (tx pgTx) Commit() error {
	tx.c.inTx = false
	return tx.Tx.Commit()
}

func (tx pgTx) Rollback() error {
	tx.c.inTx = false
	return tx.Tx.Rollback()
}

// pqRows is what lib/pq's rows implement and database/sql looks for.
type pqRows interface {
	driver.Rows
	driver.RowsNextResultSet
	driver.RowsColumnTypeScanType
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypePrecisionScale
}

// pgRows are the rows of a cached statement, which free the connection
// for the next query when closed.
type pgRows struct {
	pqRows
	c *pgConn
}

func (r *pgRows) Close() error {
	if r.c.rows == r {
		r.c.rows = nil
	}
	return r.pqRows.Close()
}

// stmtCache is a connection's prepared statements by SQL text, least
// recently used first out. A connection is used by one goroutine at a time.
type stmtCache struct {
	size  int
	order *list.List // of *stmtEntry, most recently used first
	byKey map[string]*list.Element
}

type stmtEntry struct {
	query string
	stmt  driver.Stmt
}

func newStmtCache(size int) *stmtCache {
	return &stmtCache{size: size, order: list.New(), byKey: make(map[string]*list.Element)}
}

func (s *stmtCache) get(query string) driver.Stmt {
	e, ok := s.byKey[query]
	if !ok {
		return nil
	}
	s.order.MoveToFront(e)
	return e.Value.(*stmtEntry).stmt
}

// put adds st as query's statement and returns the one it evicted, if any.
func (s *stmtCache) put(query string, st driver.Stmt) (evicted driver.Stmt) {
	s.byKey[query] = s.order.PushFront(&stmtEntry{query: query, stmt: st})
	if s.order.Len() <= s.size {
		return nil
	}
	last := s.order.Back()
	s.order.Remove(last)
	old := last.Value.(*stmtEntry)
	delete(s.byKey, old.query)
	return old.stmt
}

func (s *stmtCache) remove(query string) {
	if e, ok := s.byKey[query]; ok {
		s.order.Remove(e)
		delete(s.byKey, query)
	}
}

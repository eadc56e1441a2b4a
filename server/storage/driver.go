package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// counter counts SQL statements. Tests read it to see how many statements
// a request cost (and so catch N+1 queries); metrics export it, and the
// time each statement took, through the observer.
type counter struct {
	atomic.Int64
	observer atomic.Pointer[func(time.Duration)]
}

// start counts a statement and returns what to call when it is done.
func (c *counter) start() func() {
	c.Add(1)
	obs := c.observer.Load()
	if obs == nil {
		return func() {}
	}
	began := time.Now()
	return func() { (*obs)(time.Since(began)) }
}

// countingDriver is ent's SQL driver with every statement counted, in and
// out of transactions. It keeps the methods ent's generated client looks
// for by type assertion (BeginTx, ExecContext, QueryContext).
type countingDriver struct {
	*entsql.Driver
	n *counter
}

var (
	_ dialect.Driver = (*countingDriver)(nil)
	_ dialect.Tx     = (*countingTx)(nil)
)

func (d *countingDriver) Exec(ctx context.Context, query string, args, v any) error {
	defer d.n.start()()
	return d.Driver.Exec(ctx, query, args, v)
}

func (d *countingDriver) Query(ctx context.Context, query string, args, v any) error {
	defer d.n.start()()
	if err := d.Driver.Query(ctx, query, args, v); err != nil {
		return err
	}
	keepColumnTypes(v)
	return nil
}

func (d *countingDriver) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	defer d.n.start()()
	return d.Driver.ExecContext(ctx, query, args...)
}

func (d *countingDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	defer d.n.start()()
	return d.Driver.QueryContext(ctx, query, args...)
}

func (d *countingDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	return d.BeginTx(ctx, nil)
}

func (d *countingDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	tx, err := d.Driver.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	stx, ok := tx.(*entsql.Tx)
	if !ok {
		// entsql.Driver.BeginTx returns *entsql.Tx; if a new ent version
		// changes that, fail loudly instead of silently not counting.
		return nil, errors.Join(fmt.Errorf("storage: unexpected transaction type %T from ent's SQL driver", tx), tx.Rollback())
	}
	return &countingTx{Tx: stx, n: d.n}, nil
}

// countingTx is a transaction of countingDriver. It also runs its
// statements one at a time.
//
// A transaction is one connection, and a connection carries one statement
// at a time: lib/pq corrupts its protocol state if a second query is sent
// while the rows of the first are still being read. gqlgen resolves the
// fields of a mutation's result concurrently, and those resolvers query
// through the mutation's transaction. So each statement holds mu until it
// is done: an Exec until it returns, a Query until its rows are closed.
type countingTx struct {
	*entsql.Tx
	n  *counter
	mu sync.Mutex
}

func (t *countingTx) Exec(ctx context.Context, query string, args, v any) error {
	t.mu.Lock()
	defer t.n.start()()
	defer t.mu.Unlock()
	return t.Tx.Exec(ctx, query, args, v)
}

// Query is how ent's builders read; the lock is released when the rows
// it fills in are closed (ent reads them to the end, then closes them).
func (t *countingTx) Query(ctx context.Context, query string, args, v any) error {
	t.mu.Lock()
	done := t.n.start()
	defer done()
	if err := t.Tx.Query(ctx, query, args, v); err != nil {
		t.mu.Unlock()
		return err
	}
	rows, ok := v.(*entsql.Rows)
	if !ok {
		t.mu.Unlock()
		return nil
	}
	rows.ColumnScanner = &unlockingRows{ColumnScanner: rows.ColumnScanner, unlock: sync.OnceFunc(t.mu.Unlock)}
	keepColumnTypes(rows)
	return nil
}

func (t *countingTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	t.mu.Lock()
	defer t.n.start()()
	defer t.mu.Unlock()
	return t.Tx.ExecContext(ctx, query, args...)
}

// QueryContext returns database/sql's own rows, which cannot release the
// lock when closed, so it holds the lock only while the query is sent.
// It serves hand-written statements that a resolver issues and reads to
// the end before doing anything else (graph's row locks and event flush),
// never concurrently with field resolution.
func (t *countingTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	t.mu.Lock()
	defer t.n.start()()
	defer t.mu.Unlock()
	return t.Tx.QueryContext(ctx, query, args...)
}

// unlockingRows releases its transaction's statement lock when closed.
type unlockingRows struct {
	entsql.ColumnScanner
	unlock func()
}

func (r *unlockingRows) Close() error {
	defer r.unlock()
	return r.ColumnScanner.Close()
}

// keepColumnTypes makes the rows ent's builders read (v, an
// *entsql.Rows) list their columns' types once. ent asks for them for
// each column it does not know (those a modifier selects, such as a
// joined table's) in each row (entsql.ScanTypeOf), and database/sql
// builds the whole list anew on every call: for a timeline page with its
// actors' nine columns joined, that was a third of the server's CPU.
func keepColumnTypes(v any) {
	if rows, ok := v.(*entsql.Rows); ok && rows.ColumnScanner != nil {
		rows.ColumnScanner = &typedRows{ColumnScanner: rows.ColumnScanner}
	}
}

// typedRows lists its columns' types once (keepColumnTypes).
type typedRows struct {
	entsql.ColumnScanner
	types []*sql.ColumnType
	err   error
	read  bool
}

func (r *typedRows) ColumnTypes() ([]*sql.ColumnType, error) {
	if !r.read {
		r.types, r.err = r.ColumnScanner.ColumnTypes()
		r.read = true
	}
	return r.types, r.err
}

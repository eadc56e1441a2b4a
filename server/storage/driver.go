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
	"golang.org/x/sync/semaphore"
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
// out of transactions, and the pool's connections handed out in turn
// (queue). It keeps the methods ent's generated client looks for by type
// assertion (BeginTx, ExecContext, QueryContext).
type countingDriver struct {
	*entsql.Driver
	n *counter
	q *queue
}

var (
	_ dialect.Driver = (*countingDriver)(nil)
	_ dialect.Tx     = (*countingTx)(nil)
)

func (d *countingDriver) Exec(ctx context.Context, query string, args, v any) error {
	if err := d.q.enter(ctx); err != nil {
		return err
	}
	defer d.q.leave()
	defer d.n.start()()
	return d.Driver.Exec(ctx, query, args, v)
}

// Query is how ent's builders read; the connection's turn (queue) ends
// when the rows are closed (ent reads them to the end, then closes them).
func (d *countingDriver) Query(ctx context.Context, query string, args, v any) error {
	if err := d.q.enter(ctx); err != nil {
		return err
	}
	defer d.n.start()()
	if err := d.Driver.Query(ctx, query, args, v); err != nil {
		d.q.leave()
		return err
	}
	wrapRows(v, d.q)
	return nil
}

func (d *countingDriver) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := d.q.enter(ctx); err != nil {
		return nil, err
	}
	defer d.q.leave()
	defer d.n.start()()
	return d.Driver.ExecContext(ctx, query, args...)
}

// QueryContext returns database/sql's own rows, whose closing it cannot
// see, so it does not queue: its statements (exports, scorecards, the
// broker's own reads) ask the pool directly.
func (d *countingDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	defer d.n.start()()
	return d.Driver.QueryContext(ctx, query, args...)
}

func (d *countingDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	return d.BeginTx(ctx, nil)
}

// BeginTx begins a transaction in its turn (queue), which ends with its
// commit or rollback.
func (d *countingDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	if err := d.q.enter(ctx); err != nil {
		return nil, err
	}
	tx, err := d.Driver.BeginTx(ctx, opts)
	if err != nil {
		d.q.leave()
		return nil, err
	}
	stx, ok := tx.(*entsql.Tx)
	if !ok {
		// entsql.Driver.BeginTx returns *entsql.Tx; if a new ent version
		// changes that, fail loudly instead of silently not counting.
		d.q.leave()
		return nil, errors.Join(fmt.Errorf("storage: unexpected transaction type %T from ent's SQL driver", tx), tx.Rollback())
	}
	return &countingTx{Tx: stx, n: d.n, q: d.q}, nil
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
	q  *queue
	// done: the transaction has committed or rolled back, and its turn
	// has ended.
	done atomic.Bool
}

func (t *countingTx) Commit() error {
	defer t.end()
	return t.Tx.Commit()
}

func (t *countingTx) Rollback() error {
	defer t.end()
	return t.Tx.Rollback()
}

// end ends the transaction's turn, once (a failed commit is rolled back
// as well).
func (t *countingTx) end() {
	if !t.done.Swap(true) {
		t.q.leave()
	}
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
	wrapRows(rows, nil)
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

// wrapRows wraps the rows ent's builders read (v, an *entsql.Rows) so
// that they list their columns' types once, and end the turn they were
// read in (q's, nil for none) when they are closed.
//
// ent asks for the columns' types for each column it does not know (one a
// modifier selects: a search's rank, a duplicate's score, the identity
// read's kind) in each row (entsql.ScanTypeOf), and database/sql builds
// the whole list anew on every call: 30 allocations a row more for a
// query with three such columns (TestModifierColumnsCostLittlePerRow).
func wrapRows(v any, q *queue) {
	rows, ok := v.(*entsql.Rows)
	if !ok || rows.ColumnScanner == nil {
		q.leave()
		return
	}
	rows.ColumnScanner = &typedRows{ColumnScanner: rows.ColumnScanner, q: q}
}

// typedRows lists its columns' types once, and ends its turn when closed
// (wrapRows).
type typedRows struct {
	entsql.ColumnScanner
	q      *queue
	types  []*sql.ColumnType
	err    error
	read   bool
	closed bool
}

func (r *typedRows) ColumnTypes() ([]*sql.ColumnType, error) {
	if !r.read {
		r.types, r.err = r.ColumnScanner.ColumnTypes()
		r.read = true
	}
	return r.types, r.err
}

func (r *typedRows) Close() error {
	err := r.ColumnScanner.Close()
	if !r.closed {
		r.closed = true
		r.q.leave()
	}
	return err
}

// queue hands out the turns of the pool's connections in the order they
// were asked for. database/sql gives a connection that is freed to a
// random waiter, not the first one, so under load a request could wait
// for many others that came after it: at c = 32 against 20 connections,
// leaveFeedback's p99 was 1.3 to 2.3 times its p95 (docs/performance.md,
// "Eleventh round"). A statement or a transaction of the client waits
// here, first come first served, for one of as many turns as the pool
// has connections, and asks the pool only once it has one: the pool then
// has a connection free for it, unless something outside the queue
// holds one (QueryContext's statements, users of DB.SQL; the broker's
// LISTEN connection is not the pool's). A nil queue (SQLite's, whose
// writers the database itself serialises, or a pool without a cap) lets
// everyone through.
type queue struct {
	turns *semaphore.Weighted
	// For the metrics: waiting is how many wait for their turn now;
	// waits and waited count those that had to wait, and the time they
	// waited (nanoseconds).
	waiting, waits, waited atomic.Int64
}

func newQueue(conns int) *queue { return &queue{turns: semaphore.NewWeighted(int64(conns))} }

// enter waits for a turn, or for ctx to end (its error is then ctx's, as
// database/sql's wait for a connection returns it).
func (q *queue) enter(ctx context.Context) error {
	if q == nil || q.turns.TryAcquire(1) {
		return nil
	}
	began := time.Now()
	q.waiting.Add(1)
	err := q.turns.Acquire(ctx, 1)
	q.waiting.Add(-1)
	q.waits.Add(1)
	q.waited.Add(int64(time.Since(began)))
	return err
}

// leave ends a turn entered.
func (q *queue) leave() {
	if q != nil {
		q.turns.Release(1)
	}
}

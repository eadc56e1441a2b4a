package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/server/storage"
)

// Transactioner runs every mutation operation in one database transaction,
// together with the events it records, and publishes those events only
// once the transaction has committed. If any field of the operation
// fails, nothing it did is kept.
type Transactioner struct {
	client    *ent.Client
	dialect   string
	publisher Publisher
	log       *slog.Logger
	wake      func()    // called after a commit that queued webhook deliveries
	numberer  *numberer // on PostgreSQL
}

var (
	_ graphql.HandlerExtension    = (*Transactioner)(nil)
	_ graphql.ResponseInterceptor = (*Transactioner)(nil)
)

// NewTransactioner returns the extension for a client on the given
// dialect (ent's dialect.Postgres or dialect.SQLite). publisher may be nil.
func NewTransactioner(client *ent.Client, dialectName string, publisher Publisher, log *slog.Logger) *Transactioner {
	t := &Transactioner{client: client, dialect: dialectName, publisher: publisher, log: log}
	if dialectName == dialect.Postgres {
		t.numberer = &numberer{client: client, timeout: numberTimeout}
	}
	return t
}

// WakeOnDeliveries makes t call wake after each commit that queued
// webhook deliveries (the delivery worker's Wake), and returns t. wake
// must not block.
func (t *Transactioner) WakeOnDeliveries(wake func()) *Transactioner {
	t.wake = wake
	return t
}

// NumberOn makes t's numbering rounds (on PostgreSQL) take their
// connection from db, whose Client t's client is, and keep it for as long
// as rounds follow each other, and returns t. Without it, each round
// waits for a connection like any statement: database/sql hands a freed
// connection to a random waiter, not the oldest, so under load a round
// could wait behind many requests, and every mutation that committed
// meanwhile waits for it.
func (t *Transactioner) NumberOn(db *storage.DB) *Transactioner {
	if t.numberer != nil {
		t.numberer.db = db
	}
	return t
}

// ExtensionName implements graphql.HandlerExtension.
func (*Transactioner) ExtensionName() string { return "Transactioner" }

// Validate implements graphql.HandlerExtension.
func (*Transactioner) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse implements graphql.ResponseInterceptor.
func (t *Transactioner) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	// A request gqlgen could not even decode (a body that is not a
	// GraphQL request) gets its error without an operation context.
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	if op := graphql.GetOperationContext(ctx).Operation; op == nil || op.Operation != ast.Mutation {
		return next(ctx)
	}
	var resp *graphql.Response
	err := t.run(ctx, func(ctx context.Context) error {
		resp = next(ctx)
		if resp == nil || len(resp.Errors) > 0 {
			if resp != nil {
				// The writes of fields that did succeed were rolled back
				// too: show none of them as done.
				resp.Data = []byte("null")
			}
			return errRolledBack
		}
		return nil
	})
	switch {
	case errors.Is(err, errRolledBack):
		return resp
	case err != nil:
		// Whether a COMMIT that lost its connection took effect is
		// unknown: clients retry with an idempotency key for that.
		return t.failed(ctx, "mutation", err)
	}
	return resp
}

// errRolledBack is how a mutation that failed tells run to roll back.
var errRolledBack = errors.New("mutation failed: rolled back")

// Run runs change as a mutation is run, for the server's own changes
// outside any request (the webhook worker disabling a webhook): in one
// transaction, which change reads with ent.FromContext, together with
// the events it records, published once the transaction has committed.
// If change returns an error, nothing it did is kept.
func (t *Transactioner) Run(ctx context.Context, change func(ctx context.Context) error) error {
	return t.run(system(ctx), change)
}

// run runs change in a transaction with an outbox for its events, and
// commits unless it fails; then it numbers the events (on PostgreSQL),
// publishes them and wakes the delivery worker if deliveries were queued.
func (t *Transactioner) run(ctx context.Context, change func(ctx context.Context) error) error {
	tx, err := t.client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	box := &outbox{dialect: t.dialect}
	ctx = ent.NewTxContext(ctx, tx)
	ctx = ent.NewContext(ctx, tx.Client())
	ctx = context.WithValue(ctx, outboxKey{}, box)
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()

	if err := change(ctx); err != nil {
		return err
	}
	events, err := box.flush(ctx, tx)
	if err != nil {
		return fmt.Errorf("record events: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	if len(events) > 0 && t.numberer != nil {
		// The events were committed pending: they get their positions now,
		// before the answer, so that a client that saw its mutation done
		// can find its events in the stream (see outbox.flush). If this
		// fails, the mutation is done all the same; the next numbering
		// (another write's, or the broker's poll) numbers its events.
		if err := t.numberer.number(ctx); err != nil {
			t.log.WarnContext(ctx, "number events after commit; the broker's poll will", "err", err)
		}
	}
	if t.publisher != nil && len(events) > 0 {
		t.publisher.Publish(ctx, events)
	}
	if t.wake != nil && box.deliveries > 0 {
		t.wake()
	}
	return nil
}

// numberTimeout bounds a round of numbering events after commits, which
// goes on when the clients have gone: the events are there.
const numberTimeout = 30 * time.Second

// failed answers an operation whose transaction could not begin or
// commit: with TIMEOUT or UNAVAILABLE when that is why, else INTERNAL,
// the details going to the log.
func (t *Transactioner) failed(ctx context.Context, what string, err error) *graphql.Response {
	code, message := CodeInternal, "internal error"
	switch {
	case storage.IsTimeout(err) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		code, message = CodeTimeout, msgTimeout
		t.log.WarnContext(ctx, what, "err", err)
	case storage.IsUnavailable(err):
		code, message = CodeUnavailable, msgUnavailable
		t.log.WarnContext(ctx, what, "err", err)
	default:
		t.log.ErrorContext(ctx, what, "err", err)
	}
	e := gqlerror.Errorf("%s", message)
	e.Extensions = map[string]any{"code": string(code)}
	return &graphql.Response{Errors: gqlerror.List{e}, Data: []byte("null")}
}

// locked makes q lock the rows it reads until the transaction ends, to
// serialize changes that read before they write (numbering iterations,
// moving a status along). SQLite needs no row locks: its write
// transactions already run one at a time (storage begins them IMMEDIATE).
//
// The lock is FOR NO KEY UPDATE, not FOR UPDATE: inserting a row that
// references the locked one (an event about the prototype) takes KEY
// SHARE on it, which FOR UPDATE would block. A transaction waiting for the
// events lock while holding FOR UPDATE, and one holding the events lock
// while inserting such a row, would then deadlock.
func locked[Q interface{ ForUpdate(...entsql.LockOption) Q }](q Q, dialectName string) Q {
	if dialectName != dialect.Postgres {
		return q
	}
	return q.ForUpdate(entsql.WithLockClause("FOR NO KEY UPDATE"))
}

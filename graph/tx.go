package graph

import (
	"context"
	"log/slog"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/protoloop/protoloop/ent"
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
	wake      func() // called after a commit that queued webhook deliveries
}

var (
	_ graphql.HandlerExtension    = (*Transactioner)(nil)
	_ graphql.ResponseInterceptor = (*Transactioner)(nil)
)

// NewTransactioner returns the extension for a client on the given
// dialect (ent's dialect.Postgres or dialect.SQLite). publisher may be nil.
func NewTransactioner(client *ent.Client, dialectName string, publisher Publisher, log *slog.Logger) *Transactioner {
	return &Transactioner{client: client, dialect: dialectName, publisher: publisher, log: log}
}

// WakeOnDeliveries makes t call wake after each commit that queued
// webhook deliveries (the delivery worker's Wake), and returns t. wake
// must not block.
func (t *Transactioner) WakeOnDeliveries(wake func()) *Transactioner {
	t.wake = wake
	return t
}

// ExtensionName implements graphql.HandlerExtension.
func (*Transactioner) ExtensionName() string { return "Transactioner" }

// Validate implements graphql.HandlerExtension.
func (*Transactioner) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse implements graphql.ResponseInterceptor.
func (t *Transactioner) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if op := graphql.GetOperationContext(ctx).Operation; op == nil || op.Operation != ast.Mutation {
		return next(ctx)
	}
	tx, err := t.client.Tx(ctx)
	if err != nil {
		t.log.ErrorContext(ctx, "begin transaction", "err", err)
		return internalResponse()
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

	resp := next(ctx)
	if resp == nil || len(resp.Errors) > 0 {
		if resp != nil {
			// The writes of fields that did succeed were rolled back too:
			// show none of them as done.
			resp.Data = []byte("null")
		}
		return resp
	}
	events, err := box.flush(ctx, tx)
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		t.log.ErrorContext(ctx, "commit mutation", "err", err)
		return internalResponse()
	}
	committed = true
	if t.publisher != nil && len(events) > 0 {
		t.publisher.Publish(ctx, events)
	}
	if t.wake != nil && box.deliveries > 0 {
		t.wake()
	}
	return resp
}

// internalResponse answers an operation that failed for the server's
// reasons, not the request's; the details are in the log.
func internalResponse() *graphql.Response {
	e := gqlerror.Errorf("internal error")
	e.Extensions = map[string]any{"code": string(CodeInternal)}
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

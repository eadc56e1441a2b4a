package graph

import (
	"context"
	"fmt"
	"sync"

	"entgo.io/ent/dialect"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/server/broker"
)

// Publisher hands committed events to whoever streams them live.
// Publish must not block on slow consumers.
type Publisher interface {
	Publish(ctx context.Context, events []*ent.Event)
}

// eventsLockKey is the PostgreSQL advisory lock under which event
// positions are assigned: any constant works, as long as it is this one.
const eventsLockKey = 0x70726f746f6c6f // "protolo"

// change describes one event a mutation records.
type change struct {
	kind        event.Kind
	workspace   gid.ID
	prototype   gid.ID // zero for workspace-level events
	subject     gid.ID
	participant gid.ID // the acting participant, if the actor is one
	payload     map[string]any
}

// outbox collects a mutation's events until its transaction commits.
type outbox struct {
	dialect string
	mu      sync.Mutex
	changes []change
	actor   gid.ID
	// deliveries counts the webhook deliveries the mutation queued, so
	// that the delivery worker is woken only when there is work.
	deliveries int
}

type outboxKey struct{}

// dialectOf returns the dialect of the current mutation's database, for
// helpers deep in a mutation that lock rows (see locked).
func dialectOf(ctx context.Context) string {
	if box, ok := ctx.Value(outboxKey{}).(*outbox); ok {
		return box.dialect
	}
	return ""
}

// record adds an event to the current mutation's transaction. It is
// written just before commit, so it exists exactly when the change does.
func record(ctx context.Context, c change) {
	box, ok := ctx.Value(outboxKey{}).(*outbox)
	if !ok {
		panic("graph: event recorded outside the Transactioner")
	}
	box.mu.Lock()
	defer box.mu.Unlock()
	if id := viewer.FromContext(ctx); id != nil {
		box.actor = id.UserID
	}
	box.changes = append(box.changes, c)
}

// noteDeliveries tells the Transactioner that the current mutation queued
// webhook deliveries of its own (a test, a redelivery).
func noteDeliveries(ctx context.Context) {
	if box, ok := ctx.Value(outboxKey{}).(*outbox); ok {
		box.mu.Lock()
		box.deliveries++
		box.mu.Unlock()
	}
}

// flush writes the recorded events inside tx, with the webhook
// deliveries they call for, and returns them.
//
// Positions (seq) follow commit order: on PostgreSQL the transaction takes
// a transaction-scoped advisory lock before reading the last position and
// holds it through its commit, so a transaction that takes position n has
// seen every commit of positions below n, and no transaction that commits
// later can take a smaller one. A reader that has seen position n has thus
// seen everything up to n for good, which is what makes "after: n" cursors
// gap-free. A sequence would not do: a transaction that drew 10 may
// commit after one that drew 11. The lock is held only for this flush and
// the commit. On SQLite writers are serialized already.
func (b *outbox) flush(ctx context.Context, tx *ent.Tx) ([]*ent.Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.changes) == 0 {
		return nil, nil
	}
	if b.dialect == dialect.Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", eventsLockKey); err != nil {
			return nil, fmt.Errorf("lock event positions: %w", err)
		}
	}
	rows, err := tx.QueryContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM events")
	if err != nil {
		return nil, fmt.Errorf("read last event position: %w", err)
	}
	var last int64
	for rows.Next() {
		if err := rows.Scan(&last); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read last event position: %w", err)
		}
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("read last event position: %w", err)
	}

	builders := make([]*ent.EventCreate, len(b.changes))
	for i, c := range b.changes {
		bc := tx.Event.Create().
			SetSeq(last + int64(i) + 1).
			SetKind(c.kind).
			SetWorkspaceID(c.workspace).
			SetSubjectID(c.subject)
		if c.prototype != 0 {
			bc.SetPrototypeID(c.prototype)
		}
		if c.participant != 0 {
			bc.SetActorParticipantID(c.participant)
		} else if b.actor != 0 {
			bc.SetActorUserID(b.actor)
		}
		if c.payload != nil {
			bc.SetPayload(c.payload)
		}
		builders[i] = bc
	}
	events, err := tx.Event.CreateBulk(builders...).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("write events: %w", err)
	}
	n, err := enqueueDeliveries(ctx, tx, events)
	if err != nil {
		return nil, err
	}
	b.deliveries += n
	if b.dialect == dialect.Postgres {
		// Wakes the broker of every server process once this commits (see
		// server/broker); this process's own is woken by the Publisher too.
		notify := broker.NotifySQL
		if n > 0 {
			notify = broker.NotifyDeliveriesSQL // and other processes' delivery workers
		}
		if _, err := tx.ExecContext(ctx, notify, last+int64(len(events))); err != nil {
			return nil, fmt.Errorf("notify events: %w", err)
		}
	}
	return events, nil
}

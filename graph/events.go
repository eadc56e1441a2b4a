package graph

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/server/broker"
	"github.com/protoloop/protoloop/server/storage"
)

// Publisher hands committed events to whoever streams them live.
// Publish must not block on slow consumers. On PostgreSQL the events it
// is given have been numbered in the table, but their Seq field is 0:
// numbering happens in the database (see outbox.flush); read the table.
type Publisher interface {
	Publish(ctx context.Context, events []*ent.Event)
}

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
// The invariant: positions (seq) follow the order in which events become
// visible. Whoever gives an event position n has seen every event below n
// committed, and nothing can later take a smaller one. A reader (the
// broker's tailer, a catch-up, a client's "after: n" cursor) that has seen
// position n has thus seen everything up to n for good: it can never see
// n+1 while n is still to come. A sequence would not do: a transaction
// that drew 10 may commit after one that drew 11, and a subscriber that
// read 11 would never read 10.
//
// On SQLite, where writers run one at a time, the transaction numbers its
// events itself, after the last position.
//
// On PostgreSQL, a transaction that numbered its own events would have to
// hold a lock from reading the last position until its COMMIT had become
// visible, WAL flush included, so writers would queue for the disk one
// by one. Instead, the mutation's transaction writes its events pending,
// with a negative seq (-id, unique and never a position), and commits
// without any lock, in parallel with the others; right after its commit,
// the mutation numbers every pending event in one statement of its own
// (broker.NumberSQL): under the events lock, it gives the committed
// pending events the positions after the last one and commits. Those
// numbering commits are what is serialized, and each numbers every event
// committed meanwhile, so one flush serves many writes. The invariant
// holds as before, for the numbering transactions: each takes the lock
// before it reads the last position, and PostgreSQL releases it only
// after the commit is visible. Readers only ever read positive positions
// (the Event query policy hides pending rows; the broker reads seq >
// position). A mutation answers only after its events are numbered, and
// if it fails to number them (the database went away after its commit),
// the next write's numbering, or the broker's poll, numbers them.
func (b *outbox) flush(ctx context.Context, tx *ent.Tx) ([]*ent.Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.changes) == 0 {
		return nil, nil
	}
	events := b.events()
	var (
		hooks []*ent.Webhook
		err   error
	)
	if b.dialect == dialect.Postgres {
		// One statement writes the events and reads their webhooks.
		hooks, err = writePendingEvents(ctx, tx, events)
	} else {
		if err = writeNumberedEvents(ctx, tx, events); err == nil {
			hooks, err = eventWebhooks(ctx, tx, events)
		}
	}
	if err != nil {
		return nil, err
	}
	n, err := enqueueDeliveries(ctx, tx, events, hooks)
	if err != nil {
		return nil, err
	}
	b.deliveries += n
	if n > 0 && b.dialect == dialect.Postgres {
		// Wakes the delivery workers of the other server processes once
		// this commits (this process's own is woken by the Transactioner);
		// the numbering's notification wakes only tailers.
		if _, err := tx.ExecContext(ctx, broker.NotifyDeliveriesSQL); err != nil {
			return nil, fmt.Errorf("notify deliveries: %w", err)
		}
	}
	return events, nil
}

// events returns the recorded changes as events, without positions.
func (b *outbox) events() []*ent.Event {
	now := time.Now()
	// The IDs ascend in the order the events were recorded: pending
	// events of one transaction are numbered in the order of their IDs.
	ids := make([]gid.ID, len(b.changes))
	for i := range ids {
		ids[i] = gid.New(gid.Event)
	}
	slices.Sort(ids)
	events := make([]*ent.Event, len(b.changes))
	for i, c := range b.changes {
		e := &ent.Event{
			ID:          ids[i],
			Kind:        c.kind,
			WorkspaceID: c.workspace,
			SubjectID:   c.subject,
			OccurredAt:  now,
			Payload:     c.payload,
		}
		if c.prototype != 0 {
			e.PrototypeID = &c.prototype
		}
		if c.participant != 0 {
			e.ActorParticipantID = &c.participant
		} else if b.actor != 0 {
			actor := b.actor
			e.ActorUserID = &actor
		}
		events[i] = e
	}
	return events
}

// writeNumberedEvents writes events with their positions, after the last
// one: where writers run one at a time (SQLite), so that the transaction
// can number its own events.
func writeNumberedEvents(ctx context.Context, tx *ent.Tx, events []*ent.Event) error {
	last, err := lastPosition(ctx, tx)
	if err != nil {
		return err
	}
	builders := make([]*ent.EventCreate, len(events))
	for i, e := range events {
		e.Seq = last + int64(i) + 1
		bc := tx.Event.Create().
			SetID(e.ID).
			SetSeq(e.Seq).
			SetKind(e.Kind).
			SetWorkspaceID(e.WorkspaceID).
			SetNillablePrototypeID(e.PrototypeID).
			SetSubjectID(e.SubjectID).
			SetNillableActorUserID(e.ActorUserID).
			SetNillableActorParticipantID(e.ActorParticipantID).
			SetOccurredAt(e.OccurredAt)
		if e.Payload != nil {
			bc.SetPayload(e.Payload)
		}
		builders[i] = bc
	}
	if _, err := tx.Event.CreateBulk(builders...).Save(ctx); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	return nil
}

// lastPosition reads the last event position in tx.
func lastPosition(ctx context.Context, tx *ent.Tx) (int64, error) {
	rows, err := tx.QueryContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM events")
	if err != nil {
		return 0, fmt.Errorf("read last event position: %w", err)
	}
	defer rows.Close()
	var last int64
	for rows.Next() {
		if err := rows.Scan(&last); err != nil {
			return 0, fmt.Errorf("read last event position: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read last event position: %w", err)
	}
	return last, nil
}

// insertPendingSQL inserts a transaction's events pending: with seq -id,
// to be numbered after the commit by broker.NumberSQL, in the order of
// occurred_at (the database's clock when they were written, so an event
// written after another committed is numbered after it, whichever process
// wrote them), then of their IDs. $1 ... are arrays, one element per event.
// The column list is the events table's (ent/schema/event.go); the graph
// tests read what it writes back through ent.
//
// The same statement reads the enabled webhooks of the events'
// workspaces, which enqueueDeliveries needs next, saving a round trip per
// mutation: it returns one row per webhook (id, workspace, event kinds as
// JSON), or a single row of NULLs when there is none, each with the
// events' occurred_at. It reads them as of the statement's snapshot, as a
// statement of their own right after it would (READ COMMITTED).
const insertPendingSQL = `WITH e AS (
	INSERT INTO events (id, seq, kind, workspace_id, prototype_id, subject_id,
		actor_user_id, actor_participant_id, occurred_at, payload)
	SELECT e.id, -e.id, e.kind, e.workspace_id, e.prototype_id, e.subject_id,
		e.actor_user_id, e.actor_participant_id, statement_timestamp(), e.payload::jsonb
	FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
		$6::bigint[], $7::bigint[], $8::text[])
		AS e(id, kind, workspace_id, prototype_id, subject_id,
			actor_user_id, actor_participant_id, payload)
	RETURNING occurred_at)
SELECT (SELECT occurred_at FROM e LIMIT 1), h.id, h.workspace_id, h.event_kinds
FROM (VALUES (1)) AS one(x)
LEFT JOIN webhooks h ON h.workspace_id = ANY($3::bigint[]) AND h.enabled`

// writePendingEvents writes events with insertPendingSQL, in one
// statement, and returns the enabled webhooks of their workspaces (with
// their IDs, workspaces and event kinds only).
func writePendingEvents(ctx context.Context, tx *ent.Tx, events []*ent.Event) ([]*ent.Webhook, error) {
	n := len(events)
	var (
		ids, workspaces, subjects           = make([]int64, n), make([]int64, n), make([]int64, n)
		prototypes, actorUsers, actorPeople = make([]sql.NullInt64, n), make([]sql.NullInt64, n), make([]sql.NullInt64, n)
		kinds                               = make([]string, n)
		payloads                            = make([]sql.NullString, n)
	)
	nullable := func(id *gid.ID) sql.NullInt64 {
		if id == nil {
			return sql.NullInt64{}
		}
		return sql.NullInt64{Int64: int64(*id), Valid: true}
	}
	for i, e := range events {
		ids[i], workspaces[i], subjects[i] = int64(e.ID), int64(e.WorkspaceID), int64(e.SubjectID)
		prototypes[i], actorUsers[i], actorPeople[i] = nullable(e.PrototypeID), nullable(e.ActorUserID), nullable(e.ActorParticipantID)
		kinds[i] = string(e.Kind)
		if e.Payload != nil {
			p, err := json.Marshal(e.Payload)
			if err != nil {
				return nil, fmt.Errorf("encode event payload: %w", err)
			}
			payloads[i] = sql.NullString{String: string(p), Valid: true}
		}
	}
	rows, err := tx.QueryContext(ctx, insertPendingSQL,
		pq.Array(ids), pq.Array(kinds), pq.Array(workspaces), pq.Array(prototypes), pq.Array(subjects),
		pq.Array(actorUsers), pq.Array(actorPeople), pq.Array(payloads))
	if err != nil {
		return nil, fmt.Errorf("write events: %w", err)
	}
	defer rows.Close()
	// Every event has the statement's time: the events, and what is made
	// of them before they are read back (webhook deliveries), carry it.
	var (
		at    time.Time
		hooks []*ent.Webhook
	)
	for rows.Next() {
		var (
			hook      sql.NullInt64
			workspace sql.NullInt64
			kinds     []byte
		)
		if err := rows.Scan(&at, &hook, &workspace, &kinds); err != nil {
			return nil, fmt.Errorf("write events: %w", err)
		}
		if !hook.Valid {
			continue
		}
		h := &ent.Webhook{ID: gid.ID(hook.Int64), WorkspaceID: gid.ID(workspace.Int64)}
		if err := json.Unmarshal(kinds, &h.EventKinds); err != nil {
			return nil, fmt.Errorf("read event kinds of webhook %s: %w", h.ID, err)
		}
		hooks = append(hooks, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("write events: %w", err)
	}
	for _, e := range events {
		e.OccurredAt = at
	}
	return hooks, nil
}

// numberer numbers the events the mutations of this process committed
// pending (see outbox.flush), in rounds: a mutation that has committed
// asks for a round and waits for it; one goroutine runs broker.Number
// for every pending event, over and over while there are requests, and
// answers every request made before the round began. So a process holds
// at most one connection waiting for the events lock, however many
// mutations commit at once (waiting on the lock, they took the pool),
// and one numbering serves every mutation that committed meanwhile.
//
// With db set (Transactioner.NumberOn), the rounds keep one connection of
// the pool from the first round of a run to the last, rather than asking
// the pool for one each round: under load the pool has waiters, and a
// round that queued among them would hold up every mutation waiting for
// it. The connection goes back to the pool when no request is left, and
// after an error, so that a broken one is not used again.
type numberer struct {
	client  *ent.Client
	db      *storage.DB // nil: each round runs on client, through the pool
	timeout time.Duration

	mu      sync.Mutex
	running bool
	waiting []chan error // the requests for the next round
}

// number returns once the events the caller committed before the call
// are numbered (or ctx is done, or the round failed).
func (n *numberer) number(ctx context.Context) error {
	done := make(chan error, 1)
	n.mu.Lock()
	n.waiting = append(n.waiting, done)
	if !n.running {
		n.running = true
		go n.rounds()
	}
	n.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rounds runs rounds while there are requests.
func (n *numberer) rounds() {
	var conn *storage.Conn // the run's connection, with n.db
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for {
		n.mu.Lock()
		batch := n.waiting
		n.waiting = nil
		if len(batch) == 0 {
			n.running = false
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
		// Every request in batch was made after its mutation committed,
		// so this round, which starts later, sees those events either
		// pending, and numbers them, or numbered already.
		ctx, cancel := context.WithTimeout(context.Background(), n.timeout)
		var err error
		if n.db == nil {
			err = broker.Number(ctx, n.client)
		} else {
			if conn == nil {
				if conn, err = n.db.Conn(ctx); err != nil {
					conn, err = nil, fmt.Errorf("number pending events: %w", err)
				}
			}
			if conn != nil {
				if _, err = conn.ExecContext(ctx, broker.NumberSQL); err != nil {
					err = fmt.Errorf("number pending events: %w", err)
					_ = conn.Close()
					conn = nil
				}
			}
		}
		cancel()
		for _, done := range batch {
			done <- err
		}
	}
}

package broker

import (
	"context"
	"fmt"

	"github.com/protoloop/protoloop/ent"
)

// LockKey is the PostgreSQL advisory lock under which event positions are
// given: any constant works, as long as every process uses this one. The
// numbering function (see NumberSQL) names it by its value: change both
// or neither (TestNumberingFunctionUsesLockKeyAndChannel).
const LockKey = 0x70726f746f6c6f // "protolo"

// NumberSQL gives positions to the pending events on PostgreSQL: those
// that mutations committed with a negative seq (graph/events.go explains
// why). In one statement, one round trip, one transaction of its own
// (run it outside any transaction; Number writes it), it calls the
// function protoloop_number_events, which a migration creates
// (storage/migrations/postgres/*_number_events_function.sql; a function,
// not a DO block, so that each connection plans its statements once):
//
//  1. If no event is pending, it is done, without the lock: the events
//     its caller committed before are numbered and visible already.
//  2. It takes the events lock (LockKey). The statements after it each
//     take a new snapshot (PL/pgSQL in READ COMMITTED), so they see every
//     numbering committed before the lock was granted: PostgreSQL makes a
//     commit visible before it releases the transaction's locks. If the
//     holder before has numbered every pending event meanwhile, it is
//     done: it wrote nothing, so it commits without a flush.
//  3. Else it gives every pending event it sees the positions after the
//     last one, in the order of occurred_at, then of their IDs (seq =
//     -id, so seq descending), and queues the NOTIFY of the last position
//     (see Channel) for its commit.
//
// Positions thus become visible in their order, which is what makes
// "seq > n" a gap-free cursor. Numbering transactions run one at a time,
// but each numbers every event committed meanwhile, and the writers that
// queued behind it find theirs numbered, so writers share their flushes.
const NumberSQL = `SELECT protoloop_number_events()`

// Number runs NumberSQL on client, which must not be a transaction's.
func Number(ctx context.Context, client *ent.Client) error {
	if _, err := client.ExecContext(ctx, NumberSQL); err != nil {
		return fmt.Errorf("number pending events: %w", err)
	}
	return nil
}

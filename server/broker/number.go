package broker

import (
	"context"
	"fmt"
	"strconv"

	"github.com/protoloop/protoloop/ent"
)

// LockKey is the PostgreSQL advisory lock under which event positions are
// given: any constant works, as long as every process uses this one.
const LockKey = 0x70726f746f6c6f // "protolo"

// NumberSQL gives positions to the pending events on PostgreSQL: those
// that mutations committed with a negative seq (graph/events.go explains
// why). In one statement, one round trip, one transaction of its own
// (run it outside any transaction; Number writes it):
//
//  1. If no event is pending, it is done, without the lock: the events
//     its caller committed before are numbered and visible already.
//  2. It takes the events lock. The statements after it each take a new
//     snapshot (PL/pgSQL in READ COMMITTED), so they see every numbering
//     committed before the lock was granted: PostgreSQL makes a commit
//     visible before it releases the transaction's locks. If the holder
//     before has numbered every pending event meanwhile, it is done: it
//     wrote nothing, so it commits without a flush.
//  3. Else it gives every pending event it sees the positions after the
//     last one, in the order of occurred_at, then of their IDs (seq =
//     -id, so seq descending), and queues the NOTIFY of the last position
//     (see Channel) for its commit.
//
// Positions thus become visible in their order, which is what makes
// "seq > n" a gap-free cursor. Numbering transactions run one at a time,
// but each numbers every event committed meanwhile, and the writers that
// queued behind it find theirs numbered, so writers share their flushes.
var NumberSQL = `DO $number$
DECLARE
	last bigint;
	numbered bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM events WHERE seq < 0) THEN
		RETURN;
	END IF;
	PERFORM pg_advisory_xact_lock(` + strconv.FormatInt(LockKey, 10) + `);
	IF NOT EXISTS (SELECT 1 FROM events WHERE seq < 0) THEN
		RETURN;
	END IF;
	SELECT COALESCE(MAX(seq), 0) INTO last FROM events WHERE seq > 0;
	-- Joined on seq, not id, with seq < 0 on both sides: the planner then
	-- reads both from the seq index; on id it scans the whole table.
	WITH pending AS (
		SELECT seq, ROW_NUMBER() OVER (ORDER BY occurred_at, seq DESC) AS n
		FROM events WHERE seq < 0
	)
	UPDATE events SET seq = last + pending.n FROM pending
	WHERE events.seq = pending.seq AND events.seq < 0;
	GET DIAGNOSTICS numbered = ROW_COUNT;
	IF numbered > 0 THEN
		PERFORM pg_notify('` + Channel + `', current_schema() || ':' || (last + numbered));
	END IF;
END
$number$`

// Number runs NumberSQL on client, which must not be a transaction's.
func Number(ctx context.Context, client *ent.Client) error {
	if _, err := client.ExecContext(ctx, NumberSQL); err != nil {
		return fmt.Errorf("number pending events: %w", err)
	}
	return nil
}

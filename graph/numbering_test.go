package graph_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/broker"
	"github.com/protoloop/protoloop/server/servertest"
)

// waitFor polls cond until it holds or a generous bound passes, which
// only catches a write that never gets there.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// heldEventsLock is a feedback loop on PostgreSQL whose events lock, under
// which event positions are given, the test holds in a transaction on a
// connection of the pool.
type heldEventsLock struct {
	s    *servertest.Server
	loop servertest.Loop
	lock *sql.Tx
	pid  int // the PostgreSQL backend of the lock's connection
}

// holdEventsLock makes a feedback loop on s and takes the events lock
// until the test ends, or until it rolls h.lock back; the connection
// stays the test's after that.
func holdEventsLock(t *testing.T, s *servertest.Server) *heldEventsLock {
	t.Helper()
	h := &heldEventsLock{s: s, loop: s.NewLoop(t)}
	h.lock, h.pid = takeEventsLock(t, s)
	return h
}

// takeEventsLock takes s's events lock (PostgreSQL) in a transaction on
// a connection of the pool, which it returns with the connection's
// backend; the lock is held until the test ends, or until the caller
// rolls the transaction back. No events are numbered meanwhile: not
// after a commit, not by the broker's poll.
func takeEventsLock(t *testing.T, s *servertest.Server) (lock *sql.Tx, pid int) {
	t.Helper()
	ctx := context.Background()
	conn, err := s.DB.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if lock, err = conn.BeginTx(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lock.Rollback() })
	if _, err := lock.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(broker.LockKey)); err != nil {
		t.Fatal(err)
	}
	return lock, pid
}

// posted is a mutation's response, or why there is none.
type posted struct {
	r   *servertest.Response
	err error
}

// leaveFeedback leaves feedback with body as the loop's owner, in a
// goroutine, and once the feedback has committed returns the feedback's
// ID and where the mutation's answer will come.
func (h *heldEventsLock) leaveFeedback(t *testing.T, body string) (<-chan posted, int64) {
	t.Helper()
	ctx := context.Background()
	done := make(chan posted, 1)
	go func() {
		r, err := h.s.Post(ctx, h.loop.Owner.Token,
			`mutation($in: LeaveFeedbackInput!) { leaveFeedback(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"iterationID": h.loop.Iteration.ID, "kind": "IDEA", "body": body}})
		done <- posted{r, err}
	}()
	var id int64
	waitFor(t, "the feedback "+body+" committed", func() (bool, error) {
		err := h.s.DB.SQL.QueryRowContext(ctx, "SELECT id FROM feedbacks WHERE body = $1", body).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	})
	return done, id
}

// TestWritesCommitWithoutTheEventsLock holds the lock under which event
// positions are given, from a connection of its own, while a mutation
// runs: the mutation's transaction commits all the same (its feedback
// and its event are in the table, the event pending), so writers share
// their WAL flushes instead of queueing for the disk one by one behind
// the lock. The mutation answers only once its event has its position,
// after the last one, once the lock is free; until then no query shows
// the pending event. Holding the lock through the commit, as writers once
// did, makes the feedback never appear while the lock is held.
func TestWritesCommitWithoutTheEventsLock(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		if s.Backend != servertest.Postgres {
			t.Skip("SQLite runs one writer at a time: there is no lock to take out of the commit")
		}
		h := holdEventsLock(t, s)
		loop, lock := h.loop, h.lock
		ctx := context.Background()
		db := s.DB.SQL

		done, feedbackID := h.leaveFeedback(t, fmt.Sprintf("Feedback left while the events lock is held %d", time.Now().UnixNano()))
		var pending int64
		if err := db.QueryRowContext(ctx, "SELECT seq FROM events WHERE subject_id = $1", feedbackID).Scan(&pending); err != nil {
			t.Fatalf("the feedback's event: %v", err)
		}
		if pending >= 0 {
			t.Fatalf("the feedback's event has position %d while the lock is held, want it pending (< 0)", pending)
		}
		fbID := gid.ID(feedbackID).String()
		for _, e := range timeline(t, s, loop.Owner.Token, loop.Prototype.ID, nil) {
			if e.Subject != nil && e.Subject.ID == fbID {
				t.Fatalf("the timeline shows the pending event %+v", e)
			}
		}
		select {
		case a := <-done:
			t.Fatalf("the mutation answered before its event had a position: %+v, %v", a.r, a.err)
		default:
		}

		var last int64
		if err := lock.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM events").Scan(&last); err != nil {
			t.Fatal(err)
		}
		if err := lock.Rollback(); err != nil {
			t.Fatal(err)
		}
		a := <-done
		if a.err != nil {
			t.Fatal(a.err)
		}
		a.r.RequireOK(t)
		var seq int64
		if err := db.QueryRowContext(ctx, "SELECT seq FROM events WHERE subject_id = $1", feedbackID).Scan(&seq); err != nil {
			t.Fatal(err)
		}
		if seq != last+1 {
			t.Errorf("the event got position %d once the lock was free, want %d (after the last, %d)", seq, last+1, last)
		}
		found := false
		for _, e := range timeline(t, s, loop.Owner.Token, loop.Prototype.ID, nil) {
			found = found || (e.Subject != nil && e.Subject.ID == fbID)
		}
		if !found {
			t.Error("the numbered event is not on the timeline")
		}
	})
}

// TestPendingEventsAreNumberedByThePoll leaves an event pending, as a
// writer that lost the database right after its commit would: the
// broker's poll gives it its position, and the timeline shows it.
func TestPendingEventsAreNumberedByThePoll(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		if s.Backend != servertest.Postgres {
			t.Skip("SQLite numbers events in the writing transaction")
		}
		loop := s.NewLoop(t)
		ctx := context.Background()
		db := s.DB.SQL
		ws, err := gid.Parse(loop.Workspace.ID)
		if err != nil {
			t.Fatal(err)
		}
		proto, err := gid.Parse(loop.Prototype.ID)
		if err != nil {
			t.Fatal(err)
		}
		owner, err := gid.Parse(loop.Owner.ID)
		if err != nil {
			t.Fatal(err)
		}
		id := gid.New(gid.Event)
		if _, err := db.ExecContext(ctx, `INSERT INTO events (id, seq, kind, workspace_id, prototype_id, subject_id, actor_user_id, occurred_at)
			VALUES ($1, -$1::bigint, 'PROTOTYPE_UPDATED', $2, $3, $3, $4, now())`, int64(id), int64(ws), int64(proto), int64(owner)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the pending event numbered by the broker's poll", func() (bool, error) {
			var seq int64
			err := db.QueryRowContext(ctx, "SELECT seq FROM events WHERE id = $1", int64(id)).Scan(&seq)
			return seq > 0, err
		})
		found := false
		for _, e := range timeline(t, s, loop.Owner.Token, loop.Prototype.ID, nil) {
			found = found || e.ID == id.String()
		}
		if !found {
			t.Error("the numbered event is not on the timeline")
		}
	})
}

// TestLeaveFeedbackStatements holds a rated leaveFeedback that asks for
// columns of the feedback only to its statements (the token's identity is
// cached after the first request, see IdentityCache): the iteration with
// the viewer's participant and whether the prototype has rating rules
// (loadFeedbackTarget), the insert (the result is returned as written,
// not reloaded), the events (one statement for all of them, which on
// PostgreSQL also reads the webhooks that want them) and, on PostgreSQL,
// their numbering after the commit (one statement for the lock, the last
// position, the update and the NOTIFY). SQLite reads the last position
// and the webhooks in statements of their own. With a rating rule on the
// prototype, the rules are read (and locked) too, and with them the
// latest iteration and its mean rating. It cost 6 on PostgreSQL with the
// participant and the rules read on their own, 9 with authentication,
// the reload and the webhook lookup, 11 with the lock, last position,
// insert and notify in the mutation's transaction.
func TestLeaveFeedbackStatements(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		want := int64(4)
		if s.Backend == servertest.SQLite {
			want = 5
		}
		loop := s.NewLoop(t)
		// A rule of another prototype is not this one's to read.
		other := s.NewPrototype(t, loop.Owner.Token, loop.Workspace.ID)
		newAlertRule(t, s, loop.Owner.Token, other.ID, "RATING_BELOW", 3)
		s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil) // the participant, on first use
		for range 3 {
			before := s.Statements()
			s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, vars{"rating": 4})
			got := s.Statements() - before
			t.Logf("%s: leaveFeedback took %d statements", s.Backend, got)
			if got > want {
				t.Errorf("leaveFeedback took %d statements, want at most %d", got, want)
			}
		}
	})
}

// TestNumberingKeepsItsConnectionBetweenRounds makes the pool run dry
// between two rounds of numbering: a mutation that committed while a
// round was held up (by the events lock, taken from a connection of the
// test) waits for the next round, and by then every connection of the
// pool is taken and more are asked for, as under load. The next round
// runs all the same, on the connection the rounds kept, and the mutation
// answers. A round that asks the pool for its connection waits behind
// the other requests (database/sql hands a freed connection to a random
// waiter), and so does every mutation waiting for the round.
func TestNumberingKeepsItsConnectionBetweenRounds(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		if s.Backend != servertest.Postgres {
			t.Skip("SQLite numbers events in the mutation's own transaction")
		}
		// The events lock is on a connection of the pool that the test
		// keeps after releasing the lock, so that no round can have it.
		h := holdEventsLock(t, s)
		lock := h.lock
		ctx := context.Background()
		db := s.DB.SQL

		stamp := time.Now().UnixNano()
		first, _ := h.leaveFeedback(t, fmt.Sprintf("Feedback whose round waits for the lock %d", stamp))
		waitFor(t, "a numbering round waiting for the events lock", func() (bool, error) {
			var n int
			err := db.QueryRowContext(ctx,
				"SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", h.pid).Scan(&n)
			return n > 0, err
		})
		second, secondID := h.leaveFeedback(t, fmt.Sprintf("Feedback that waits for the next round %d", stamp))

		// Take every connection the pool has left, and keep asking for
		// more: a connection the first round gives back goes to the test.
		hogCtx, stopHog := context.WithCancel(ctx)
		hogDone := make(chan []*sql.Conn, 1)
		go func() {
			var held []*sql.Conn
			for hogCtx.Err() == nil {
				if c, err := db.Conn(hogCtx); err == nil {
					held = append(held, c)
				}
			}
			hogDone <- held
		}()
		release := sync.OnceFunc(func() {
			stopHog()
			for _, c := range <-hogDone {
				_ = c.Close()
			}
		})
		defer release()
		waitFor(t, "the pool taken, with a request waiting", func() (bool, error) {
			st := db.Stats()
			return st.InUse == st.MaxOpenConnections && st.WaitCount > 0, nil
		})
		waits := db.Stats().WaitCount
		waitFor(t, "the test waiting for a connection", func() (bool, error) {
			return db.Stats().WaitCount > waits, nil
		})

		if err := lock.Rollback(); err != nil {
			t.Fatal(err)
		}
		a := <-first
		if a.err != nil {
			t.Fatal(a.err)
		}
		a.r.RequireOK(t)
		select {
		case a := <-second:
			if a.err != nil {
				t.Fatal(a.err)
			}
			a.r.RequireOK(t)
		case <-time.After(5 * time.Second):
			release()
			<-second
			t.Fatal("the mutation that waited for the next round did not answer within 5 s while the pool was taken")
		}
		release()
		var seq int64
		if err := db.QueryRowContext(ctx, "SELECT seq FROM events WHERE subject_id = $1", secondID).Scan(&seq); err != nil {
			t.Fatal(err)
		}
		if seq <= 0 {
			t.Errorf("the event of the mutation that answered is still pending (seq %d)", seq)
		}
	})
}

package graph_test

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/protoloop/protoloop/ent/participant"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/graph"
	"github.com/protoloop/protoloop/server/servertest"
)

// A token's subscriptions share its identity, and with it the memo of a
// tested prototype's participant facts: a caller that comes while
// another's load is in flight waits for that load. The first caller
// leaving mid-load (its context cancelled) must not hand the second a
// "context canceled". PostgreSQL holds the load: its read waits for a
// lock on the participants table that the test holds.
func TestParticipantFactsOutliveTheCancellationOfTheCallerWhoLoadsThem(t *testing.T) {
	s := servertest.Start(t, servertest.Postgres)
	loop := s.NewLoop(t)
	s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil) // the owner takes part
	allow := privacy.DecisionContext(context.Background(), privacy.Allow)
	prototype, workspace, owner := parse(t, loop.Prototype.ID), parse(t, loop.Workspace.ID), parse(t, loop.Owner.ID)
	parts, err := s.DB.Client.Participant.Query().Where(participant.PrototypeID(prototype)).IDs(allow)
	if err != nil || len(parts) != 1 {
		t.Fatalf("the owner's participant: %v, %v", parts, err)
	}
	tester := viewer.Tester{Prototype: prototype, Workspace: workspace, Participant: parts[0]}
	id := viewer.NewIdentity(owner, 0, nil) // one identity, as a token's subscriptions share

	lock, err := s.DB.SQL.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback() //nolint:errcheck // rolled back below, or already
	if _, err := lock.Exec("LOCK TABLE " + participant.Table + " IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}

	type result struct {
		on, team map[gid.ID]bool
		err      error
	}
	load := func(ctx context.Context) <-chan result {
		ch := make(chan result, 1)
		go func() {
			on, team, err := graph.ParticipantFacts(ctx, s.DB.Client, id, tester)
			ch <- result{on, team, err}
		}()
		return ch
	}
	firstCtx, leave := context.WithCancel(allow)
	defer leave()
	first := load(firstCtx)
	eventually(t, "the first caller's read waits for the lock", "true", func() string {
		var n int
		if err := s.DB.SQL.QueryRow("SELECT count(*) FROM pg_locks WHERE relation = $1::regclass AND NOT granted",
			participant.Table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return strconv.FormatBool(n > 0)
	})
	second := load(allow)
	eventually(t, "the second caller waits for the first's load", "true", func() string {
		return strconv.FormatBool(waitingForAMemo())
	})

	leave()
	// A load cancelled with its caller ends at once (lib/pq has the
	// statement cancelled), and hands its error to the second caller: let
	// that happen before the lock goes. A load that outlives its caller
	// waits for the lock, and the grace only costs time.
	select {
	case <-first:
	case <-time.After(time.Second):
	}
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-second:
	case <-time.After(15 * time.Second):
		t.Fatal("the second caller got no facts in 15 s")
	}
	if r.err != nil {
		t.Fatalf("the second caller got %v; want the participants' facts", r.err)
	}
	if !r.on[parts[0]] || !r.team[parts[0]] {
		t.Errorf("the second caller got participants %v, team %v; want the owner's participant %v in both", r.on, r.team, parts[0])
	}
}

// parse parses a global ID.
func parse(t *testing.T, s string) gid.ID {
	t.Helper()
	id, err := gid.Parse(s)
	if err != nil {
		t.Fatalf("parse ID %q: %v", s, err)
	}
	return id
}

// waitingForAMemo reports whether a goroutine waits in
// viewer.Identity.Remember for another's load of the same memo.
func waitingForAMemo() bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		if strings.Contains(header, "[chan receive") && strings.Contains(g, "viewer.(*Identity).Remember(") {
			return true
		}
	}
	return false
}

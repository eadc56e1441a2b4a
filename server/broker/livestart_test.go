package broker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/broker"
	"github.com/protoloop/protoloop/server/servertest"
)

// A client subscribes from the last event it saw of its prototype, while
// other prototypes of the workspace have had events since: it has nothing
// to replay, and starts live. A subscription that does have events to
// replay (of its workspace, from further back, from before the broker
// started) still reads them from the table.
func TestASubscriptionFromItsTopicsLastEventStartsLiveAfterOtherTopicsEvents(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newWorld(t, s)
		// A prototype whose only events come before the broker starts.
		earlier := parseID(t, s.NewPrototype(t, w.loop.Owner.Token, w.loop.Workspace.ID).ID)
		crowded := parseID(t, s.NewPrototype(t, w.loop.Owner.Token, w.loop.Workspace.ID).ID)
		w.comment(t, w.loop.Owner.Token, 1) // and not the stream's last
		b, drv := start(t, s, broker.Options{Poll: time.Hour})
		beforeStart := w.stored(t)
		dispatchedUpTo(t, b, beforeStart[len(beforeStart)-1].Seq) // the broker knows where the stream stands

		w.comment(t, w.loop.Owner.Token, 2)
		other := s.NewPrototype(t, w.loop.Owner.Token, w.loop.Workspace.ID)
		s.NewPublishedIteration(t, w.loop.Owner.Token, other.ID)
		b.Wake()
		all := w.stored(t)
		dispatchedUpTo(t, b, all[len(all)-1].Seq)
		var mine, others []*ent.Event // after the broker started
		for _, e := range all[len(beforeStart):] {
			if e.PrototypeID != nil && *e.PrototypeID == w.prototype {
				mine = append(mine, e)
			} else {
				others = append(others, e)
			}
		}
		if len(mine) != 2 || len(others) == 0 || others[len(others)-1].Seq < mine[1].Seq {
			t.Fatalf("want 2 comments, then the other prototype's events; got %d and %d", len(mine), len(others))
		}

		ctx, cancel := context.WithCancel(w.ownerCtx(context.Background()))
		defer cancel()
		subscribe := func(r broker.Request, replays bool) <-chan *ent.Event {
			t.Helper()
			before := b.CatchUps()
			ch, err := b.Subscribe(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if replayed := b.CatchUps() != before; replayed != replays {
				t.Fatalf("subscription from %d of %v: replayed %v, want %v", r.After, r.Prototype, replayed, replays)
			}
			return ch
		}

		live := subscribe(broker.Request{Workspace: w.workspace, Prototype: w.prototype, After: mine[1].Seq}, false)
		// The workspace had events after that cursor: its subscription
		// replays them.
		workspace := subscribe(broker.Request{Workspace: w.workspace, After: mine[1].Seq}, true)
		sameSeqs(t, receive(t, workspace, len(others)), others[len(others)-countAfter(others, mine[1].Seq):])
		// From the prototype's second-to-last event: one to replay.
		back := subscribe(broker.Request{Workspace: w.workspace, Prototype: w.prototype, After: mine[0].Seq}, true)
		sameSeqs(t, receive(t, back, 1), mine[1:])
		// A prototype whose last event came before the broker started: the
		// broker has not seen it. The first subscriber from it reads the
		// prototype's last event from the table, once, and it and the
		// next ones start live; one from before that event replays it.
		eventsOf := func(prototype gid.ID) []*ent.Event {
			var es []*ent.Event
			for _, e := range beforeStart {
				if e.PrototypeID != nil && *e.PrototypeID == prototype {
					es = append(es, e)
				}
			}
			if len(es) == 0 {
				t.Fatal("creating a prototype recorded no event of it")
			}
			return es
		}
		earlierEvents := eventsOf(earlier)
		reads := drv.queries.Load()
		for range 3 {
			subscribe(broker.Request{Workspace: w.workspace, Prototype: earlier, After: earlierEvents[len(earlierEvents)-1].Seq}, false)
		}
		if n := drv.queries.Load() - reads; n != 1 {
			t.Errorf("3 subscriptions from a prototype's last event read the table %d times; want once", n)
		}
		// At once, as clients reconnecting after a restart: one reads, the
		// others wait for it.
		crowdedLast := eventsOf(crowded)
		reads, catchUps := drv.queries.Load(), b.CatchUps()
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				r := broker.Request{Workspace: w.workspace, Prototype: crowded, After: crowdedLast[len(crowdedLast)-1].Seq}
				if _, err := b.Subscribe(ctx, r); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n, c := drv.queries.Load()-reads, b.CatchUps()-catchUps; n != 1 || c != 0 {
			t.Errorf("20 subscriptions at once from a prototype's last event: %d reads of the table, %d catch-ups; want 1 and none", n, c)
		}
		early := subscribe(broker.Request{Workspace: w.workspace, Prototype: earlier, After: earlierEvents[0].Seq - 1}, true)
		sameSeqs(t, receive(t, early, len(earlierEvents)), earlierEvents)
		quiet(t, early, 20*time.Millisecond)
		quiet(t, live, 50*time.Millisecond)

		// The live subscription gets what comes next, and nothing twice.
		w.comment(t, w.loop.Owner.Token, 1)
		b.Wake()
		next := w.stored(t)[len(all):]
		for _, ch := range []<-chan *ent.Event{live, back} {
			sameSeqs(t, receive(t, ch, 1), next)
			quiet(t, ch, 20*time.Millisecond)
		}
		cancel()
		closed(t, live)
	})
}

// dispatchedUpTo waits until b's tailer has dispatched position seq.
func dispatchedUpTo(t testing.TB, b *broker.Broker, seq int64) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for _, dispatched := b.Positions(); dispatched < seq; _, dispatched = b.Positions() {
		if time.Now().After(deadline) {
			t.Fatalf("the tailer dispatched up to %d, not %d", dispatched, seq)
		}
		time.Sleep(time.Millisecond)
	}
}

// countAfter counts the events of es after position seq.
func countAfter(es []*ent.Event, seq int64) int {
	n := 0
	for _, e := range es {
		if e.Seq > seq {
			n++
		}
	}
	return n
}

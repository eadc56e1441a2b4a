package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/graph"
	"github.com/protoloop/protoloop/server/broker"
	"github.com/protoloop/protoloop/server/servertest"
)

// wait bounds every wait for an event: far above what delivery takes, so
// that only a lost event reaches it.
const wait = 15 * time.Second

// world is a server with a feedback loop and a piece of feedback to
// comment on, which is the quickest way to write many events through
// the API.
type world struct {
	s         *servertest.Server
	loop      servertest.Loop
	feedback  string
	workspace gid.ID
	prototype gid.ID
	owner     gid.ID
}

func newWorld(t *testing.T, s *servertest.Server) *world {
	t.Helper()
	w := &world{s: s, loop: s.NewLoop(t)}
	w.feedback = s.LeaveFeedback(t, w.loop.Owner.Token, w.loop.Iteration.ID, nil)
	w.workspace = parseID(t, w.loop.Workspace.ID)
	w.prototype = parseID(t, w.loop.Prototype.ID)
	w.owner = parseID(t, w.loop.Owner.ID)
	return w
}

func parseID(t testing.TB, s string) gid.ID {
	t.Helper()
	id, err := gid.Parse(s)
	if err != nil {
		t.Fatalf("parse ID %q: %v", s, err)
	}
	return id
}

// comment writes n COMMENT_ADDED events in one transaction, as token's
// holder: one mutation operation with n fields.
func (w *world) comment(t testing.TB, token string, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("mutation($f: ID!) {")
	for i := range n {
		fmt.Fprintf(&b, " c%d: addComment(input: {feedbackID: $f, body: \"comment %d\"}) { id }", i, i)
	}
	b.WriteString(" }")
	w.s.Do(t, token, b.String(), map[string]any{"f": w.feedback}).RequireOK(t)
}

// ownerCtx is a context carrying the loop owner's identity, as the
// server would build it from a token (without the token).
func (w *world) ownerCtx(ctx context.Context) context.Context {
	return viewer.NewContext(ctx, viewer.NewIdentity(w.owner, 0, map[gid.ID]viewer.Role{w.workspace: viewer.Owner}))
}

// stored returns the events of the world's workspace in the table, in
// seq order.
func (w *world) stored(t testing.TB) []*ent.Event {
	t.Helper()
	events, err := w.s.DB.Client.Event.Query().
		Where(event.WorkspaceID(w.workspace)).
		Order(ent.Asc(event.FieldSeq)).
		All(privacy.DecisionContext(context.Background(), privacy.Allow))
	if err != nil {
		t.Fatalf("read stored events: %v", err)
	}
	return events
}

// countingDriver counts the queries a broker makes: all of them, and
// apart those made under a context from counted (a subscription's, which
// its catch-up reads under; the tailer's never are).
type countingDriver struct {
	dialect.Driver
	queries atomic.Int64
	counted atomic.Int64
}

// countedKey marks a context whose queries countingDriver counts apart.
type countedKey struct{}

// counted returns ctx marked so that countingDriver counts the queries
// made under it, or under a context derived from it, apart.
func counted(ctx context.Context) context.Context {
	return context.WithValue(ctx, countedKey{}, true)
}

func (d *countingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.queries.Add(1)
	if ctx.Value(countedKey{}) != nil {
		d.counted.Add(1)
	}
	return d.Driver.Query(ctx, query, args, v)
}

// start runs a broker of the test's own over s's database until the test
// ends, and checks then that it stopped and closed every subscription.
func start(t *testing.T, s *servertest.Server, opts broker.Options) (*broker.Broker, *countingDriver) {
	t.Helper()
	drv := &countingDriver{Driver: entsql.OpenDB(s.DB.Dialect, s.DB.SQL)}
	b := broker.New(ent.NewClient(ent.Driver(drv)), opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(wait):
			t.Errorf("Run still running %v after its context ended", wait)
		}
		if n := b.Subscribers(); n != 0 {
			t.Errorf("%d subscriptions still open after Run returned", n)
		}
	})
	return b, drv
}

// receive reads n events from ch, failing the test if they do not come.
func receive(t testing.TB, ch <-chan *ent.Event, n int) []*ent.Event {
	t.Helper()
	got := make([]*ent.Event, 0, n)
	timeout := time.After(wait)
	for len(got) < n {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d of %d events", len(got), n)
			}
			got = append(got, e)
		case <-timeout:
			t.Fatalf("received %d of %d events in %v", len(got), n, wait)
		}
	}
	return got
}

// quiet checks that ch delivers nothing more for a moment.
func quiet(t testing.TB, ch <-chan *ent.Event, d time.Duration) {
	t.Helper()
	select {
	case e, ok := <-ch:
		if ok {
			t.Fatalf("unexpected event seq %d (%s)", e.Seq, e.Kind)
		}
		t.Fatal("channel closed")
	case <-time.After(d):
	}
}

// closed waits for ch to be closed, draining it; it returns what was
// still delivered.
func closed(t testing.TB, ch <-chan *ent.Event) []*ent.Event {
	t.Helper()
	var rest []*ent.Event
	timeout := time.After(wait)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return rest
			}
			rest = append(rest, e)
		case <-timeout:
			t.Fatalf("channel still open after %v", wait)
		}
	}
}

// sameSeqs checks that got are exactly the events of want, in order.
func sameSeqs(t testing.TB, got, want []*ent.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Seq != want[i].Seq || got[i].ID != want[i].ID {
			t.Fatalf("event %d: got seq %d (%s), want seq %d (%s)", i, got[i].Seq, got[i].ID, want[i].Seq, want[i].ID)
		}
	}
}

func TestSubscriptionReplaysThenStreamsEveryEventOnce(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newWorld(t, s)
		b, _ := start(t, s, broker.Options{Poll: time.Hour})
		w.comment(t, w.loop.Owner.Token, 5)
		before := w.stored(t)

		ctx, cancel := context.WithCancel(w.ownerCtx(context.Background()))
		defer cancel()
		ch, err := b.Subscribe(ctx, broker.Request{Workspace: w.workspace})
		if err != nil {
			t.Fatal(err)
		}
		sameSeqs(t, receive(t, ch, len(before)), before)

		// Live: nothing wakes this broker but Wake (Poll is an hour and the
		// server publishes to its own broker).
		w.comment(t, w.loop.Owner.Token, 3)
		b.Wake()
		all := w.stored(t)
		sameSeqs(t, receive(t, ch, 3), all[len(before):])
		quiet(t, ch, 50*time.Millisecond)

		// From a cursor, a prototype's events, of one kind.
		after := all[len(before)].Seq
		pch, err := b.Subscribe(ctx, broker.Request{Workspace: w.workspace, Prototype: w.prototype, After: after, Kinds: []event.Kind{event.KindCOMMENT_ADDED}})
		if err != nil {
			t.Fatal(err)
		}
		sameSeqs(t, receive(t, pch, 2), all[len(before)+1:])
		quiet(t, pch, 50*time.Millisecond)

		cancel()
		closed(t, ch)
		closed(t, pch)
	})
}

func TestASubscriptionFromTheStreamsEndStartsLiveWithoutReadingTheTable(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newWorld(t, s)
		b, drv := start(t, s, broker.Options{Poll: time.Hour})
		w.comment(t, w.loop.Owner.Token, 3)
		b.Wake()
		stored := w.stored(t)
		end := stored[len(stored)-1].Seq
		dispatchedUpTo(t, b, end)

		// Only the subscription's own reads are counted: the tailer may
		// read for the wake-up above while the window below is open (its
		// start may have read the stream's end after the comments, so
		// that the wait above ends before that read).
		ctx, cancel := context.WithCancel(counted(w.ownerCtx(context.Background())))
		defer cancel()
		ch, err := b.Subscribe(ctx, broker.Request{Workspace: w.workspace, Prototype: w.prototype, After: end})
		if err != nil {
			t.Fatal(err)
		}
		// A replay would read the table at once, in a goroutine of its
		// own, under the subscription's context.
		quiet(t, ch, 100*time.Millisecond)
		if n := drv.counted.Load(); n != 0 {
			t.Errorf("subscribing from the last dispatched event read the table %d times; want none", n)
		}

		// Live delivery picks it up from the cursor, and a subscription from
		// further back is still replayed.
		w.comment(t, w.loop.Owner.Token, 2)
		b.Wake()
		all := w.stored(t)
		sameSeqs(t, receive(t, ch, 2), all[len(stored):])
		back, err := b.Subscribe(ctx, broker.Request{Workspace: w.workspace, Prototype: w.prototype, After: stored[len(stored)-2].Seq})
		if err != nil {
			t.Fatal(err)
		}
		sameSeqs(t, receive(t, back, 3), all[len(stored)-1:])
		quiet(t, ch, 50*time.Millisecond)
		quiet(t, back, 50*time.Millisecond)

		cancel()
		closed(t, ch)
		closed(t, back)
	})
}

func TestWakeUpsCoalesceAndNeverBlock(t *testing.T) {
	s := servertest.Start(t, servertest.SQLite)
	b, drv := start(t, s, broker.Options{Poll: time.Hour})
	// Let Run read where the stream stands.
	deadline := time.Now().Add(wait)
	for drv.queries.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	before := drv.queries.Load()

	const wakers, wakes = 10, 1000
	began := time.Now()
	var wg sync.WaitGroup
	for range wakers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range wakes {
				b.Wake()
				b.Publish(context.Background(), nil)
			}
		}()
	}
	wg.Wait()
	took := time.Since(began)
	time.Sleep(100 * time.Millisecond) // the tailer reads once or twice more
	reads := drv.queries.Load() - before
	t.Logf("%d wake-ups in %v caused %d reads", 2*wakers*wakes, took, reads)
	if reads < 1 || reads > 2*wakers*wakes/10 {
		t.Errorf("%d wake-ups caused %d reads of the table: want at least one, and far fewer than wake-ups", 2*wakers*wakes, reads)
	}
}

func TestSlowSubscriberIsCaughtUpFromTheTable(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newWorld(t, s)
		b, _ := start(t, s, broker.Options{Poll: time.Hour, Buffer: 2, Page: 3})
		ctx, cancel := context.WithCancel(w.ownerCtx(context.Background()))
		defer cancel()
		start := w.stored(t)
		last := start[len(start)-1].Seq

		slow, err := b.Subscribe(ctx, broker.Request{Workspace: w.workspace, After: last})
		if err != nil {
			t.Fatal(err)
		}
		fast, err := b.Subscribe(ctx, broker.Request{Workspace: w.workspace, After: last})
		if err != nil {
			t.Fatal(err)
		}
		// The fast subscriber keeps up while the slow one reads nothing: a
		// full buffer never holds the tailer up.
		const commits, per = 6, 5
		var got []*ent.Event
		for range commits {
			w.comment(t, w.loop.Owner.Token, per)
			b.Wake()
			got = append(got, receive(t, fast, per)...)
		}
		want := w.stored(t)[len(start):]
		sameSeqs(t, got, want)

		// The slow one, overflowed many times over, gets every event once,
		// in order, at its own pace.
		var slowGot []*ent.Event
		for len(slowGot) < len(want) {
			slowGot = append(slowGot, receive(t, slow, 1)...)
			time.Sleep(time.Millisecond)
		}
		sameSeqs(t, slowGot, want)
		quiet(t, slow, 50*time.Millisecond)

		// And it rejoined live delivery.
		w.comment(t, w.loop.Owner.Token, 1)
		b.Wake()
		sameSeqs(t, receive(t, slow, 1), w.stored(t)[len(start)+len(want):])
	})
}

func TestSubscriptionsEndWithTheirContextAndLeakNothing(t *testing.T) {
	s := servertest.Start(t, servertest.SQLite)
	w := newWorld(t, s)
	b, _ := start(t, s, broker.Options{Poll: 10 * time.Millisecond})
	base := w.ownerCtx(context.Background())
	baseline := runtime.NumGoroutine()

	const cycles = 1000
	for i := range cycles {
		ctx, cancel := context.WithCancel(base)
		ch, err := b.Subscribe(ctx, broker.Request{Workspace: w.workspace, Prototype: w.prototype})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			receive(t, ch, 1) // half of them end in live delivery, half while replaying
		}
		cancel()
		closed(t, ch)
	}
	deadline := time.Now().Add(wait)
	for b.Subscribers() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := b.Subscribers(); n != 0 {
		t.Fatalf("%d subscriptions open after %d ended", n, cycles)
	}
	settleGoroutines(t, baseline, wait)
}

// settleGoroutines fails the test if the number of goroutines does not
// come back to baseline, showing those that are left.
func settleGoroutines(t *testing.T, baseline int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline {
		var buf bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
		t.Fatalf("%d goroutines, %d before:\n%s", n, baseline, buf.String())
	}
}

func TestAccessRevokedMidSubscriptionStopsDelivery(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newWorld(t, s)
		b, _ := start(t, s, broker.Options{
			Poll:       20 * time.Millisecond,
			Revalidate: 20 * time.Millisecond,
			Identities: graph.NewReauthenticator(s.DB.Client),
		})
		subscribe := func(t *testing.T, token string, r broker.Request) <-chan *ent.Event {
			t.Helper()
			id, err := graph.Authenticate(context.Background(), s.DB.Client, token)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(viewer.NewContext(context.Background(), id))
			t.Cleanup(cancel)
			r.After = w.stored(t)[len(w.stored(t))-1].Seq
			ch, err := b.Subscribe(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			return ch
		}

		t.Run("a removed member", func(t *testing.T) {
			member := s.NewUser(t, "Viewer")
			membership := s.AddMember(t, w.loop.Owner.Token, w.loop.Workspace.ID, member.Email, "VIEWER")
			ch := subscribe(t, member.Token, broker.Request{Workspace: w.workspace})
			w.comment(t, w.loop.Owner.Token, 1)
			receive(t, ch, 1)

			s.Do(t, w.loop.Owner.Token, `mutation($id: ID!) { removeMember(id: $id) { id } }`,
				map[string]any{"id": membership}).RequireOK(t)
			w.comment(t, w.loop.Owner.Token, 2)
			for _, e := range closed(t, ch) {
				t.Errorf("after their removal, the member got %s (seq %d)", e.Kind, e.Seq)
			}
		})

		t.Run("a member whose role changed", func(t *testing.T) {
			member := s.NewUser(t, "Maker")
			membership := s.AddMember(t, w.loop.Owner.Token, w.loop.Workspace.ID, member.Email, "MAKER")
			ch := subscribe(t, member.Token, broker.Request{Workspace: w.workspace})
			s.Do(t, w.loop.Owner.Token, `mutation($id: ID!) { setMemberRole(id: $id, role: VIEWER) { id } }`,
				map[string]any{"id": membership}).RequireOK(t)
			w.comment(t, w.loop.Owner.Token, 1)
			// Still a member, but with other rights than the events'
			// responses would be built with: the subscription ends, and
			// the client subscribes again as a viewer.
			for _, e := range closed(t, ch) {
				if e.Kind != event.KindMEMBER_ROLE_CHANGED {
					t.Errorf("after their demotion, the member got %s (seq %d)", e.Kind, e.Seq)
				}
			}
		})

		t.Run("a token logged out", func(t *testing.T) {
			member := s.NewMember(t, w.loop.Owner.Token, w.loop.Workspace.ID, "VIEWER")
			ch := subscribe(t, member.Token, broker.Request{Workspace: w.workspace, Prototype: w.prototype})
			w.comment(t, w.loop.Owner.Token, 1)
			receive(t, ch, 1)
			s.Do(t, member.Token, `mutation { logOut }`, nil).RequireOK(t)
			closed(t, ch)
		})
	})
}

// countedIdentities counts the token checks and the identity reloads the
// broker makes.
type countedIdentities struct {
	broker.Identities
	checks  atomic.Int32
	reloads atomic.Int32
}

func (c *countedIdentities) Reload(ctx context.Context, id *viewer.Identity) (*viewer.Identity, error) {
	c.reloads.Add(1)
	return c.Identities.Reload(ctx, id)
}

func (c *countedIdentities) Revoked(ctx context.Context, tokens []gid.ID) ([]gid.ID, error) {
	c.checks.Add(1)
	return c.Identities.Revoked(ctx, tokens)
}

// holders stands for the server's websockets: tokens held outside the
// broker.
type holders struct {
	tokens  []gid.ID
	revoked chan []gid.ID
}

func (h *holders) Tokens() []gid.ID { return h.tokens }

func (h *holders) Revoke(tokens []gid.ID) { h.revoked <- tokens }

func TestARecheckCoversSubscriptionsAndHoldersInOneQuery(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newWorld(t, s)
		subscriber := s.NewMember(t, w.loop.Owner.Token, w.loop.Workspace.ID, "VIEWER")
		holder := s.NewMember(t, w.loop.Owner.Token, w.loop.Workspace.ID, "VIEWER")
		authenticate := func(token string) *viewer.Identity {
			id, err := graph.Authenticate(context.Background(), s.DB.Client, token)
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		held := &holders{tokens: []gid.ID{authenticate(holder.Token).TokenID}, revoked: make(chan []gid.ID, 1)}
		ids := &countedIdentities{Identities: graph.NewReauthenticator(s.DB.Client)}
		// The periodic check is an hour away: only Recheck checks.
		b, _ := start(t, s, broker.Options{Revalidate: time.Hour, Identities: ids, Holders: held})
		ctx, cancel := context.WithCancel(viewer.NewContext(context.Background(), authenticate(subscriber.Token)))
		t.Cleanup(cancel)
		stored := w.stored(t)
		ch, err := b.Subscribe(ctx, broker.Request{Workspace: w.workspace, After: stored[len(stored)-1].Seq})
		if err != nil {
			t.Fatal(err)
		}

		s.Do(t, subscriber.Token, `mutation { logOut }`, nil).RequireOK(t)
		s.Do(t, holder.Token, `mutation { logOut }`, nil).RequireOK(t)
		b.Recheck()
		closed(t, ch)
		select {
		case got := <-held.revoked:
			if !slices.Contains(got, held.tokens[0]) {
				t.Errorf("the holder was handed %v, without its token %v", got, held.tokens[0])
			}
		case <-time.After(wait):
			t.Fatalf("the holder's revoked token was not handed back in %v", wait)
		}
		if n := ids.checks.Load(); n != 1 {
			t.Errorf("a recheck made %d token checks, want 1 for the subscriptions' and the holders' tokens", n)
		}
	})
}

// A subscription whose identity came from the identity cache
// (Request.Cached) is read again from the database only when an
// invalidation may concern it: one that came before it registered, one
// naming what its identity lists, or one naming nothing (which rechecks
// every subscriber, however its identity was read).
func TestCachedIdentitiesAreRecheckedOnlyWhenAnInvalidationConcernsThem(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newWorld(t, s)
		ids := &countedIdentities{Identities: graph.NewReauthenticator(s.DB.Client)}
		b, _ := start(t, s, broker.Options{Poll: 20 * time.Millisecond, Revalidate: time.Hour, Identities: ids})
		// subscribe subscribes token's holder with the identity it had
		// when it was looked up, as the cache would hand it out, to the
		// events after the last stored one.
		subscribe := func(t *testing.T, id *viewer.Identity, moved bool) <-chan *ent.Event {
			t.Helper()
			ctx, cancel := context.WithCancel(viewer.NewContext(context.Background(), id))
			t.Cleanup(cancel)
			stored := w.stored(t)
			ch, err := b.Subscribe(ctx, broker.Request{Workspace: w.workspace, After: stored[len(stored)-1].Seq,
				Cached: func() bool { return moved }})
			if err != nil {
				t.Fatal(err)
			}
			return ch
		}
		lookUp := func(t *testing.T, token string) *viewer.Identity {
			t.Helper()
			id, err := graph.Authenticate(context.Background(), s.DB.Client, token)
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		// removed returns the identity of a member as looked up before
		// their removal, which is committed and dispatched.
		removed := func(t *testing.T) *viewer.Identity {
			t.Helper()
			member := s.NewUser(t, "Member")
			membership := s.AddMember(t, w.loop.Owner.Token, w.loop.Workspace.ID, member.Email, "VIEWER")
			stale := lookUp(t, member.Token)
			s.Do(t, w.loop.Owner.Token, `mutation($id: ID!) { removeMember(id: $id) { id } }`,
				map[string]any{"id": membership}).RequireOK(t)
			b.Wake()
			stored := w.stored(t)
			dispatchedUpTo(t, b, stored[len(stored)-1].Seq)
			return stale
		}

		t.Run("an unmoved cache and no invalidation: no reload", func(t *testing.T) {
			member := s.NewMember(t, w.loop.Owner.Token, w.loop.Workspace.ID, "VIEWER")
			before := ids.reloads.Load()
			ch := subscribe(t, lookUp(t, member.Token), false)
			b.IdentitiesChanged([]gid.ID{w.prototype}) // names nothing it lists
			w.comment(t, w.loop.Owner.Token, 1)
			receive(t, ch, 1)
			if n := ids.reloads.Load() - before; n != 0 {
				t.Errorf("the subscription's identity was reloaded %d times, want 0", n)
			}
		})

		t.Run("a moved cache: one reload before anything is delivered", func(t *testing.T) {
			stale := removed(t)
			before := ids.reloads.Load()
			ch := subscribe(t, stale, true)
			w.comment(t, w.loop.Owner.Token, 1)
			for _, e := range closed(t, ch) {
				t.Errorf("after their removal, the member got %s (seq %d)", e.Kind, e.Seq)
			}
			if n := ids.reloads.Load() - before; n != 1 {
				t.Errorf("the subscription's identity was reloaded %d times, want 1", n)
			}
		})

		t.Run("an invalidation naming the user after the registration", func(t *testing.T) {
			stale := removed(t)
			ch := subscribe(t, stale, false)
			b.IdentitiesChanged([]gid.ID{stale.UserID})
			w.comment(t, w.loop.Owner.Token, 1)
			for _, e := range closed(t, ch) {
				t.Errorf("after their removal, the member got %s (seq %d)", e.Kind, e.Seq)
			}
		})

		t.Run("an invalidation naming nothing after the registration", func(t *testing.T) {
			stale := removed(t)
			ch := subscribe(t, stale, false)
			b.IdentitiesChanged(nil)
			w.comment(t, w.loop.Owner.Token, 1)
			for _, e := range closed(t, ch) {
				t.Errorf("after their removal, the member got %s (seq %d)", e.Kind, e.Seq)
			}
			// Read from the database since, it may still have missed the
			// announcements the invalidation stands for: each one naming
			// nothing reloads it once.
			member := s.NewMember(t, w.loop.Owner.Token, w.loop.Workspace.ID, "VIEWER")
			ch = subscribe(t, lookUp(t, member.Token), false)
			b.IdentitiesChanged(nil)
			w.comment(t, w.loop.Owner.Token, 1)
			receive(t, ch, 1)
			before := ids.reloads.Load()
			b.IdentitiesChanged(nil)
			w.comment(t, w.loop.Owner.Token, 1)
			receive(t, ch, 1)
			if n := ids.reloads.Load() - before; n != 1 {
				t.Errorf("an identity read from the database since was reloaded %d times more, want 1", n)
			}
		})
	})
}

// TestMemoryPerIdleSubscriber measures what an idle subscription costs the
// broker, and how long one event takes to reach all of them. It holds
// 10,000 subscriptions to one prototype (1,000 with -short).
func TestMemoryPerIdleSubscriber(t *testing.T) {
	n := 10_000
	if testing.Short() {
		n = 1_000
	}
	s := servertest.Start(t, servertest.SQLite)
	w := newWorld(t, s)
	b, _ := start(t, s, broker.Options{Poll: time.Hour})
	stored := w.stored(t)
	req := broker.Request{Workspace: w.workspace, Prototype: w.prototype, After: stored[len(stored)-1].Seq}

	// The subscriptions' contexts are the transport's, not the broker's.
	base := w.ownerCtx(context.Background())
	ctxs := make([]context.Context, n)
	cancels := make([]context.CancelFunc, n)
	for i := range n {
		ctxs[i], cancels[i] = context.WithCancel(base)
	}
	defer func() {
		for _, cancel := range cancels {
			cancel()
		}
	}()
	goroutines := runtime.NumGoroutine()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	chans := make([]<-chan *ent.Event, n)
	for i := range n {
		ch, err := b.Subscribe(ctxs[i], req)
		if err != nil {
			t.Fatal(err)
		}
		chans[i] = ch
	}
	settleGoroutines(t, goroutines, 2*time.Minute) // every replay is over: they are idle
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / int64(n)
	t.Logf("%d idle subscriptions: %d bytes of heap each, no goroutine", n, per)
	if per > 4<<10 {
		t.Errorf("an idle subscription costs %d bytes of heap; want under 4 KiB", per)
	}

	began := time.Now()
	w.comment(t, w.loop.Owner.Token, 1)
	committed := time.Since(began)
	b.Wake()
	for _, ch := range chans {
		receive(t, ch, 1)
	}
	t.Logf("one event to %d subscribers: %v after its commit", n, time.Since(began)-committed)

	for _, cancel := range cancels {
		cancel()
	}
	for _, ch := range chans {
		closed(t, ch)
	}
}

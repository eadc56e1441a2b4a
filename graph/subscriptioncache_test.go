package graph_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/graph"
	"github.com/protoloop/protoloop/server/servertest"
)

// A websocket's subscription takes its caller's identity from the
// identity cache, where the connection_init put it, and the broker
// rechecks it from the database when an invalidation came before its
// registration or names it after. A member removed at either moment
// gets nothing more: the subscription completes, as one whose member is
// removed while it runs always has.
func TestSubscriptionsFromTheIdentityCacheAreRechecked(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		fb := s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)
		workspace, err := gid.Parse(loop.Workspace.ID)
		if err != nil {
			t.Fatal(err)
		}
		// marked returns the workspace subscription with a marker of its
		// own, for OnCachedSubscriber.
		marked := func(t *testing.T) (document, marker string) {
			marker = fmt.Sprintf("cached-subscriber-%s-%s-%d", s.Backend, t.Name(), time.Now().UnixNano())
			return liveWorkspaceEvents + "\n# " + marker + "\n", marker
		}
		remove := func(t *testing.T, membership string) {
			s.Do(t, loop.Owner.Token, `mutation($id: ID!) { removeMember(id: $id) { id } }`,
				map[string]any{"id": membership}).RequireOK(t)
		}

		t.Run("a member removed between the cache hit and the registration gets nothing", func(t *testing.T) {
			member := s.NewUser(t, "Member")
			membership := s.AddMember(t, loop.Owner.Token, loop.Workspace.ID, member.Email, "VIEWER")
			c := mustDialLive(t, s.URL, 0, member.Token)
			after := lastCursor(t, s, loop.Owner.Token, loop.Prototype.ID)
			document, marker := marked(t)
			var hits atomic.Int32
			graph.OnCachedSubscriber(t, marker, func(context.Context) {
				hits.Add(1)
				// The removal commits, its event is numbered and the
				// broker dispatches it, all before the subscription
				// registers: the membership events' pause cannot reach
				// it, and the replay after the cursor would hand the
				// stale identity the removal and what follows.
				remove(t, membership)
				awaitDispatched(t, s, lastEventSeq(t, s, workspace, event.KindMEMBER_REMOVED))
			})
			if err := c.subscribe("1", document, map[string]any{"w": loop.Workspace.ID, "after": after}); err != nil {
				t.Fatal(err)
			}
			s.AddComment(t, loop.Owner.Token, fb, "")
			c.mustComplete(t, "1")
			if hits.Load() != 1 {
				t.Fatalf("the subscription was served from the cache %d times, want 1", hits.Load())
			}
		})

		t.Run("a member removed after the registration gets nothing more", func(t *testing.T) {
			member := s.NewUser(t, "Member")
			membership := s.AddMember(t, loop.Owner.Token, loop.Workspace.ID, member.Email, "VIEWER")
			c := mustDialLive(t, s.URL, 1, member.Token)
			document, marker := marked(t)
			var hits atomic.Int32
			graph.OnCachedSubscriber(t, marker, func(context.Context) { hits.Add(1) })
			if err := c.subscribe("1", document, map[string]any{"w": loop.Workspace.ID, "after": lastCursor(t, s, loop.Owner.Token, loop.Prototype.ID)}); err != nil {
				t.Fatal(err)
			}
			s.AddComment(t, loop.Owner.Token, fb, "")
			for c.mustNext(t, "1").Kind != "COMMENT_ADDED" { // after the workspace's membership events, say
			}
			remove(t, membership)
			s.AddComment(t, loop.Owner.Token, fb, "")
			c.mustComplete(t, "1")
			if hits.Load() != 1 {
				t.Fatalf("the subscription was served from the cache %d times, want 1", hits.Load())
			}
		})

		// endsBefore checks that operation 1 completes, with no event of
		// the kind before it (the change's own event may come).
		endsBefore := func(t *testing.T, c *liveClient, kind string) {
			t.Helper()
			for {
				m, err := c.read(liveWait)
				if err != nil {
					t.Fatal(err)
				}
				if m.Type == "complete" && m.ID == "1" {
					return
				}
				if (m.Type != "next" && m.Type != "data") || strings.Contains(string(m.Payload), kind) {
					t.Fatalf("got %s %s, want the operation to complete", m.Type, m.Payload)
				}
			}
		}

		// The events' responses are built as the identity the subscription
		// started with: one whose rights change ends, and its client
		// subscribes again as who it is now.
		t.Run("a member demoted while subscribed gets nothing more", func(t *testing.T) {
			member := s.NewUser(t, "Maker")
			membership := s.AddMember(t, loop.Owner.Token, loop.Workspace.ID, member.Email, "MAKER")
			c := mustDialLive(t, s.URL, 1, member.Token)
			if err := c.subscribe("1", liveWorkspaceEvents, map[string]any{"w": loop.Workspace.ID, "after": lastCursor(t, s, loop.Owner.Token, loop.Prototype.ID)}); err != nil {
				t.Fatal(err)
			}
			s.AddComment(t, loop.Owner.Token, fb, "")
			for c.mustNext(t, "1").Kind != "COMMENT_ADDED" {
			}
			s.Do(t, loop.Owner.Token, `mutation($id: ID!) { setMemberRole(id: $id, role: VIEWER) { id } }`,
				map[string]any{"id": membership}).RequireOK(t)
			s.AddComment(t, loop.Owner.Token, fb, "")
			endsBefore(t, c, "COMMENT_ADDED")
		})

		// No membership event names a tester: only the identity change's
		// announcement (IdentityCache.OnInvalidate → IdentitiesChanged)
		// rechecks it.
		t.Run("a tester whose prototype closes its feedback gets nothing more", func(t *testing.T) {
			owner := loop.Owner.Token
			s.Do(t, owner, `mutation($id: ID!) { updatePrototype(id: $id, input: {openFeedback: true}) { id } }`,
				map[string]any{"id": loop.Prototype.ID}).RequireOK(t)
			_, secret := newInvite(t, s, owner, loop.Prototype.ID, nil)
			guest, _ := newGuestOf(t, s, secret, "Gus")
			c := mustDialLive(t, s.URL, 1, guest)
			if err := c.subscribe("1", livePrototypeEvents, map[string]any{"p": loop.Prototype.ID, "after": lastCursor(t, s, owner, loop.Prototype.ID)}); err != nil {
				t.Fatal(err)
			}
			s.LeaveFeedback(t, guest, loop.Iteration.ID, nil)
			for c.mustNext(t, "1").Kind != "FEEDBACK_ADDED" {
			}
			s.Do(t, owner, `mutation($id: ID!) { updatePrototype(id: $id, input: {openFeedback: false}) { id } }`,
				map[string]any{"id": loop.Prototype.ID}).RequireOK(t)
			s.LeaveFeedback(t, guest, loop.Iteration.ID, nil)
			endsBefore(t, c, "FEEDBACK_ADDED")
		})

		t.Run("a subscription served from the cache reads no identity", func(t *testing.T) {
			member := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
			c := mustDialLive(t, s.URL, 0, member.Token)
			after := lastCursor(t, s, loop.Owner.Token, loop.Prototype.ID)
			document, marker := marked(t)
			var hits atomic.Int32
			graph.OnCachedSubscriber(t, marker, func(context.Context) { hits.Add(1) })
			before := s.Statements()
			if err := c.subscribe("1", document, map[string]any{"w": loop.Workspace.ID, "after": after}); err != nil {
				t.Fatal(err)
			}
			// The operation is set up once the replay has begun, and it
			// has nothing to replay: a NEXT after a comment marks the end
			// of the set-up without a statement of its own (seq and kind
			// are the event's columns).
			awaitSubscribers(t, s, 1)
			spent := s.Statements() - before
			s.AddComment(t, loop.Owner.Token, fb, "")
			c.mustNext(t, "1")
			// The workspace, read as the caller to check it may be seen:
			// the identity is the cache's, and the broker's reads are not
			// requests'.
			if spent != 1 || hits.Load() != 1 {
				t.Errorf("subscribing spent %d statements with %d cache hits, want 1 statement (the workspace) and 1 hit", spent, hits.Load())
			}
		})
	})
}

// lastEventSeq returns the position of the workspace's last event of the
// kind, once it has one.
func lastEventSeq(t testing.TB, s *servertest.Server, workspace gid.ID, kind event.Kind) int64 {
	t.Helper()
	deadline := time.Now().Add(liveWait)
	for time.Now().Before(deadline) {
		e, err := s.DB.Client.Event.Query().
			Where(event.WorkspaceID(workspace), event.KindEQ(kind)).
			Order(ent.Desc(event.FieldID)).
			First(privacy.DecisionContext(context.Background(), privacy.Allow))
		if err != nil {
			t.Error(err)
			return 0
		}
		if e.Seq > 0 { // numbered: see broker.NumberSQL
			return e.Seq
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("the last %s event was not numbered in %v", kind, liveWait)
	return 0
}

// awaitDispatched waits until the server's broker has handed out the
// events up to seq (protoloop_broker_dispatched_seq).
func awaitDispatched(t testing.TB, s *servertest.Server, seq int64) {
	t.Helper()
	awaitMetric(t, s, "protoloop_broker_dispatched_seq", float64(seq))
}

// awaitSubscribers waits until the server has n subscriptions open.
func awaitSubscribers(t testing.TB, s *servertest.Server, n int) {
	t.Helper()
	awaitMetric(t, s, "protoloop_subscriptions_active", float64(n))
}

// awaitMetric waits until the server's metric name reaches at least
// want. It reports failures with t.Error: it may run on the server's
// goroutines.
func awaitMetric(t testing.TB, s *servertest.Server, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(liveWait)
	for {
		got, err := metric(s, name)
		if err != nil {
			t.Error(err)
			return
		}
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s is %v after %v, want %v", name, got, liveWait, want)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// metric reads one metric from the server's admin listener.
func metric(s *servertest.Server, name string) (float64, error) {
	resp, err := http.Get(s.AdminURL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no metric %s", name)
}

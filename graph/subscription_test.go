package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/servertest"
	"github.com/protoloop/protoloop/server/storage"
)

// liveWait bounds a wait for a message that must come: far above what
// delivery takes, so that only a lost event reaches it.
const liveWait = 20 * time.Second

// The two subprotocols, and the message types that differ between them.
var liveProtocols = []struct {
	name, subscribe, next, complete string
}{
	{"graphql-transport-ws", "subscribe", "next", "complete"},
	{"graphql-ws", "start", "data", "stop"},
}

// liveMessage is a message of either protocol.
type liveMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// liveClient is a websocket client of one subprotocol, written by hand
// on gorilla's Dialer, speaking it as a frontend's library would.
type liveClient struct {
	conn  *websocket.Conn
	proto int // index in liveProtocols
}

// dialLive connects to baseURL's /graphql with liveProtocols[proto] and
// initializes the connection with token ("" for none).
func dialLive(ctx context.Context, baseURL string, proto int, token string) (*liveClient, error) {
	d := websocket.Dialer{Subprotocols: []string{liveProtocols[proto].name}, HandshakeTimeout: liveWait}
	conn, _, err := d.DialContext(ctx, "ws"+strings.TrimPrefix(baseURL, "http")+"/graphql", nil)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := &liveClient{conn: conn, proto: proto}
	init := map[string]any{}
	if token != "" {
		init["Authorization"] = "Bearer " + token
	}
	payload, _ := json.Marshal(init)
	if err := c.send(liveMessage{Type: "connection_init", Payload: payload}); err != nil {
		c.close()
		return nil, err
	}
	m, err := c.read(liveWait)
	if err == nil && m.Type != "connection_ack" {
		err = fmt.Errorf("got %s %s, want connection_ack", m.Type, m.Payload)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func mustDialLive(t *testing.T, baseURL string, proto int, token string) *liveClient {
	t.Helper()
	c, err := dialLive(context.Background(), baseURL, proto, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

func (c *liveClient) send(m liveMessage) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(liveWait))
	if err := c.conn.WriteJSON(m); err != nil {
		return fmt.Errorf("send %s: %w", m.Type, err)
	}
	return nil
}

// read returns the next message within d, answering pings and skipping
// keep-alives. After a timeout the connection is unusable (gorilla's
// rule): close it.
func (c *liveClient) read(d time.Duration) (liveMessage, error) {
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(d))
		var m liveMessage
		if err := c.conn.ReadJSON(&m); err != nil {
			return m, fmt.Errorf("read: %w", err)
		}
		switch m.Type {
		case "ping":
			if err := c.send(liveMessage{Type: "pong"}); err != nil {
				return m, err
			}
		case "pong", "ka":
		default:
			return m, nil
		}
	}
}

// subscribe starts operation id.
func (c *liveClient) subscribe(id, query string, vars map[string]any) error {
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return c.send(liveMessage{ID: id, Type: liveProtocols[c.proto].subscribe, Payload: payload})
}

// stop completes operation id from the client's side.
func (c *liveClient) stop(id string) error {
	return c.send(liveMessage{ID: id, Type: liveProtocols[c.proto].complete})
}

func (c *liveClient) close() { _ = c.conn.Close() }

// liveEvent is what the tests select of an event.
type liveEvent struct {
	Cursor string
	Seq    int64
	Kind   string
}

const livePrototypeEvents = `subscription($p: ID!, $after: Cursor, $kinds: [EventKind!]) {
	events: prototypeEvents(prototype: $p, after: $after, kinds: $kinds) { cursor seq kind }
}`

const liveWorkspaceEvents = `subscription($w: ID!, $after: Cursor) {
	events: workspaceEvents(workspace: $w, after: $after) { cursor seq kind }
}`

// errOperation is an operation that ended otherwise than with an event.
var errOperation = errors.New("operation ended")

// next returns the next event of operation id (selected as "events")
// within d.
func (c *liveClient) next(id string, d time.Duration) (liveEvent, error) {
	m, err := c.read(d)
	if err != nil {
		return liveEvent{}, err
	}
	if m.ID != id || m.Type != liveProtocols[c.proto].next {
		return liveEvent{}, fmt.Errorf("%w: got %s %q: %s", errOperation, m.Type, m.ID, m.Payload)
	}
	var r struct {
		Data   struct{ Events liveEvent }
		Errors json.RawMessage
	}
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		return liveEvent{}, fmt.Errorf("decode %s: %w", m.Payload, err)
	}
	if len(r.Errors) > 0 {
		return liveEvent{}, fmt.Errorf("%w: %s", errOperation, m.Payload)
	}
	return r.Data.Events, nil
}

// mustNext is next for the test's goroutine.
func (c *liveClient) mustNext(t *testing.T, id string) liveEvent {
	t.Helper()
	e, err := c.next(id, liveWait)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// mustComplete reads the next message and fails the test unless it is
// operation id's complete, with nothing before it.
func (c *liveClient) mustComplete(t *testing.T, id string) {
	t.Helper()
	m, err := c.read(liveWait)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != "complete" || m.ID != id {
		t.Errorf("got %s %s, want operation %s to complete with nothing more", m.Type, m.Payload, id)
	}
}

// errorCode reads the message that ends operation id and returns the
// code of its error.
func (c *liveClient) errorCode(t *testing.T, id string) string {
	t.Helper()
	m, err := c.read(liveWait)
	if err != nil {
		t.Fatal(err)
	}
	return c.errorCodeOf(t, id, m)
}

// closedForbidden reports whether err is the server closing the
// connection with 4403: what it does as soon as it hears that the
// connection's token was revoked.
func closedForbidden(err error) bool {
	var ce *websocket.CloseError
	return errors.As(err, &ce) && ce.Code == 4403
}

// errorCodeOf returns the code of the error m reports for operation id.
func (c *liveClient) errorCodeOf(t *testing.T, id string, m liveMessage) string {
	t.Helper()
	type coded struct{ Extensions struct{ Code string } }
	var errs []coded
	switch {
	case m.ID != id:
	case m.Type == "error":
		// graphql-transport-ws sends a list, graphql-ws one error.
		if json.Unmarshal(m.Payload, &errs) != nil {
			var one coded
			_ = json.Unmarshal(m.Payload, &one)
			errs = []coded{one}
		}
	case m.Type == liveProtocols[c.proto].next:
		// gqlgen reports a resolver's error as a result with errors.
		var r struct{ Errors []coded }
		_ = json.Unmarshal(m.Payload, &r)
		errs = r.Errors
	}
	if len(errs) == 0 {
		t.Fatalf("got %s %q %s, want an error for operation %q", m.Type, m.ID, m.Payload, id)
	}
	return errs[0].Extensions.Code
}

// quietFor checks that operation id delivers nothing for d. It spends
// the connection (a read that times out leaves it unusable).
func (c *liveClient) quietFor(t *testing.T, d time.Duration) {
	t.Helper()
	m, err := c.read(d)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %s %s (%v), want nothing", m.Type, m.Payload, err)
	}
}

// liveStored returns the positions of a prototype's events in the table.
func liveStored(t testing.TB, s *servertest.Server, prototypeID string) []int64 {
	t.Helper()
	p, err := gid.Parse(prototypeID)
	if err != nil {
		t.Fatal(err)
	}
	events, err := s.DB.Client.Event.Query().
		Where(event.PrototypeID(p)).
		Order(ent.Asc(event.FieldSeq)).
		Select(event.FieldSeq).
		All(privacy.DecisionContext(context.Background(), privacy.Allow))
	if err != nil {
		t.Fatal(err)
	}
	seqs := make([]int64, len(events))
	for i, e := range events {
		seqs[i] = e.Seq
	}
	return seqs
}

// commentMutation comments n times in one operation, so in one
// transaction: n COMMENT_ADDED events with consecutive positions.
func commentMutation(n int) string {
	var b strings.Builder
	b.WriteString("mutation($f: ID!) {")
	for i := range n {
		fmt.Fprintf(&b, " c%d: addComment(input: {feedbackID: $f, body: \"comment %d\"}) { id }", i, i)
	}
	b.WriteString(" }")
	return b.String()
}

func TestSubscriptionsStreamTheEventsOfMutations(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		for proto := range liveProtocols {
			t.Run(liveProtocols[proto].name, func(t *testing.T) {
				c := mustDialLive(t, s.URL, proto, loop.Owner.Token)
				err := c.subscribe("1", `subscription($p: ID!, $after: Cursor) {
					prototypeEvents(prototype: $p, after: $after, kinds: [FEEDBACK_ADDED]) {
						cursor kind occurredAt
						actor { displayName }
						subject { ... on Feedback { body rating } }
					}
				}`, map[string]any{"p": loop.Prototype.ID, "after": lastCursor(t, s, loop.Owner.Token, loop.Prototype.ID)})
				if err != nil {
					t.Fatal(err)
				}
				body := "Live from " + liveProtocols[proto].name
				s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, map[string]any{"body": body, "rating": 4})
				m, err := c.read(liveWait)
				if err != nil {
					t.Fatal(err)
				}
				var got struct {
					Data struct {
						PrototypeEvents struct {
							Cursor, Kind string
							Actor        struct{ DisplayName string }
							Subject      struct {
								Body   string
								Rating int
							}
						}
					}
				}
				if err := json.Unmarshal(m.Payload, &got); err != nil || m.Type != liveProtocols[proto].next {
					t.Fatalf("got %s %s (%v)", m.Type, m.Payload, err)
				}
				e := got.Data.PrototypeEvents
				if e.Kind != "FEEDBACK_ADDED" || e.Subject.Body != body || e.Subject.Rating != 4 || e.Actor.DisplayName != loop.Owner.Name || e.Cursor == "" {
					t.Errorf("got %s", m.Payload)
				}
				if err := c.stop("1"); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
}

// lastCursor returns the cursor of a prototype's last event, as its
// timeline ordered by SEQ gives it: where a frontend that has just read
// the timeline subscribes from.
func lastCursor(t *testing.T, s *servertest.Server, token, prototypeID string) string {
	t.Helper()
	var got struct {
		Node struct {
			Timeline struct{ Edges []struct{ Cursor string } }
		}
	}
	s.Do(t, token, `query($id: ID!) { node(id: $id) { ... on Prototype {
		timeline(last: 1, orderBy: {field: SEQ, direction: ASC}) { edges { cursor } }
	} } }`, map[string]any{"id": prototypeID}).RequireOK(t).Decode(t, &got)
	if len(got.Node.Timeline.Edges) != 1 {
		t.Fatalf("prototype %s has no timeline", prototypeID)
	}
	return got.Node.Timeline.Edges[0].Cursor
}

func TestSubscriptionsCheckTheirArgumentsAndTheirCaller(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		other := s.NewLoop(t)
		fb := s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)
		var invite struct{ CreateInvite struct{ Token string } }
		s.Do(t, loop.Owner.Token, `mutation($p: ID!) { createInvite(input: {prototypeID: $p}) { token } }`,
			map[string]any{"p": loop.Prototype.ID}).RequireOK(t).Decode(t, &invite)
		// A tester with an account: the identity a subscription reloads
		// from the token carries the participation too.
		tester := s.NewUser(t, "Tester")
		s.Do(t, tester.Token, `mutation($t: String!) { redeemInvite(input: {token: $t, displayName: "Tess"}) { participant { id } } }`,
			map[string]any{"t": invite.CreateInvite.Token}).RequireOK(t)
		var feedbackCursor struct {
			Node struct {
				Feedback struct{ Edges []struct{ Cursor string } }
			}
		}
		s.Do(t, loop.Owner.Token, `query($id: ID!) { node(id: $id) { ... on Prototype { feedback(first: 1) { edges { cursor } } } } }`,
			map[string]any{"id": loop.Prototype.ID}).RequireOK(t).Decode(t, &feedbackCursor)

		refused := []struct {
			name, token, query string
			vars               map[string]any
			code               string
		}{
			{"an undecodable cursor", loop.Owner.Token, livePrototypeEvents, map[string]any{"p": loop.Prototype.ID, "after": "not-a-cursor"}, "BAD_USER_INPUT"},
			{"the cursor of something else than an event", loop.Owner.Token, livePrototypeEvents, map[string]any{"p": loop.Prototype.ID, "after": feedbackCursor.Node.Feedback.Edges[0].Cursor}, "BAD_USER_INPUT"},
			{"an empty list of kinds", loop.Owner.Token, livePrototypeEvents, map[string]any{"p": loop.Prototype.ID, "kinds": []string{}}, "BAD_USER_INPUT"},
			{"another workspace's prototype", loop.Owner.Token, livePrototypeEvents, map[string]any{"p": other.Prototype.ID}, "NOT_FOUND"},
			{"another workspace", loop.Owner.Token, liveWorkspaceEvents, map[string]any{"w": other.Workspace.ID}, "NOT_FOUND"},
			{"a workspace's ID as a prototype", loop.Owner.Token, livePrototypeEvents, map[string]any{"p": loop.Workspace.ID}, "NOT_FOUND"},
			{"an anonymous caller", "", livePrototypeEvents, map[string]any{"p": loop.Prototype.ID}, "UNAUTHENTICATED"},
			{"a tester, another prototype", tester.Token, livePrototypeEvents, map[string]any{"p": other.Prototype.ID}, "NOT_FOUND"},
			{"a tester, the workspace of its prototype", tester.Token, liveWorkspaceEvents, map[string]any{"w": loop.Workspace.ID}, "FORBIDDEN"},
		}
		for _, tc := range refused {
			t.Run(tc.name+" is refused with "+tc.code, func(t *testing.T) {
				c := mustDialLive(t, s.URL, 0, tc.token)
				if err := c.subscribe("1", tc.query, tc.vars); err != nil {
					t.Fatal(err)
				}
				if got := c.errorCode(t, "1"); got != tc.code {
					t.Errorf("got %s, want %s", got, tc.code)
				}
			})
		}

		t.Run("a tester sees its prototype's events but drafts and invites", func(t *testing.T) {
			c := mustDialLive(t, s.URL, 1, tester.Token)
			if err := c.subscribe("1", livePrototypeEvents, map[string]any{"p": loop.Prototype.ID}); err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, want := range timeline(t, s, tester.Token, loop.Prototype.ID, nil) {
				e := c.mustNext(t, "1")
				kinds = append(kinds, e.Kind)
				if e.Kind != want.Kind || int(e.Seq) != want.Seq {
					t.Fatalf("replayed %s (seq %d), the tester's timeline says %s (seq %d)", e.Kind, e.Seq, want.Kind, want.Seq)
				}
			}
			s.NewIteration(t, loop.Owner.Token, loop.Prototype.ID) // a draft: not for testers
			s.AddComment(t, loop.Owner.Token, fb, "")
			e := c.mustNext(t, "1")
			if e.Kind != "COMMENT_ADDED" {
				t.Errorf("got %s, want COMMENT_ADDED (and no ITERATION_CREATED)", e.Kind)
			}
			for _, k := range append(kinds, e.Kind) {
				if k == "ITERATION_CREATED" || k == "INVITE_CREATED" {
					t.Errorf("the tester got %s", k)
				}
			}
		})

		t.Run("a cursor of a timeline in another order resumes after its event", func(t *testing.T) {
			var got struct {
				Node struct {
					Timeline struct {
						Edges []struct {
							Cursor string
							Node   struct{ Seq int64 }
						}
					}
				}
			}
			s.Do(t, loop.Owner.Token, `query($id: ID!) { node(id: $id) { ... on Prototype {
				timeline(first: 2, orderBy: {field: OCCURRED_AT, direction: ASC}) { edges { cursor node { seq } } }
			} } }`, map[string]any{"id": loop.Prototype.ID}).RequireOK(t).Decode(t, &got)
			first := got.Node.Timeline.Edges[0]
			c := mustDialLive(t, s.URL, 0, loop.Owner.Token)
			if err := c.subscribe("1", livePrototypeEvents, map[string]any{"p": loop.Prototype.ID, "after": first.Cursor}); err != nil {
				t.Fatal(err)
			}
			stored := liveStored(t, s, loop.Prototype.ID)
			want := stored[slices.Index(stored, first.Node.Seq)+1]
			if e := c.mustNext(t, "1"); e.Seq != want {
				t.Errorf("resumed at seq %d, want %d", e.Seq, want)
			}
		})
	})
}

// The test: 50 writers commit 5,000 events while subscribers
// drop their connections at random moments (closing the socket, or
// completing the operation first) and resubscribe after the last cursor
// they received. Every subscriber ends with every event, once, in order.
//
// Each writer sends 10 operations of 10 comments: 10 events per commit,
// so that SQLite, which commits one writer at a time, gets through 5,000
// events in a few seconds.
func TestResumingSubscribersGetEveryEventOnceInOrder(t *testing.T) {
	const (
		writers     = 50
		operations  = 10
		perCommit   = 10
		subscribers = 4
		total       = writers * operations * perCommit
	)
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		fb := s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)
		before := liveStored(t, s, loop.Prototype.ID)

		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		var (
			done     = make(chan struct{}) // closed once want is known
			want     []int64               // every event of the prototype, at the end
			wg       sync.WaitGroup
			received = make([][]liveEvent, subscribers)
			sessions = make([]int, subscribers)
			errs     = make([]error, subscribers)
		)
		for i := range subscribers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f := follower{url: s.URL, proto: i % 2, token: loop.Owner.Token, prototype: loop.Prototype.ID,
					slow: i == subscribers-1, rng: mrand.New(mrand.NewPCG(uint64(i), 42))}
				received[i], sessions[i], errs[i] = f.follow(ctx, done, func() int { return len(want) })
			}()
		}

		began := time.Now()
		writeErrs := make(chan error, writers)
		var (
			written sync.WaitGroup
			retries atomic.Int64
		)
		mutation := commentMutation(perCommit)
		for range writers {
			written.Add(1)
			go func() {
				defer written.Done()
				for range operations {
					for attempt := 1; ; attempt++ {
						r, err := s.Post(ctx, loop.Owner.Token, mutation, map[string]any{"f": fb})
						if err == nil {
							err = r.Err()
						}
						// SQLite gives up on its write lock after its busy
						// timeout, which 50 writers under the race
						// detector or a loaded machine can reach: the
						// server answers TIMEOUT (HTTP 503), the
						// operation committed nothing, and a client would
						// try again. Were a retried operation ever to
						// commit twice, the count of events below fails.
						if err != nil && r != nil && r.Code() == "TIMEOUT" && attempt < 5 {
							retries.Add(1)
							continue
						}
						if err != nil {
							writeErrs <- err
							return
						}
						break
					}
				}
			}()
		}
		written.Wait()
		close(writeErrs)
		for err := range writeErrs {
			t.Fatal(err)
		}
		if n := retries.Load(); n > 0 {
			t.Logf("%d operations were retried after a timeout", n)
		}
		want = liveStored(t, s, loop.Prototype.ID)
		close(done)
		t.Logf("%d events committed by %d writers in %v", len(want)-len(before), writers, time.Since(began))
		if len(want)-len(before) != total {
			t.Fatalf("the writers committed %d events, want %d", len(want)-len(before), total)
		}
		wg.Wait()
		t.Logf("all %d subscribers had every event %v after the writers began", subscribers, time.Since(began))

		for i := range subscribers {
			if errs[i] != nil {
				t.Errorf("subscriber %d: %v", i, errs[i])
				continue
			}
			got := make([]int64, len(received[i]))
			for j, e := range received[i] {
				got[j] = e.Seq
			}
			if !slices.Equal(got, want) {
				t.Errorf("subscriber %d (%s, %d sessions) got %d events, want %d; first difference at %d",
					i, liveProtocols[i%2].name, sessions[i], len(got), len(want), firstDifference(got, want))
			}
			if sessions[i] < 3 {
				t.Errorf("subscriber %d resumed only %d times: the test did not test resuming", i, sessions[i]-1)
			}
		}
		t.Logf("sessions per subscriber: %v", sessions)
	})
}

func firstDifference(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// follower is a subscriber that drops its connection at random moments
// and resumes after the last cursor it received.
type follower struct {
	url, token, prototype string
	proto                 int
	slow                  bool // reads slowly, so that its server-side buffer overflows
	rng                   *mrand.Rand
}

// follow receives the prototype's events from the start until it has as
// many as want says, once done is closed. It returns them and the number
// of sessions (connections) it took.
func (f *follower) follow(ctx context.Context, done <-chan struct{}, want func() int) ([]liveEvent, int, error) {
	var (
		got      []liveEvent
		after    any // null: from the start
		sessions int
	)
	finished := func() bool {
		select {
		case <-done:
			return len(got) >= want()
		default:
			return false
		}
	}
	for !finished() {
		if ctx.Err() != nil {
			return got, sessions, fmt.Errorf("gave up after %d events: %w", len(got), ctx.Err())
		}
		c, err := dialLive(ctx, f.url, f.proto, f.token)
		if err != nil {
			// A server too busy to answer in time (the race detector slows
			// everything tenfold): reconnect, as a client would.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		sessions++
		if err := c.subscribe("s", livePrototypeEvents, map[string]any{"p": f.prototype, "after": after}); err != nil {
			c.close()
			continue
		}
		budget := 1 + f.rng.IntN(800) // events before this connection drops
		for ; budget > 0 && !finished(); budget-- {
			// A short wait: when nothing comes, the writers may be done, or
			// slow; either way the connection is dropped and resumed.
			e, err := c.next("s", 500*time.Millisecond)
			if errors.Is(err, errOperation) {
				c.close()
				return got, sessions, err
			}
			if err != nil {
				break
			}
			got = append(got, e)
			after = e.Cursor
			if f.slow && len(got)%100 == 0 {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if f.rng.IntN(2) == 0 {
			_ = c.stop("s")
		}
		c.close()
	}
	return got, sessions, nil
}

// Two server processes on one PostgreSQL database: each has its own
// storage.DB, broker and LISTEN connection.
func TestReplicasOnOnePostgresStreamEachOthersEvents(t *testing.T) {
	s := servertest.Start(t, servertest.Postgres) // seeds the world through its API
	loop := s.NewLoop(t)
	fb := s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)
	r1, _ := startReplica(t, s)
	r2, r2Listener := startReplica(t, s)
	// Replicas that never poll in a test's time: an event reaches them
	// through the notification or not at all.
	deaf := server.Config{EventPoll: time.Hour}
	q1, _ := startReplicaWith(t, s, deaf)
	q2, _ := startReplicaWith(t, s, deaf)

	for _, pair := range []struct {
		name     string
		from, to string
	}{{"one to two", q1, q2}, {"two to one", q2, q1}} {
		t.Run("a mutation on "+pair.name, func(t *testing.T) {
			c := mustDialLive(t, pair.to, 0, loop.Owner.Token)
			if err := c.subscribe("1", livePrototypeEvents, map[string]any{"p": loop.Prototype.ID, "after": lastCursor(t, s, loop.Owner.Token, loop.Prototype.ID)}); err != nil {
				t.Fatal(err)
			}
			const n = 20
			latencies := make([]time.Duration, n)
			for i := range n {
				began := time.Now()
				livePost(t, pair.from, loop.Owner.Token, commentMutation(1), map[string]any{"f": fb})
				if e := c.mustNext(t, "1"); e.Kind != "COMMENT_ADDED" {
					t.Fatalf("got %s", e.Kind)
				}
				latencies[i] = time.Since(began)
			}
			slices.Sort(latencies)
			t.Logf("mutation on one replica to event on the other: median %v, max %v", latencies[n/2], latencies[n-1])
		})
	}

	t.Run("killing the LISTEN connection loses nothing", func(t *testing.T) {
		c := mustDialLive(t, r2, 1, loop.Owner.Token)
		from := liveStored(t, s, loop.Prototype.ID)
		if err := c.subscribe("1", livePrototypeEvents, map[string]any{"p": loop.Prototype.ID, "after": lastCursor(t, s, loop.Owner.Token, loop.Prototype.ID)}); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		killed := make(chan int)
		go func() {
			kills := 0
			defer func() { killed <- kills }()
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				res, err := s.DB.SQL.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, r2Listener)
				if err == nil {
					if n, _ := res.RowsAffected(); n > 0 {
						kills++
					}
				}
			}
		}()
		for range 20 {
			livePost(t, r1, loop.Owner.Token, commentMutation(3), map[string]any{"f": fb})
			time.Sleep(5 * time.Millisecond)
		}
		close(stop)
		kills := <-killed
		if kills == 0 {
			t.Fatal("the LISTEN connection was never killed")
		}
		want := liveStored(t, s, loop.Prototype.ID)[len(from):]
		for i, seq := range want {
			if e := c.mustNext(t, "1"); e.Seq != seq {
				t.Fatalf("event %d: got seq %d, want %d", i, e.Seq, seq)
			}
		}
		t.Logf("the LISTEN connection was killed %d times while %d events were committed; all arrived", kills, len(want))
		c.quietFor(t, 100*time.Millisecond)
	})
}

// startReplica starts another server on s's PostgreSQL schema, with a
// database handle, a broker and a LISTEN connection of its own, and
// returns its base URL and the application_name of its LISTEN connection.
func startReplica(t *testing.T, s *servertest.Server) (baseURL, listener string) {
	t.Helper()
	return startReplicaWith(t, s, server.Config{})
}

// startReplicaWith is startReplica with the replica configured by cfg
// (but for its logger).
func startReplicaWith(t *testing.T, s *servertest.Server, cfg server.Config) (baseURL, listener string) {
	t.Helper()
	// The replica's connections get their own name, so that its LISTEN
	// connection (the one whose last statement was LISTEN) can be found
	// and killed.
	dsn, listener := servertest.NamedSchemaURL(t, s, "pltest-replica-")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := storage.Open(ctx, storage.Options{DatabaseURL: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := server.New(db, cfg)
	serveCtx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("replica: %v", err)
			}
		case <-time.After(liveWait):
			t.Errorf("replica still serving %v after shutdown began", liveWait)
		}
	})
	// Wait for its LISTEN connection, so that the test measures it.
	deadline := time.Now().Add(liveWait)
	for {
		var n int
		if err := s.DB.SQL.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, listener).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica has no LISTEN connection after %v", liveWait)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return "http://" + ln.Addr().String(), listener
}

// livePost sends a GraphQL request that must succeed to baseURL.
func livePost(t *testing.T, baseURL, token, query string, vars map[string]any) {
	t.Helper()
	r, err := servertest.PostTo(context.Background(), baseURL, token, query, vars)
	if err != nil {
		t.Fatal(err)
	}
	r.RequireOK(t)
}

func TestRevokedAccessEndsSubscriptions(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		fb := s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)

		t.Run("a removed member's subscription completes", func(t *testing.T) {
			member := s.NewUser(t, "Member")
			membership := s.AddMember(t, loop.Owner.Token, loop.Workspace.ID, member.Email, "VIEWER")
			c := mustDialLive(t, s.URL, 0, member.Token)
			if err := c.subscribe("1", liveWorkspaceEvents, map[string]any{"w": loop.Workspace.ID, "after": lastCursor(t, s, loop.Owner.Token, loop.Prototype.ID)}); err != nil {
				t.Fatal(err)
			}
			s.AddComment(t, loop.Owner.Token, fb, "")
			for c.mustNext(t, "1").Kind != "COMMENT_ADDED" { // after MEMBER_ADDED, say
			}
			s.Do(t, loop.Owner.Token, `mutation($id: ID!) { removeMember(id: $id) { id } }`,
				map[string]any{"id": membership}).RequireOK(t)
			s.AddComment(t, loop.Owner.Token, fb, "")
			c.mustComplete(t, "1")
		})

		t.Run("a logged-out token subscribes no more on its old connection", func(t *testing.T) {
			member := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
			c := mustDialLive(t, s.URL, 1, member.Token)
			s.Do(t, member.Token, `mutation { logOut }`, nil).RequireOK(t)
			// The server closes the connection with 4403 as soon as it
			// hears of the logout; a subscription that gets in before
			// that is refused.
			err := c.subscribe("1", livePrototypeEvents, map[string]any{"p": loop.Prototype.ID})
			var m liveMessage
			if err == nil {
				m, err = c.read(liveWait)
			}
			switch {
			case closedForbidden(err):
			case err != nil:
				t.Fatal(err)
			default:
				if got := c.errorCodeOf(t, "1", m); got != "UNAUTHENTICATED" {
					t.Errorf("got %s, want UNAUTHENTICATED", got)
				}
			}
		})
	})
}

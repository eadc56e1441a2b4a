package graph_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/servertest"
	"github.com/protoloop/protoloop/server/storage"
	"github.com/protoloop/protoloop/server/webhooks"
)

// hookWait bounds a wait for a delivery that must come: far above what
// delivery takes with the tests' short intervals, so that only a lost or
// stuck delivery reaches it.
const hookWait = 20 * time.Second

// fastHooks configures a server's webhook worker for tests: short polls
// and backoffs, so that a retry takes milliseconds, not minutes.
func fastHooks(o webhooks.Options) servertest.Options {
	o.PollInterval = 50 * time.Millisecond
	o.MinBackoff = 20 * time.Millisecond
	o.MaxBackoff = 100 * time.Millisecond
	return servertest.Options{Config: server.Config{Webhooks: o}}
}

// received is one request a receiver got.
type received struct {
	Delivery, Event string
	Signed          bool // the signature checked out with the secret
	Body            struct {
		ID, Kind, Workspace string
		OccurredAt          time.Time
		Prototype, Subject  *string
		Data                map[string]any
	}
}

// receiver is a webhook receiver on a loopback port, checking signatures
// the way the README tells receivers to.
type receiver struct {
	t   *testing.T
	srv *httptest.Server
	URL string

	mu       sync.Mutex
	secret   string
	got      []received
	statuses []int // what to answer, in turn; 200 once they run out
	arrived  chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{t: t, arrived: make(chan struct{}, 1000)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.serve(ln)
	r.URL = "http://" + ln.Addr().String() + "/hook"
	return r
}

func (r *receiver) serve(ln net.Listener) {
	r.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(r.handle)}}
	r.srv.Start()
	r.t.Cleanup(r.srv.Close)
}

// down closes the receiver: connections to it are refused.
func (r *receiver) down() { r.srv.Close() }

// up opens the receiver again, on the same address.
func (r *receiver) up() {
	r.t.Helper()
	ln, err := net.Listen("tcp", strings.TrimSuffix(strings.TrimPrefix(r.URL, "http://"), "/hook"))
	if err != nil {
		r.t.Fatalf("reopen receiver: %v", err)
	}
	r.serve(ln)
}

func (r *receiver) setSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = s
}

// answer makes the receiver answer the next requests with statuses.
func (r *receiver) answer(statuses ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses = statuses
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	mac := hmac.New(sha256.New, []byte(r.secret))
	mac.Write([]byte(req.Header.Get("Protoloop-Timestamp") + "."))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	got := received{
		Delivery: req.Header.Get("Protoloop-Delivery"),
		Event:    req.Header.Get("Protoloop-Event"),
		Signed:   hmac.Equal([]byte(want), []byte(req.Header.Get("Protoloop-Signature"))),
	}
	_ = json.Unmarshal(body, &got.Body)
	r.got = append(r.got, got)
	status := http.StatusOK
	if len(r.statuses) > 0 {
		status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	r.mu.Unlock()
	w.WriteHeader(status)
	r.arrived <- struct{}{}
}

// wait waits for the receiver's next request and returns it.
func (r *receiver) wait(t *testing.T) received {
	t.Helper()
	select {
	case <-r.arrived:
	case <-time.After(hookWait):
		t.Fatalf("no delivery within %s", hookWait)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[len(r.got)-1]
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

type hookState struct {
	ID, LastError, LastSuccessAt, DisabledAt *string
	Enabled                                  bool
	FailureCount                             int
	EventKinds                               []string
	Deliveries                               struct {
		TotalCount int
		Edges      []struct{ Node delivery }
	}
}

type delivery struct {
	ID, Kind, Status string
	Attempts         int
	ResponseStatus   *int
	LastError        *string
}

const hooksQuery = `query($w: ID!) { webhooks(workspace: $w) {
	id enabled failureCount lastError lastSuccessAt disabledAt eventKinds
	deliveries(first: 100, orderBy: {field: CREATED_AT, direction: ASC}) {
		totalCount edges { node { id kind status attempts responseStatus lastError } }
	}
} }`

// hooks returns a workspace's webhooks as token's holder sees them.
func hooks(t *testing.T, s *servertest.Server, token, workspaceID string) []hookState {
	t.Helper()
	var out struct{ Webhooks []hookState }
	decode(t, s, token, hooksQuery, vars{"w": workspaceID}, &out)
	return out.Webhooks
}

// hookUntil polls the workspace's only webhook until ok says it is as
// wanted, and returns it.
func hookUntil(t *testing.T, s *servertest.Server, token, workspaceID string, ok func(h hookState) bool) hookState {
	t.Helper()
	deadline := time.Now().Add(hookWait)
	for {
		hs := hooks(t, s, token, workspaceID)
		if len(hs) != 1 {
			t.Fatalf("got %d webhooks, want 1", len(hs))
		}
		if ok(hs[0]) {
			return hs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook not as wanted after %s: %+v", hookWait, hs[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func deliveries(h hookState) []delivery {
	ds := make([]delivery, len(h.Deliveries.Edges))
	for i, e := range h.Deliveries.Edges {
		ds[i] = e.Node
	}
	return ds
}

const createWebhook = `mutation($in: CreateWebhookInput!) {
	createWebhook(input: $in) { secret webhook { id url enabled eventKinds } }
}`

// newWebhook creates a webhook to r for kinds and tells r its secret.
func newWebhook(t *testing.T, s *servertest.Server, token, workspaceID string, r *receiver, kinds ...string) string {
	t.Helper()
	var out struct {
		CreateWebhook struct {
			Secret  string
			Webhook struct{ ID string }
		}
	}
	decode(t, s, token, createWebhook, vars{"in": vars{"workspaceID": workspaceID, "url": r.URL, "eventKinds": kinds}}, &out)
	if !strings.HasPrefix(out.CreateWebhook.Secret, "whsec_") {
		t.Fatalf("secret %q", out.CreateWebhook.Secret)
	}
	r.setSecret(out.CreateWebhook.Secret)
	return out.CreateWebhook.Webhook.ID
}

func TestWebhooksDeliverSignedEvents(t *testing.T) {
	servertest.RunWith(t, fastHooks(webhooks.Options{}), func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		r := newReceiver(t)
		hook := newWebhook(t, s, owner, loop.Workspace.ID, r, "FEEDBACK_ADDED", "ALERT")

		fb := s.LeaveFeedback(t, owner, loop.Iteration.ID, vars{"kind": "BUG"})
		got := r.wait(t)
		b := got.Body
		switch {
		case !got.Signed:
			t.Errorf("the signature does not check out: %+v", got)
		case got.Event != "FEEDBACK_ADDED" || b.Kind != "FEEDBACK_ADDED" || !strings.HasPrefix(b.ID, "evt_"):
			t.Errorf("got %+v", got)
		case b.Workspace != loop.Workspace.ID || b.Prototype == nil || *b.Prototype != loop.Prototype.ID ||
			b.Subject == nil || *b.Subject != fb || b.Data["kind"] != "BUG" || time.Since(b.OccurredAt) > time.Minute:
			t.Errorf("got body %+v", b)
		}
		// The body says when the event occurred as the timeline does.
		var ev struct {
			Node struct{ OccurredAt time.Time }
		}
		decode(t, s, owner, `query($id: ID!) { node(id: $id) { ... on Event { occurredAt } } }`, vars{"id": b.ID}, &ev)
		if !ev.Node.OccurredAt.Equal(b.OccurredAt) {
			t.Errorf("the body says the event occurred at %v, the timeline %v", b.OccurredAt, ev.Node.OccurredAt)
		}

		// Kinds the webhook did not ask for queue nothing.
		s.AddComment(t, owner, fb, "")
		// The webhook is read before its deliveries: wait for both.
		h := hookUntil(t, s, owner, loop.Workspace.ID, func(h hookState) bool {
			return h.LastSuccessAt != nil && h.Deliveries.TotalCount == 1 && deliveries(h)[0].Status == "DELIVERED"
		})
		d := deliveries(h)[0]
		if d.ID != got.Delivery || d.Attempts != 1 || d.ResponseStatus == nil || *d.ResponseStatus != 200 || d.Kind != "FEEDBACK_ADDED" {
			t.Errorf("delivery %+v, want delivered at the first attempt as %s", d, got.Delivery)
		}
		if h.LastSuccessAt == nil || h.FailureCount != 0 || strings.Join(h.EventKinds, ",") != "FEEDBACK_ADDED,ALERT" {
			t.Errorf("webhook %+v", h)
		}

		t.Run("alerts are events like any other", func(t *testing.T) {
			newAlertRule(t, s, owner, loop.Prototype.ID, "FEEDBACK_VOTES", 1)
			vote(t, s, owner, fb, true)
			got := r.wait(t)
			if !got.Signed || got.Body.Kind != "ALERT" || got.Body.Data["feedback"] != fb || got.Body.Data["ruleKind"] != "FEEDBACK_VOTES" {
				t.Errorf("got %+v", got)
			}
		})

		t.Run("testWebhook sends a PING", func(t *testing.T) {
			var out struct {
				TestWebhook struct{ ID, Kind, Status string }
			}
			decode(t, s, owner, `mutation($id: ID!) { testWebhook(id: $id) { id kind status } }`, vars{"id": hook}, &out)
			got := r.wait(t)
			if !got.Signed || got.Body.Kind != "PING" || got.Delivery != out.TestWebhook.ID || got.Body.Data["webhook"] != hook {
				t.Errorf("got %+v for %+v", got, out.TestWebhook)
			}
		})

		t.Run("a redelivery sends the same body under a new delivery ID", func(t *testing.T) {
			var out struct{ RedeliverWebhook struct{ ID string } }
			decode(t, s, owner, `mutation($id: ID!) { redeliverWebhook(deliveryID: $id) { id } }`, vars{"id": d.ID}, &out)
			again := r.wait(t)
			if !again.Signed || again.Delivery != out.RedeliverWebhook.ID || again.Delivery == got.Delivery || again.Body.ID != got.Body.ID {
				t.Errorf("got %+v, want event %s under delivery %s", again, got.Body.ID, out.RedeliverWebhook.ID)
			}
		})
	})
}

func TestWebhookRetriesAfterReceiverErrors(t *testing.T) {
	servertest.RunWith(t, fastHooks(webhooks.Options{}), func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		r := newReceiver(t)
		newWebhook(t, s, owner, loop.Workspace.ID, r, "FEEDBACK_ADDED")
		r.answer(http.StatusServiceUnavailable, http.StatusServiceUnavailable)

		s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
		// The webhook is read before its deliveries: wait for both.
		h := hookUntil(t, s, owner, loop.Workspace.ID, func(h hookState) bool {
			return h.LastSuccessAt != nil && h.Deliveries.TotalCount == 1 && deliveries(h)[0].Status == "DELIVERED"
		})
		all := r.all()
		if len(all) != 3 {
			t.Fatalf("the receiver got %d requests, want 3 (two answered 503)", len(all))
		}
		for _, got := range all {
			if !got.Signed || got.Delivery != all[0].Delivery || got.Body.ID != all[0].Body.ID {
				t.Errorf("attempt %+v differs from the first, %+v", got, all[0])
			}
		}
		if d := deliveries(h)[0]; d.Attempts != 3 || d.LastError != nil {
			t.Errorf("delivery %+v, want 3 attempts and no error left", d)
		}
		// The webhook keeps the last error for its owners, and counts
		// failures only since its last success.
		if h.FailureCount != 0 || h.LastSuccessAt == nil || h.LastError == nil || !strings.Contains(*h.LastError, "503") {
			t.Errorf("webhook %+v", h)
		}
	})
}

func TestWebhookDeliveriesSurviveARestart(t *testing.T) {
	// Enough attempts for the receiver to stay down through a restart.
	cfg := fastHooks(webhooks.Options{MaxAttempts: 1000, DisableAfter: 1000})
	servertest.RunWith(t, cfg, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		r := newReceiver(t)
		newWebhook(t, s, owner, loop.Workspace.ID, r, "FEEDBACK_ADDED")
		r.down()

		fb := s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
		h := hookUntil(t, s, owner, loop.Workspace.ID, func(h hookState) bool {
			return h.LastError != nil && h.Deliveries.TotalCount == 1 && deliveries(h)[0].Attempts > 0
		})
		queued := deliveries(h)[0]
		if queued.Status != "PENDING" || queued.LastError == nil {
			t.Fatalf("delivery %+v of webhook %+v, want it pending after a refused connection", queued, h)
		}

		s.Restart(t)
		r.up()
		got := r.wait(t)
		if !got.Signed || got.Delivery != queued.ID || got.Body.Subject == nil || *got.Body.Subject != fb {
			t.Errorf("after the restart got %+v, want delivery %s", got, queued.ID)
		}
		hookUntil(t, s, owner, loop.Workspace.ID, func(h hookState) bool {
			return deliveries(h)[0].Status == "DELIVERED"
		})
	})
}

func TestWebhookDisabledAfterRepeatedFailures(t *testing.T) {
	servertest.RunWith(t, fastHooks(webhooks.Options{MaxAttempts: 2, DisableAfter: 3}), func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		r := newReceiver(t)
		hook := newWebhook(t, s, owner, loop.Workspace.ID, r, "FEEDBACK_ADDED")
		fail := make([]int, 100)
		for i := range fail {
			fail[i] = http.StatusInternalServerError
		}
		r.answer(fail...)

		s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
		h := hookUntil(t, s, owner, loop.Workspace.ID, func(h hookState) bool {
			return h.FailureCount >= 2 && deliveries(h)[0].Status == "FAILED"
		})
		if d := deliveries(h)[0]; d.Attempts != 2 || d.ResponseStatus == nil || *d.ResponseStatus != 500 {
			t.Errorf("delivery %+v, want FAILED after 2 attempts answered 500", d)
		}
		if !h.Enabled || h.FailureCount != 2 {
			t.Errorf("webhook %+v, want it enabled with 2 failures", h)
		}

		s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
		h = hookUntil(t, s, owner, loop.Workspace.ID, func(h hookState) bool { return !h.Enabled })
		if h.FailureCount != 3 || h.DisabledAt == nil || h.LastError == nil || *h.LastError != "HTTP 500 Internal Server Error" {
			t.Errorf("webhook %+v, want it disabled after 3 failures with the last error", h)
		}
		if d := deliveries(h)[1]; d.Status != "PENDING" || d.Attempts != 1 {
			t.Errorf("delivery %+v, want it pending, tried once", d)
		}
		tried := len(r.all())

		// The owners' timeline shows the server turned it off, once the
		// worker's event, committed with the change, has its position.
		var disabled *ent.Event
		waitFor(t, "the last workspace event to be WEBHOOK_UPDATED", func() (bool, error) {
			events := workspaceEvents(t, s, loop.Workspace.ID)
			disabled = events[len(events)-1]
			return disabled.Kind == event.KindWEBHOOK_UPDATED, nil
		})
		if disabled.Kind != event.KindWEBHOOK_UPDATED || disabled.SubjectID.String() != hook || disabled.ActorUserID != nil {
			t.Fatalf("the last workspace event is %s about %s by %v, want WEBHOOK_UPDATED about the webhook by no one",
				disabled.Kind, disabled.SubjectID, disabled.ActorUserID)
		}
		const eventQuery = `query($id: ID!) { node(id: $id) { ... on Event { kind payload } } }`
		var got struct {
			Node struct{ Payload map[string]any }
		}
		decode(t, s, owner, eventQuery, vars{"id": disabled.ID.String()}, &got)
		if p := got.Node.Payload; p["enabled"] != false || fmt.Sprint(p["changed"]) != "[enabled]" || p["failures"] != 3.0 {
			t.Errorf("payload %v, want enabled false, changed [enabled], failures 3", p)
		}
		maker := s.NewMember(t, owner, loop.Workspace.ID, "MAKER")
		requireHidden(t, s.Do(t, maker.Token, eventQuery, vars{"id": disabled.ID.String()}), "node")

		// A disabled webhook queues nothing and sends nothing.
		s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
		if h := hooks(t, s, owner, loop.Workspace.ID)[0]; h.Deliveries.TotalCount != 2 {
			t.Errorf("a disabled webhook got %d deliveries, want 2", h.Deliveries.TotalCount)
		}

		// Turned back on, it starts afresh and sends what is pending.
		r.answer()
		var out struct{ UpdateWebhook hookState }
		decode(t, s, owner, `mutation($id: ID!) { updateWebhook(id: $id, input: {enabled: true}) { enabled failureCount disabledAt } }`,
			vars{"id": hook}, &out)
		if u := out.UpdateWebhook; !u.Enabled || u.FailureCount != 0 || u.DisabledAt != nil {
			t.Errorf("re-enabled webhook %+v", u)
		}
		hookUntil(t, s, owner, loop.Workspace.ID, func(h hookState) bool { return deliveries(h)[1].Status == "DELIVERED" })
		if n := len(r.all()); n != tried+1 {
			t.Errorf("the receiver got %d requests more, want 1", n-tried)
		}
	})
}

func TestWebhooksToPrivateNetworksCanBeRefused(t *testing.T) {
	servertest.RunWith(t, fastHooks(webhooks.Options{DenyPrivate: true}), func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		r := newReceiver(t)
		newWebhook(t, s, owner, loop.Workspace.ID, r, "FEEDBACK_ADDED")
		s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
		h := hookUntil(t, s, owner, loop.Workspace.ID, func(h hookState) bool { return h.LastError != nil })
		if !strings.Contains(*h.LastError, "not public") {
			t.Errorf("last error %q, want the address refused", *h.LastError)
		}
		if n := len(r.all()); n != 0 {
			t.Errorf("the loopback receiver got %d requests", n)
		}
	})
}

func TestWebhooksAreTheOwnersToManage(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		maker := s.NewMember(t, owner, loop.Workspace.ID, "MAKER")
		r := newReceiver(t)
		hook := newWebhook(t, s, owner, loop.Workspace.ID, r, "FEEDBACK_ADDED")
		in := func(fields vars) vars {
			v := vars{"workspaceID": loop.Workspace.ID, "url": r.URL, "eventKinds": []string{"FEEDBACK_ADDED"}}
			for k, f := range fields {
				v[k] = f
			}
			return vars{"in": v}
		}

		s.Do(t, maker.Token, createWebhook, in(nil)).RequireError(t, "FORBIDDEN", "")
		if hs := hooks(t, s, maker.Token, loop.Workspace.ID); len(hs) != 0 {
			t.Errorf("a maker sees %d webhooks", len(hs))
		}
		s.Do(t, maker.Token, `mutation($id: ID!) { deleteWebhook(id: $id) { id } }`, vars{"id": hook}).RequireError(t, "NOT_FOUND", "")
		s.Do(t, s.NewUser(t, "Stranger").Token, createWebhook, in(nil)).RequireError(t, "NOT_FOUND", "")

		for _, tc := range []struct {
			name   string
			fields vars
			field  string
		}{
			{"a URL that is not http", vars{"url": "ftp://example.test/hook"}, "url"},
			{"no event kinds", vars{"eventKinds": []string{}}, "eventKinds"},
			{"a long description", vars{"description": long(201)}, "description"},
		} {
			t.Run(tc.name+" is refused", func(t *testing.T) {
				s.Do(t, owner, createWebhook, in(tc.fields)).RequireError(t, "BAD_USER_INPUT", tc.field)
			})
		}

		// The secret is shown once: no query returns it.
		r2 := s.Do(t, owner, `query($w: ID!) { webhooks(workspace: $w) { secret } }`, vars{"w": loop.Workspace.ID})
		if len(r2.Errors) == 0 {
			t.Errorf("a query for the secret answered %s", r2.Data)
		}

		var out struct{ DeleteWebhook struct{ ID string } }
		decode(t, s, owner, `mutation($id: ID!) { deleteWebhook(id: $id) { id } }`, vars{"id": hook}, &out)
		if hs := hooks(t, s, owner, loop.Workspace.ID); out.DeleteWebhook.ID != loop.Workspace.ID || len(hs) != 0 {
			t.Errorf("after deleteWebhook: %+v", hs)
		}
	})
}

func TestReplicasShareTheDeliveryQueue(t *testing.T) {
	// Several workers on one PostgreSQL claim with SKIP LOCKED: every
	// delivery goes out once, whichever worker takes it.
	cfg := fastHooks(webhooks.Options{})
	s := servertest.StartWith(t, servertest.Postgres, cfg)
	loop := s.NewLoop(t)
	owner := loop.Owner.Token
	r := newReceiver(t)
	newWebhook(t, s, owner, loop.Workspace.ID, r, "FEEDBACK_ADDED")

	ctx, stop := context.WithCancel(context.Background())
	var running sync.WaitGroup
	t.Cleanup(func() { stop(); running.Wait() })
	for i := range 3 {
		dsn, _ := servertest.NamedSchemaURL(t, s, fmt.Sprintf("pltest-worker%d-", i))
		db, err := storage.Open(ctx, storage.Options{DatabaseURL: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		w := webhooks.New(db.Client, db.Dialect, nil, cfg.Config.Webhooks)
		running.Go(func() { _ = w.Run(ctx) })
	}

	const n = 60
	for range n {
		s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
	}
	for range n {
		r.wait(t)
	}
	hookUntil(t, s, owner, loop.Workspace.ID, func(h hookState) bool {
		for _, d := range deliveries(h) {
			if d.Status != "DELIVERED" {
				return false
			}
		}
		return h.Deliveries.TotalCount == n
	})
	seen := map[string]int{}
	for _, got := range r.all() {
		seen[got.Delivery]++
		if !got.Signed {
			t.Errorf("unsigned: %+v", got)
		}
	}
	for id, times := range seen {
		if times != 1 {
			t.Errorf("delivery %s sent %d times", id, times)
		}
	}
	if len(seen) != n {
		t.Errorf("%d deliveries arrived, want %d", len(seen), n)
	}
}

func TestOldDeliveriesArePruned(t *testing.T) {
	s := servertest.StartWith(t, servertest.SQLite, fastHooks(webhooks.Options{Retention: 200 * time.Millisecond}))
	loop := s.NewLoop(t)
	owner := loop.Owner.Token
	r := newReceiver(t)
	newWebhook(t, s, owner, loop.Workspace.ID, r, "FEEDBACK_ADDED")
	s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
	r.wait(t)
	hookUntil(t, s, owner, loop.Workspace.ID, func(h hookState) bool { return h.Deliveries.TotalCount == 0 })
}

func TestReplicasWakeEachOthersDeliveryWorkers(t *testing.T) {
	// Polls that never come within the test, one delivery at a time, and
	// attempts that outlast it: a delivery queued while one replica's
	// worker is busy goes out only if the other's is woken.
	cfg := fastHooks(webhooks.Options{Concurrency: 1, Timeout: time.Minute})
	cfg.Config.Webhooks.PollInterval = time.Hour
	s := servertest.StartWith(t, servertest.Postgres, cfg)
	loop := s.NewLoop(t)
	owner := loop.Owner.Token

	release := make(chan struct{})
	var once sync.Once
	arrived := make(chan string, 10)
	var first sync.Once
	hold := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		held := false
		first.Do(func() { held = true })
		arrived <- req.Header.Get("Protoloop-Delivery")
		if held {
			<-release // the first delivery keeps its worker busy
		}
	}))
	t.Cleanup(hold.Close) // after the held request is let go:
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	var out struct {
		CreateWebhook struct{ Secret string }
	}
	decode(t, s, owner, createWebhook, vars{"in": vars{"workspaceID": loop.Workspace.ID, "url": hold.URL, "eventKinds": []string{"FEEDBACK_ADDED"}}}, &out)

	// Feedback is left on the replica, so that its worker is the one woken
	// in-process, and takes the first delivery; this server's worker has
	// long had its first look at the queue, and polls next in an hour.
	replica, _ := startReplicaWith(t, s, cfg.Config)
	leave := func() {
		t.Helper()
		livePost(t, replica, owner, `mutation($in: LeaveFeedbackInput!) { leaveFeedback(input: $in) { id } }`,
			vars{"in": vars{"iterationID": loop.Iteration.ID, "kind": "IDEA", "body": "Fewer steps."}})
	}
	leave()
	var busy string
	select {
	case busy = <-arrived:
	case <-time.After(hookWait):
		t.Fatalf("no delivery within %s", hookWait)
	}
	leave()
	select {
	case other := <-arrived:
		if other == busy {
			t.Fatalf("delivery %s sent twice", busy)
		}
	case <-time.After(hookWait):
		t.Fatalf("the second delivery did not arrive within %s while the first held its worker", hookWait)
	}
	once.Do(func() { close(release) })
}

func TestAHangingReceiverDoesNotHoldUpOtherWebhooks(t *testing.T) {
	// Two delivery slots, and attempts that may take a minute: the hanging
	// receiver's first delivery holds one slot for the whole test, and its
	// later ones wait for it, while the other webhook's go through the
	// other slot one after another.
	servertest.RunWith(t, fastHooks(webhooks.Options{Concurrency: 2, Timeout: time.Minute}), func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		release := make(chan struct{})
		hung := make(chan struct{}, 10)
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			hung <- struct{}{}
			<-release
		}))
		t.Cleanup(hang.Close) // after the hanging requests are let go:
		t.Cleanup(func() { close(release) })
		var created struct{ CreateWebhook struct{ Secret string } }
		decode(t, s, owner, createWebhook, vars{"in": vars{"workspaceID": loop.Workspace.ID, "url": hang.URL, "eventKinds": []string{"FEEDBACK_ADDED"}}}, &created)
		r := newReceiver(t)
		newWebhook(t, s, owner, loop.Workspace.ID, r, "FEEDBACK_ADDED")

		s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
		select {
		case <-hung:
		case <-time.After(hookWait):
			t.Fatalf("the hanging receiver got nothing within %s", hookWait)
		}
		r.wait(t)
		for i := range 3 {
			s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
			if got := r.wait(t); !got.Signed {
				t.Errorf("delivery %d: %+v", i+2, got)
			}
		}
		if n := len(hung); n != 0 {
			t.Errorf("the hanging receiver got %d more requests while its first hung, want none", n)
		}
	})
}

const rotateSecret = `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret webhook { id } } }`

func TestRotatingASecretSignsWithTheNewOneAtOnce(t *testing.T) {
	servertest.RunWith(t, fastHooks(webhooks.Options{}), func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		maker := s.NewMember(t, owner, loop.Workspace.ID, "MAKER")
		r := newReceiver(t)
		hook := newWebhook(t, s, owner, loop.Workspace.ID, r, "FEEDBACK_ADDED")
		r.mu.Lock()
		old := r.secret
		r.mu.Unlock()
		s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
		if got := r.wait(t); !got.Signed {
			t.Fatalf("before the rotation: %+v", got)
		}

		t.Run("is for owners", func(t *testing.T) {
			s.Do(t, maker.Token, rotateSecret, vars{"id": hook}).RequireError(t, "NOT_FOUND", "")
			s.Do(t, s.NewUser(t, "Stranger").Token, rotateSecret, vars{"id": hook}).RequireError(t, "NOT_FOUND", "")
			s.Do(t, "", rotateSecret, vars{"id": hook}).RequireError(t, "UNAUTHENTICATED", "")
		})

		var out struct {
			RotateWebhookSecret struct {
				Secret  string
				Webhook struct{ ID string }
			}
		}
		decode(t, s, owner, rotateSecret, vars{"id": hook}, &out)
		secret := out.RotateWebhookSecret.Secret
		if !strings.HasPrefix(secret, "whsec_") || secret == old || out.RotateWebhookSecret.Webhook.ID != hook {
			t.Fatalf("rotation gave %+v, old secret %q", out.RotateWebhookSecret, old)
		}
		// The receiver still checks with the old secret: the next delivery
		// must not pass.
		s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
		if got := r.wait(t); got.Signed {
			t.Errorf("a delivery after the rotation is signed with the old secret: %+v", got)
		}
		r.setSecret(secret)
		s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
		if got := r.wait(t); !got.Signed {
			t.Errorf("a delivery after the rotation is not signed with the new secret: %+v", got)
		}
	})
}

func TestWebhookChangesAreEventsForOwnersOnly(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner, ws := loop.Owner.Token, loop.Workspace.ID
		maker := s.NewMember(t, owner, ws, "MAKER")
		viewer := s.NewMember(t, owner, ws, "VIEWER")
		_, invite := newInvite(t, s, owner, loop.Prototype.ID, nil)
		guest, _ := newGuestOf(t, s, invite, "Gita")
		r := newReceiver(t)
		r.URL += "?token=credential-in-the-query"
		before := len(workspaceEventKinds(t, s, ws))

		hook := newWebhook(t, s, owner, ws, r, "FEEDBACK_ADDED")
		r.mu.Lock()
		secrets := []string{r.secret}
		r.mu.Unlock()
		decode(t, s, owner, `mutation($id: ID!) { updateWebhook(id: $id, input: {enabled: false, eventKinds: [FEEDBACK_ADDED, ALERT]}) { id } }`,
			vars{"id": hook}, &struct{}{})
		// A change that changes nothing is no event.
		decode(t, s, owner, `mutation($id: ID!) { updateWebhook(id: $id, input: {enabled: false}) { id } }`, vars{"id": hook}, &struct{}{})
		var rotated struct{ RotateWebhookSecret struct{ Secret string } }
		decode(t, s, owner, rotateSecret, vars{"id": hook}, &rotated)
		secrets = append(secrets, rotated.RotateWebhookSecret.Secret)
		decode(t, s, owner, `mutation($id: ID!) { deleteWebhook(id: $id) { id } }`, vars{"id": hook}, &struct{}{})

		if got, want := workspaceEventKinds(t, s, ws)[before:], []string{"WEBHOOK_CREATED", "WEBHOOK_UPDATED", "WEBHOOK_UPDATED", "WEBHOOK_DELETED"}; !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
		const eventQuery = `query($id: ID!) { node(id: $id) { ... on Event { kind payload } } }`
		var changed [][]any
		for _, e := range workspaceEvents(t, s, ws)[before:] {
			if e.SubjectID.String() != hook {
				t.Errorf("%s is about %s, want the webhook %s", e.Kind, e.SubjectID, hook)
			}
			id := e.ID.String()
			var got struct {
				Node struct {
					Kind    string
					Payload map[string]any
				}
			}
			resp := s.Do(t, owner, eventQuery, vars{"id": id}).RequireOK(t)
			resp.Decode(t, &got)
			for _, secret := range secrets {
				if strings.Contains(string(resp.Data), secret) || strings.Contains(string(resp.Data), "credential") {
					t.Errorf("%s carries the secret or the URL: %s", got.Node.Kind, resp.Data)
				}
			}
			if got.Node.Payload["host"] != strings.TrimPrefix(strings.Split(r.URL, "/hook")[0], "http://") {
				t.Errorf("%s payload %v, want the receiver's host", got.Node.Kind, got.Node.Payload)
			}
			c, _ := got.Node.Payload["changed"].([]any)
			changed = append(changed, c)
			for _, who := range []struct{ name, token string }{{"a maker", maker.Token}, {"a viewer", viewer.Token}, {"a tester", guest}} {
				t.Run(got.Node.Kind+" is hidden from "+who.name, func(t *testing.T) {
					requireHidden(t, s.Do(t, who.token, eventQuery, vars{"id": id}), "node")
				})
			}
		}
		if fmt.Sprint(changed) != "[[] [eventKinds enabled] [secret] []]" {
			t.Errorf("changed fields %v", changed)
		}
	})
}

package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/protoloop/protoloop/ent"
	entevent "github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/server/servertest"
	"github.com/protoloop/protoloop/server/storage"
)

// The exactly-once test sends feedback from many clients with idempotency
// keys to a real protoloop process, kills it with SIGKILL twice on the
// way and restarts it, while a subscriber follows the prototype's
// timeline, reconnecting with its cursor. Clients retry whatever was not
// acknowledged, with the same key. In the end every key has exactly one
// feedback, every acknowledgement names it, each has exactly one event,
// the event positions have no gap, and the subscriber saw every feedback
// event exactly once, in order.
const (
	crashClients = 50
	// crashSubmissions is the CI size; PROTOLOOP_FAULT_LONG=1 sends
	// crashSubmissionsLong.
	crashSubmissions     = 500
	crashSubmissionsLong = 2000
	crashKills           = 2
)

func TestExactlyOnceFeedbackAcrossSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the protoloop binary")
	}
	n := crashSubmissions
	if os.Getenv(envFaultLong) == "1" {
		n = crashSubmissionsLong
	}
	bin := servertest.BuildProtoloop(t)
	for _, b := range servertest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			var storeOpts storage.Options
			args := []string{"serve", "--log-format", "json",
				// The clients stand for 50 people on one machine: the limits
				// for one address would be reached at once.
				"--rate-feedback", "0", "--rate-guest-feedback-ip", "0", "--rate-redeem", "0", "--rate-login", "0"}
			if b == servertest.Postgres {
				storeOpts.DatabaseURL = servertest.PostgresSchema(t)
				args = append(args, "--database-url", storeOpts.DatabaseURL)
			} else {
				storeOpts.DataDir = t.TempDir()
				args = append(args, "--data", storeOpts.DataDir)
			}
			crashRun(t, bin, args, storeOpts, n)
		})
	}
}

// child is a protoloop serve process that the test kills and restarts on
// the same address.
type child struct {
	t    *testing.T
	bin  string
	args []string
	addr string
	url  string
	logs *servertest.Buffer
	cmd  *exec.Cmd
	exit chan error
}

func startChild(t *testing.T, bin string, args []string) *child {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := &child{t: t, bin: bin, args: append(args, "--addr", addr), addr: addr, url: "http://" + addr, logs: &servertest.Buffer{}}
	t.Cleanup(func() {
		if c.cmd != nil {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.exit:
			case <-time.After(15 * time.Second):
				_ = c.cmd.Process.Kill()
				<-c.exit
			}
		}
		if t.Failed() {
			t.Logf("protoloop's log:\n%s", c.logs.String())
		}
	})
	c.start()
	return c
}

// start starts the process and waits until /readyz says it serves; it
// returns how long that took.
func (c *child) start() time.Duration {
	c.t.Helper()
	began := time.Now()
	cmd := exec.Command(c.bin, c.args...)
	// Only what the flags say: none of the developer's PROTOLOOP_* or
	// DATABASE_URL.
	cmd.Env = []string{"HOME=" + c.t.TempDir(), "PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = c.logs, c.logs
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start protoloop: %v", err)
	}
	c.cmd = cmd
	c.exit = make(chan error, 1)
	go func() { c.exit <- cmd.Wait() }()
	for {
		resp, err := http.Get(c.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(began)
			}
		}
		select {
		case err := <-c.exit:
			c.cmd = nil
			c.t.Fatalf("protoloop exited before it was ready: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(began) > time.Minute {
			c.t.Fatal("protoloop not ready after a minute")
		}
	}
}

// kill kills the process with SIGKILL and waits for it to be gone.
func (c *child) kill() {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatalf("kill protoloop: %v", err)
	}
	<-c.exit
	c.cmd = nil
}

// crashGQL posts a GraphQL request and decodes its data, returning an
// error for a failed exchange or a response with errors.
func crashGQL(ctx context.Context, base, token, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Data   json.RawMessage
		Errors []json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, r.Errors[0])
	}
	return json.Unmarshal(r.Data, out)
}

// feedSubscriber follows a prototype's FEEDBACK_ADDED events over
// graphql-transport-ws, reconnecting after its last cursor whenever the
// connection drops.
type feedSubscriber struct {
	base, token, prototype string

	mu         sync.Mutex
	seqs       []int64
	subjects   []string
	cursor     any // nil until the first event
	reconnects int
	problems   []string
	seen       chan struct{} // a token per event
}

func (f *feedSubscriber) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := f.session(ctx)
		if ctx.Err() != nil {
			return
		}
		f.mu.Lock()
		f.reconnects++
		f.mu.Unlock()
		_ = err
		time.Sleep(50 * time.Millisecond)
	}
}

// session runs one connection until it fails.
func (f *feedSubscriber) session(ctx context.Context) error {
	d := websocket.Dialer{Subprotocols: []string{transportWS}, HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.DialContext(ctx, wsURL(f.base), nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"token": f.token}}); err != nil {
		return err
	}
	f.mu.Lock()
	after := f.cursor
	f.mu.Unlock()
	if err := conn.WriteJSON(map[string]any{"type": "subscribe", "id": "feed", "payload": map[string]any{
		"query": `subscription($p: ID!, $after: Cursor) {
			prototypeEvents(prototype: $p, after: $after, kinds: [FEEDBACK_ADDED]) { cursor seq subject { id } }
		}`,
		"variables": map[string]any{"p": f.prototype, "after": after},
	}}); err != nil {
		return err
	}
	for {
		var m struct {
			Type    string
			ID      string
			Payload json.RawMessage
		}
		if err := conn.ReadJSON(&m); err != nil {
			return err
		}
		switch m.Type {
		case "ping":
			if err := conn.WriteJSON(map[string]any{"type": "pong"}); err != nil {
				return err
			}
		case "next":
			var r struct {
				Data struct {
					PrototypeEvents struct {
						Cursor  any
						Seq     int64
						Subject struct{ ID string }
					}
				}
				Errors []json.RawMessage
			}
			if err := json.Unmarshal(m.Payload, &r); err != nil || len(r.Errors) > 0 {
				// UNAVAILABLE while the database is reached again: resubscribe.
				return fmt.Errorf("result %s", m.Payload)
			}
			e := r.Data.PrototypeEvents
			f.mu.Lock()
			f.seqs = append(f.seqs, e.Seq)
			f.subjects = append(f.subjects, e.Subject.ID)
			f.cursor = e.Cursor
			f.mu.Unlock()
			select {
			case f.seen <- struct{}{}:
			default: // more events than expected: the final check says so
			}
		case "error", "complete":
			f.mu.Lock()
			f.problems = append(f.problems, fmt.Sprintf("%s %s", m.Type, m.Payload))
			f.mu.Unlock()
			return errors.New(m.Type)
		}
	}
}

// crashRun is the test on one backend.
func crashRun(t *testing.T, bin string, args []string, storeOpts storage.Options, n int) {
	t.Helper()
	c := startChild(t, bin, args)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// The world: an owner's prototype with a published iteration, and an
	// invite that 50 guests redeem.
	var up struct{ SignUp struct{ Token string } }
	must(crashGQL(ctx, c.url, "", `mutation($in: SignUpInput!) { signUp(input: $in) { token } }`,
		map[string]any{"in": map[string]any{"email": "olive@example.test", "name": "Olive", "password": servertest.Password}}, &up))
	owner := up.SignUp.Token
	var ws struct{ CreateWorkspace struct{ ID string } }
	must(crashGQL(ctx, c.url, owner, `mutation($in: CreateWorkspaceInput!) { createWorkspace(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"name": "Acme", "slug": "acme"}}, &ws))
	var p struct{ CreatePrototype struct{ ID string } }
	must(crashGQL(ctx, c.url, owner, `mutation($in: CreatePrototypeInput!) { createPrototype(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"workspaceID": ws.CreateWorkspace.ID, "title": "Shift signup", "slug": "shifts",
			"problem": "Volunteers retype the same form.", "missionLink": "More time with people."}}, &p))
	var it struct{ CreateIteration struct{ ID string } }
	must(crashGQL(ctx, c.url, owner, `mutation($p: ID!, $in: CreateIterationInput!) { createIteration(prototypeID: $p, input: $in) { id } }`,
		map[string]any{"p": p.CreatePrototype.ID, "in": map[string]any{"title": "First", "changelog": "All new.", "url": "https://example.test/try"}}, &it))
	var pub struct{ PublishIteration struct{ Number int } }
	must(crashGQL(ctx, c.url, owner, `mutation($id: ID!) { publishIteration(id: $id) { number } }`, map[string]any{"id": it.CreateIteration.ID}, &pub))
	var inv struct{ CreateInvite struct{ Token string } }
	must(crashGQL(ctx, c.url, owner, `mutation($in: CreateInviteInput!) { createInvite(input: $in) { token } }`,
		map[string]any{"in": map[string]any{"prototypeID": p.CreatePrototype.ID}}, &inv))
	guests := make([]string, crashClients)
	for i := range guests {
		var r struct{ RedeemInvite struct{ Token string } }
		must(crashGQL(ctx, c.url, "", `mutation($in: RedeemInviteInput!) { redeemInvite(input: $in) { token } }`,
			map[string]any{"in": map[string]any{"token": inv.CreateInvite.Token, "displayName": fmt.Sprint("Tester ", i)}}, &r))
		guests[i] = r.RedeemInvite.Token
	}

	sub := &feedSubscriber{base: c.url, token: owner, prototype: p.CreatePrototype.ID, seen: make(chan struct{}, n+crashClients)}
	subCtx, stopSub := context.WithCancel(ctx)
	subDone := make(chan struct{})
	go func() { defer close(subDone); sub.run(subCtx) }()
	defer func() { stopSub(); <-subDone }()

	// The clients: each sends its share, one at a time, retrying a
	// submission with its key until it is acknowledged.
	var (
		acked    atomic.Int64
		retried  atomic.Int64 // submissions that needed more than one attempt
		mu       sync.Mutex
		ackedIDs = map[string]string{} // key → the feedback ID acknowledged
		failures = map[string]int{}
	)
	began := time.Now()
	var clients sync.WaitGroup
	for ci := range crashClients {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for i := ci; i < n; i += crashClients {
				key := fmt.Sprintf("c%02d-%04d", ci, i)
				for attempt := 0; ; attempt++ {
					var out struct{ LeaveFeedback struct{ ID string } }
					err := crashGQL(ctx, c.url, guests[ci], `mutation($in: LeaveFeedbackInput!) { leaveFeedback(input: $in) { id } }`,
						map[string]any{"in": map[string]any{"iterationID": it.CreateIteration.ID, "kind": "IDEA",
							"body": "feedback " + key, "idempotencyKey": key}}, &out)
					if err == nil {
						mu.Lock()
						ackedIDs[key] = out.LeaveFeedback.ID
						mu.Unlock()
						acked.Add(1)
						if attempt > 0 {
							retried.Add(1)
						}
						break
					}
					mu.Lock()
					failures[errorKind(err)]++
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}

	// The killer: SIGKILL at a third and at two thirds of the way.
	var restarts []time.Duration
	for k := 1; k <= crashKills; k++ {
		for acked.Load() < int64(n*k/(crashKills+1)) {
			time.Sleep(5 * time.Millisecond)
		}
		c.kill()
		restarts = append(restarts, c.start())
	}
	clients.Wait()
	sent := time.Since(began)

	// The subscriber catches up with every event.
	deadline := time.After(time.Minute)
	for range n {
		select {
		case <-sub.seen:
		case <-deadline:
			sub.mu.Lock()
			t.Fatalf("the subscriber saw %d of %d feedback events within a minute; problems %v", len(sub.seqs), n, sub.problems)
		}
	}
	stopSub()
	<-subDone
	// Stop the server before reading its database: SQLite's file is then
	// all ours.
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	<-c.exit
	c.cmd = nil

	// What the database holds.
	db, err := storage.Open(ctx, storeOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	allow := privacy.DecisionContext(ctx, privacy.Allow)
	fbs, err := db.Client.Feedback.Query().All(allow)
	must(err)
	byKey := map[string]*ent.Feedback{}
	for _, fb := range fbs {
		if fb.IdempotencyKey == nil {
			t.Errorf("feedback %s without a key", fb.ID)
			continue
		}
		if prev := byKey[*fb.IdempotencyKey]; prev != nil {
			t.Errorf("key %s has two feedback: %s and %s", *fb.IdempotencyKey, prev.ID, fb.ID)
		}
		byKey[*fb.IdempotencyKey] = fb
	}
	if len(fbs) != n || len(ackedIDs) != n {
		t.Errorf("%d feedback stored and %d acknowledged, want %d each", len(fbs), len(ackedIDs), n)
	}
	for key, id := range ackedIDs {
		if fb := byKey[key]; fb == nil || fb.ID.String() != id {
			t.Errorf("key %s was acknowledged as %s, stored as %v", key, id, fb)
		}
	}

	events, err := db.Client.Event.Query().Order(ent.Asc(entevent.FieldSeq)).All(allow)
	must(err)
	var feedbackEvents []string
	subjects := map[string]int{}
	for i, e := range events {
		if e.Seq != int64(i+1) {
			t.Fatalf("event positions have a gap: position %d holds seq %d", i+1, e.Seq)
		}
		if e.Kind == entevent.KindFEEDBACK_ADDED {
			feedbackEvents = append(feedbackEvents, e.SubjectID.String())
			subjects[e.SubjectID.String()]++
		}
	}
	for _, fb := range fbs {
		if subjects[fb.ID.String()] != 1 {
			t.Errorf("feedback %s has %d FEEDBACK_ADDED events, want 1", fb.ID, subjects[fb.ID.String()])
		}
	}
	if len(feedbackEvents) != n {
		t.Errorf("%d FEEDBACK_ADDED events, want %d", len(feedbackEvents), n)
	}

	sub.mu.Lock()
	defer sub.mu.Unlock()
	if !slices.IsSorted(sub.seqs) || len(slices.Compact(slices.Clone(sub.seqs))) != len(sub.seqs) {
		t.Errorf("the subscriber saw events out of order or twice")
	}
	if !slices.Equal(sub.subjects, feedbackEvents) {
		t.Errorf("the subscriber saw %d feedback events, not the %d stored, in their order", len(sub.subjects), len(feedbackEvents))
	}
	t.Logf("%s: %d submissions from %d clients in %v with %d SIGKILLs; restarts took %v; %d submissions retried (failures %v); subscriber reconnected %d times",
		t.Name(), n, crashClients, sent.Round(time.Millisecond), crashKills, roundAll(restarts), retried.Load(), failures, sub.reconnects)
}

// errorKind sums up a failed attempt for the report: a refused
// connection, a cut one, or the error code the server answered.
func errorKind(err error) string {
	var netErr *net.OpError
	switch {
	case errors.As(err, &netErr) && errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection"
	}
	var r struct {
		Extensions struct{ Code string }
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '{'); i >= 0 && json.Unmarshal([]byte(msg[i:]), &r) == nil && r.Extensions.Code != "" {
		return r.Extensions.Code
	}
	return "other"
}

func roundAll(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond).String()
	}
	return out
}

package graph

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// A subscription the broker feeds takes an event that another subscriber
// of its group has encoded without running gqlgen's handler
// (EventFeed.Shared), and gets the very payload the first subscriber's
// handler returned. The handler still runs for the first subscriber of a
// group, for every subscriber of another group, and for the stream's end.
func TestSharedPayloadsSkipTheResponseHandler(t *testing.T) {
	cache := newPayloadCache(sharedPayloads)
	workspace := gid.New(gid.Workspace)
	owner := viewer.NewIdentity(gid.New(gid.User), gid.New(gid.AuthToken), map[gid.ID]viewer.Role{workspace: viewer.Owner})
	// The owner's second connection: the same token, loaded again.
	again := viewer.NewIdentity(owner.UserID, owner.TokenID, map[gid.ID]viewer.Role{workspace: viewer.Owner})
	viewerOf := viewer.NewIdentity(gid.New(gid.User), gid.New(gid.AuthToken), map[gid.ID]viewer.Role{workspace: viewer.Viewer})
	op := &graphql.OperationContext{
		RawQuery:  `subscription($p: ID!) { prototypeEvents(prototype: $p) { seq kind } }`,
		Variables: map[string]any{"p": gid.New(gid.Prototype).String()},
	}

	type subscription struct {
		name    string
		events  chan *ent.Event
		feed    *EventFeed
		respond graphql.ResponseHandler
		ctx     context.Context
		calls   int // of gqlgen's handler
	}
	subscribe := func(name string, id *viewer.Identity) *subscription {
		s := &subscription{name: name, events: make(chan *ent.Event, 4)}
		ctx := graphql.WithOperationContext(viewer.NewContext(context.Background(), id), op)
		s.ctx = graphql.WithResponseContext(ctx, graphql.DefaultErrorPresenter, graphql.DefaultRecover)
		slot := &streamSlot{in: s.events, out: make(chan *ent.Event, 1)}
		// gqlgen's handler, as far as sharing sees it: it takes the event
		// put in the slot and encodes it.
		gqlgen := func(context.Context) *graphql.Response {
			s.calls++
			ev, ok := <-slot.out
			if !ok {
				return nil
			}
			return &graphql.Response{Data: fmt.Appendf(nil, `{"e":{"seq":%d,"by":%q}}`, ev.Seq, name)}
		}
		sh := newSharer(s.ctx, cache, slot, gqlgen)
		s.feed = &EventFeed{attached: true, sharer: sh}
		s.respond = sh.respond
		return s
	}
	first := subscribe("first", owner)
	second := subscribe("second", again)
	other := subscribe("viewer", viewerOf)
	all := []*subscription{first, second, other}

	ev := &ent.Event{ID: gid.New(gid.Event), Seq: 7}
	for _, s := range all {
		s.events <- ev
	}
	payloads := map[string][]byte{}
	for _, s := range all {
		if payload, ok := s.feed.Shared(); ok {
			payloads[s.name] = payload
			continue
		}
		resp := s.respond(s.ctx)
		if resp == nil {
			t.Fatalf("%s: the stream ended at its first event", s.name)
		}
		payloads[s.name] = append(append([]byte(`{"data":`), resp.Data...), '}')
	}
	want := map[string]string{
		"first":  `{"data":{"e":{"seq":7,"by":"first"}}}`,
		"second": `{"data":{"e":{"seq":7,"by":"first"}}}`, // shared, as written
		"viewer": `{"data":{"e":{"seq":7,"by":"viewer"}}}`,
	}
	calls := map[string]int{"first": 1, "second": 0, "viewer": 1}
	for _, s := range all {
		if got := payloads[s.name]; !bytes.Equal(got, []byte(want[s.name])) {
			t.Errorf("%s got %s, want %s", s.name, got, want[s.name])
		}
		if s.calls != calls[s.name] {
			t.Errorf("%s: gqlgen's handler ran %d times, want %d", s.name, s.calls, calls[s.name])
		}
	}

	// The end of the stream goes through the handler, which ends it.
	close(second.events)
	if payload, ok := second.feed.Shared(); ok {
		t.Fatalf("a payload %s after the stream's end", payload)
	}
	if resp := second.respond(second.ctx); resp != nil || second.calls != 1 {
		t.Fatalf("after the end: %v, handler calls %d; want nil from one call", resp, second.calls)
	}
}

// Detached feeds of the same document, operation name and variables keep
// one operation between them, whoever subscribes; other variables, or
// another operation name, get one of their own; and an operation no feed
// holds any more leaves the table.
func TestDetachedFeedsShareTheirOperation(t *testing.T) {
	const doc = `subscription A($p: ID!) { prototypeEvents(prototype: $p) { seq } }
		subscription B($p: ID!) { prototypeEvents(prototype: $p) { seq } }`
	p, q := gid.New(gid.Prototype).String(), gid.New(gid.Prototype).String()
	op := func(name, prototype string) *graphql.OperationContext {
		// Each subscriber decodes and validates its own request.
		return &graphql.OperationContext{RawQuery: string([]byte(doc)), OperationName: name, Variables: map[string]any{"p": prototype}}
	}
	var table operationTable
	first := table.intern(op("A", p))
	if got := table.intern(op("A", p)); got != first {
		t.Error("a second subscriber of the same operation kept an operation of its own")
	}
	if got := table.intern(op("A", q)); got == first {
		t.Error("other variables were given the first subscriber's operation")
	}
	if got := table.intern(op("B", p)); got == first {
		t.Error("another operation name was given the first subscriber's operation")
	}
	first = nil
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		table.mu.Lock()
		n := len(table.ops)
		table.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d operations still in the table after their feeds went", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPayloadCacheHandsEachGroupItsOwnEntry(t *testing.T) {
	c := newPayloadCache(8)
	ev := gid.New(gid.Event)
	// Two groups whose sums start alike share a slot of the latest
	// entries.
	a, b := payloadKey{event: ev}, payloadKey{event: ev}
	a.sum[0], b.sum[0], b.sum[31] = 7, 7, 1
	first, encode := c.claim(a)
	if !encode {
		t.Fatal("the first claim of a's event is not to encode")
	}
	if e, encode := c.claim(a); encode || e != first {
		t.Errorf("a's second claim: encode %v, the first's entry %v; want false, true", encode, e == first)
	}
	other, encode := c.claim(b)
	if !encode || other == first {
		t.Errorf("b's first claim: encode %v, a's entry %v; want true, false", encode, other == first)
	}
	if e, encode := c.claim(a); encode || e != first {
		t.Errorf("a's claim after b's: encode %v, the first's entry %v; want false, true", encode, e == first)
	}
	next := payloadKey{event: gid.New(gid.Event), sum: a.sum}
	if e, encode := c.claim(next); !encode || e == first {
		t.Errorf("a's next event: encode %v, the last event's entry %v; want true, false", encode, e == first)
	}
}

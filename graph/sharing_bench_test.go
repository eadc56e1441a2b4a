package graph

import (
	"context"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// BenchmarkSharedEventPayload is what one subscriber costs the server's
// GraphQL side for one live event when another subscriber of its group
// has encoded it (see sharingSchema): taking the event from the broker's
// channel and the payload from the cache, through EventFeed.Shared, as
// the websocket transport does. Compare BenchmarkEventEncoding, which
// every subscriber paid before payloads were shared.
func BenchmarkSharedEventPayload(b *testing.B) {
	op := &graphql.OperationContext{
		RawQuery:  `subscription($p: ID!) { prototypeEvents(prototype: $p) { id cursor seq kind occurredAt payload } }`,
		Variables: map[string]any{"p": gid.New(gid.Prototype).String()},
	}
	id := viewer.NewIdentity(gid.New(gid.User), gid.New(gid.AuthToken), map[gid.ID]viewer.Role{gid.New(gid.Workspace): "OWNER"})
	ctx := graphql.WithOperationContext(viewer.NewContext(context.Background(), id), op)
	cache := newPayloadCache(sharedPayloads)
	events := make(chan *ent.Event, 1)
	sh := newSharer(ctx, cache, &streamSlot{in: events}, nil)
	feed := &EventFeed{attached: true, sharer: sh}
	ev := &ent.Event{ID: gid.New(gid.Event)}
	first, _ := cache.claim(payloadKey{event: ev.ID, sum: sh.sum})
	first.payload = newSharedPayload([]byte(`{"prototypeEvents":{"id":"evt_1","cursor":"gqFp2SRldnRfMQ","seq":123456,"kind":"FEEDBACK_STATUS_CHANGED","occurredAt":"2026-11-30T12:00:00Z","payload":{"from":"OPEN","to":"ACKNOWLEDGED"}}}`))
	first.fill(true)
	b.ReportAllocs()
	for b.Loop() {
		events <- ev
		if payload, ok := feed.Shared(); !ok || len(payload) == 0 {
			b.Fatal("not shared")
		}
	}
}

// BenchmarkDetachedEventEncoding is what encoding an event costs a
// subscription whose feed is detached (EventFeed.Detach): the executor
// is dispatched again on the operation, the resolver hands it the event,
// and gqlgen's handler encodes it. Compare BenchmarkEventEncoding, the
// same selection encoded by a handler kept for the subscription's life:
// the difference is the dispatch, paid once per group and event.
func BenchmarkDetachedEventEncoding(b *testing.B) {
	const doc = `subscription($p: ID!) {
		prototypeEvents(prototype: $p) { id cursor seq kind occurredAt payload }
	}`
	schema := NewExecutableSchema(Config{Resolvers: &Resolver{}})
	exec := executor.New(sharingSchema{perResponse{schema}, newPayloadCache(sharedPayloads)})
	p := gid.New(gid.Prototype)
	base := viewer.NewContext(context.Background(), viewer.NewIdentity(gid.New(gid.User), gid.New(gid.AuthToken), nil))
	rc, errs := exec.CreateOperationContext(graphql.StartOperationTrace(base), &graphql.RawParams{
		Query: doc, Variables: map[string]any{"p": p.String()},
	})
	if errs != nil {
		b.Fatal(errs)
	}
	feed := &EventFeed{base: base, exec: exec, op: rc}
	e := &ent.Event{
		ID:          gid.New(gid.Event),
		WorkspaceID: gid.New(gid.Workspace),
		PrototypeID: &p,
		Seq:         123456,
		Kind:        event.KindFEEDBACK_STATUS_CHANGED,
		SubjectID:   gid.New(gid.Feedback),
		OccurredAt:  time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		Payload:     map[string]any{"from": "OPEN", "to": "ACKNOWLEDGED"},
	}
	var resp *graphql.Response
	b.ReportAllocs()
	for b.Loop() {
		resp = feed.encode(e)
		if resp == nil || len(resp.Errors) > 0 || len(resp.Data) == 0 {
			b.Fatalf("%+v", resp)
		}
	}
	b.Logf("%s", resp.Data)
}

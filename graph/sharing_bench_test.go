package graph

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/protoloop/protoloop/ent"
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

package graph

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// BenchmarkSharedEventPayload is what one subscriber costs the server for
// one live event when another subscriber of its group has encoded it (see
// sharingSchema): the group's key, the cache, and the transport wrapping
// the shared payload in a message. Compare BenchmarkEventEncoding, which
// every subscriber paid before.
func BenchmarkSharedEventPayload(b *testing.B) {
	op := &graphql.OperationContext{
		RawQuery:  `subscription($p: ID!) { prototypeEvents(prototype: $p) { id cursor seq kind occurredAt payload } }`,
		Variables: map[string]any{"p": gid.New(gid.Prototype).String()},
	}
	operation := operationSum(op)
	id := viewer.NewIdentity(gid.New(gid.User), gid.New(gid.AuthToken), map[gid.ID]viewer.Role{gid.New(gid.Workspace): "OWNER"})
	cache := newPayloadCache(sharedPayloads)
	event := gid.New(gid.Event)
	first, _ := cache.claim(payloadKey{event: event, sum: shareSum(operation, id)})
	first.payload = newSharedPayload([]byte(`{"prototypeEvents":{"id":"evt_1","cursor":"gqFp2SRldnRfMQ","seq":123456,"kind":"FEEDBACK_STATUS_CHANGED","occurredAt":"2026-11-30T12:00:00Z","payload":{"from":"OPEN","to":"ACKNOWLEDGED"}}}`))
	first.fill(true)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		entry, encode := cache.claim(payloadKey{event: event, sum: shareSum(operation, id)})
		data, ok := entry.wait(ctx)
		if encode || !ok {
			b.Fatal("not shared")
		}
		msg, err := json.Marshal(struct {
			ID      string            `json:"id"`
			Type    string            `json:"type"`
			Payload *graphql.Response `json:"payload"`
		}{"1", "next", &graphql.Response{Data: data.data()}})
		if err != nil || len(msg) == 0 {
			b.Fatal(err)
		}
	}
}

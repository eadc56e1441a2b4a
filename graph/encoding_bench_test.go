package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/schema/gid"
)

// BenchmarkEventEncoding is what one subscriber costs the server for one
// live event: gqlgen runs the subscription's selection on the event and
// the transport wraps the result in a message. The selection is the one
// of a timeline that renders the event itself (no actor or subject, which
// are database reads and measured by the timeline tests instead).
func BenchmarkEventEncoding(b *testing.B) {
	const doc = `subscription($p: ID!) {
		prototypeEvents(prototype: $p) { id cursor seq kind occurredAt payload }
	}`
	es := NewExecutableSchema(Config{Resolvers: &Resolver{}})
	p := gid.New(gid.Prototype)
	ctx := graphql.StartOperationTrace(context.Background())
	opCtx, errs := executor.New(es).CreateOperationContext(ctx, &graphql.RawParams{
		Query: doc, Variables: map[string]any{"p": p.String()},
	})
	if errs != nil {
		b.Fatal(errs)
	}
	ctx = graphql.WithOperationContext(ctx, opCtx)
	ctx = graphql.WithResponseContext(ctx, graphql.DefaultErrorPresenter, graphql.DefaultRecover)
	ec := newExecutionContext(opCtx, es.(*executableSchema), nil)
	selection := opCtx.Operation.SelectionSet[0].(*ast.Field).SelectionSet

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
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		ec.marshalNEvent2ᚖgithubᚗcomᚋprotoloopᚋprotoloopᚋentᚐEvent(ctx, selection, e).MarshalGQL(&buf)
		msg, err := json.Marshal(struct {
			ID      string            `json:"id"`
			Type    string            `json:"type"`
			Payload *graphql.Response `json:"payload"`
		}{"1", "next", &graphql.Response{Data: buf.Bytes()}})
		if err != nil || len(msg) == 0 {
			b.Fatal(err)
		}
	}
	if errs := graphql.GetErrors(ctx); len(errs) > 0 {
		b.Fatal(errs)
	}
	b.Logf("%s", buf.String())
}

// The cursor codec is entgql's (msgpack, then base64): it writes a cursor
// for every edge of every connection and for every live event, and reads
// the after/before arguments.

func BenchmarkCursorMarshal(b *testing.B) {
	c := eventCursor(&ent.Event{ID: gid.New(gid.Event), Seq: 123456})
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		c.MarshalGQL(&buf)
	}
}

func BenchmarkCursorUnmarshal(b *testing.B) {
	var buf bytes.Buffer
	eventCursor(&ent.Event{ID: gid.New(gid.Event), Seq: 123456}).MarshalGQL(&buf)
	s := any(string(bytes.Trim(buf.Bytes(), `"`)))
	b.ReportAllocs()
	for b.Loop() {
		var c ent.Cursor
		if err := c.UnmarshalGQL(s); err != nil {
			b.Fatal(err)
		}
	}
}

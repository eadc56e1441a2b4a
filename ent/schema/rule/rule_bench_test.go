package rule_test

import (
	"context"
	"testing"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/schema"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/rule"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// Authorization runs on every query (a policy adds its filter) and, in
// the broker, for every live event and every subscriber (EventVisible).
// These benchmarks measure both for the two kinds of caller: a member of
// a few workspaces and a guest tester of one prototype.

// callers returns a member of three workspaces, the first of them ws, and
// a guest testing prototype p of ws.
func callers() (ws, p gid.ID, member, tester *viewer.Identity) {
	ws, p = gid.New(gid.Workspace), gid.New(gid.Prototype)
	member = viewer.NewIdentity(gid.New(gid.User), gid.New(gid.AuthToken), map[gid.ID]viewer.Role{
		ws: viewer.Maker, gid.New(gid.Workspace): viewer.Owner, gid.New(gid.Workspace): viewer.Viewer,
	})
	tester = viewer.NewGuest(gid.New(gid.AuthToken), viewer.Tester{
		Prototype: p, Workspace: ws, Participant: gid.New(gid.Participant),
	})
	return ws, p, member, tester
}

func BenchmarkEventVisible(b *testing.B) {
	ws, p, member, tester := callers()
	e := &ent.Event{ID: gid.New(gid.Event), WorkspaceID: ws, PrototypeID: &p, Kind: event.KindFEEDBACK_ADDED}
	for _, c := range []struct {
		name string
		id   *viewer.Identity
	}{{"member", member}, {"tester", tester}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !rule.EventVisible(c.id, e) {
					b.Fatal("event not visible")
				}
			}
		})
	}
}

// BenchmarkFeedbackQueryPolicy is what authorizing one query costs: the
// Feedback policy adding its filter to a query, before any SQL is built.
func BenchmarkFeedbackQueryPolicy(b *testing.B) {
	_, _, member, tester := callers()
	client := ent.NewClient()
	policy := schema.Feedback{}.Policy()
	for _, c := range []struct {
		name string
		id   *viewer.Identity
	}{{"member", member}, {"tester", tester}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := viewer.NewContext(context.Background(), c.id)
			b.ReportAllocs()
			for b.Loop() {
				if err := policy.EvalQuery(ctx, client.Feedback.Query()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

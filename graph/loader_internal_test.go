package graph

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/schema/gid"
)

// Every event of a page asks pageOf for its page: listing the page anew
// for each would make a page of n events cost n² steps. The allocations
// of asking for every event of a page stay the same however long it is.
func TestPageOfListsEachPageOncePerResponse(t *testing.T) {
	allocs := func(n int) float64 {
		conn := &ent.EventConnection{}
		for i := range n {
			conn.Edges = append(conn.Edges, &ent.EventEdge{Node: &ent.Event{ID: gid.ID(i + 1)}})
		}
		return testing.AllocsPerRun(1, func() {
			c := &requestCache{entries: map[any]*cacheEntry{}}
			ctx := context.WithValue(context.Background(), requestCacheKey{}, c)
			ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Result: conn})
			for _, edge := range conn.Edges {
				page, events := pageOf(ctx, edge.Node)
				if page != conn || len(events) != n {
					t.Fatalf("pageOf gave a page of %d events, want the connection's %d", len(events), n)
				}
			}
		})
	}
	few, many := allocs(10), allocs(500)
	if many > few+10 {
		t.Errorf("asking for the page of each of 10 events made %v allocations, of 500 events %v: want about the same", few, many)
	}
}

package schema_test

import (
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/iteration"
	"github.com/protoloop/protoloop/server/servertest"
)

// A page's edges are allocated together, in one block (ent/entc.go, the
// pagination patch), not one by one: building a page of eager-loaded
// feedback (as a nested page of the dashboard is built) allocates as
// much for 13 edges as for 3. Counted on one backend: building a page
// does not read the database.
func TestAPagesEdgesAreAllocatedTogether(t *testing.T) {
	_, client, ctx := serverWithFeedback(t, servertest.SQLite, 13)
	it, err := client.Iteration.Query().Where(iteration.HasFeedback()).Only(ctx)
	if err != nil {
		t.Fatal(err)
	}
	withFeedback := func(n int) *ent.Iteration {
		loaded, err := client.Iteration.Query().Where(iteration.ID(it.ID)).
			WithNamedFeedback("feedback", func(q *ent.FeedbackQuery) { q.Limit(n) }).Only(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return loaded
	}
	field := graphql.WithFieldContext(ctx, &graphql.FieldContext{Field: graphql.CollectedField{Field: &ast.Field{Alias: "feedback"}}})
	allocs := func(it *ent.Iteration, edges int) float64 {
		return testing.AllocsPerRun(100, func() {
			conn, err := it.Feedback(field, nil, nil, nil, nil, nil, nil)
			if err != nil || len(conn.Edges) != edges {
				t.Fatalf("a page of %d: %v, %d edges", edges, err, len(conn.Edges))
			}
		})
	}
	few, many := allocs(withFeedback(3), 3), allocs(withFeedback(13), 13)
	if perEdge := (many - few) / 10; perEdge > 0.5 {
		t.Errorf("%.1f allocations per edge (%.0f for a page of 3, %.0f for 13), want none", perEdge, few, many)
	}
}

package pagesql_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/feedback"
	"github.com/protoloop/protoloop/ent/iteration"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/pagesql"
	"github.com/protoloop/protoloop/server/servertest"
)

// recorder is an ent driver that keeps the queries it runs.
type recorder struct {
	dialect.Driver
	queries []recorded
}

type recorded struct {
	query string
	args  []any
}

func (r *recorder) Query(ctx context.Context, query string, args, v any) error {
	a, _ := args.([]any)
	r.queries = append(r.queries, recorded{query, a})
	return r.Driver.Query(ctx, query, args, v)
}

// planNode is the part of EXPLAIN (ANALYZE, FORMAT JSON) the test reads.
type planNode struct {
	Type  string     `json:"Node Type"`
	Rows  float64    `json:"Actual Rows"` // per loop
	Plans []planNode `json:"Plans"`
}

// TestPageOfEachParentIsReadOneParentAtATime loads the first 3 feedback
// of each of 3 iterations with 8 feedback each, as a nested connection
// page does, and reads the plan PostgreSQL ran: below its result, no step
// may handle more rows at a time than one iteration's feedback. entgql's
// window (entgql.LimitPerRow) sorts all 24 to keep 9; the LATERAL join
// reads each iteration's 8 and keeps 3.
func TestPageOfEachParentIsReadOneParentAtATime(t *testing.T) {
	s := servertest.Start(t, servertest.Postgres)
	loop := s.NewLoop(t)
	var iterations []gid.ID
	for i := range 3 {
		it := loop.Iteration
		if i > 0 {
			it = s.NewPublishedIteration(t, loop.Owner.Token, loop.Prototype.ID)
		}
		for range 8 {
			s.LeaveFeedback(t, loop.Owner.Token, it.ID, nil)
		}
		id, err := gid.Parse(it.ID)
		if err != nil {
			t.Fatal(err)
		}
		iterations = append(iterations, id)
	}

	rec := &recorder{Driver: entsql.OpenDB(dialect.Postgres, s.DB.SQL)}
	client := ent.NewClient(ent.Driver(rec))
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	byID := entsql.ExprFunc(func(b *entsql.Builder) { b.Ident(feedback.FieldID).WriteString(" ASC") })
	got, err := client.Iteration.Query().Where(iteration.IDIn(iterations...)).
		WithFeedback(func(q *ent.FeedbackQuery) {
			q.Modify(pagesql.LimitPerParent(iteration.FeedbackColumn, 3, byID))
		}).
		All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range got {
		all, err := client.Feedback.Query().Where(feedback.IterationID(it.ID)).Order(feedback.ByID()).IDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []gid.ID
		for _, f := range it.Edges.Feedback {
			ids = append(ids, f.ID)
		}
		if !slices.Equal(ids, all[:3]) {
			t.Errorf("iteration %v: feedback %v, want the first 3 of %v", it.ID, ids, all)
		}
	}

	if len(rec.queries) < 2 {
		t.Fatalf("%d queries, want the iterations' and their feedback's", len(rec.queries))
	}
	q := rec.queries[1]
	var out []byte
	if err := s.DB.SQL.QueryRowContext(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+q.query, q.args...).Scan(&out); err != nil {
		t.Fatalf("explain %s: %v", q.query, err)
	}
	var plans []struct{ Plan planNode }
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("reading the plan %s: %v", out, err)
	}
	var walk func(n planNode)
	walk = func(n planNode) {
		if n.Rows > 8 {
			t.Errorf("a %s handles %v rows at a time, more than one iteration's 8 feedback:\n%s\n%s", n.Type, n.Rows, q.query, out)
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	for _, c := range plans[0].Plan.Plans {
		walk(c)
	}
}

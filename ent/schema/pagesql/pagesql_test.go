package pagesql_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"database/sql"
	"fmt"
	"strings"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/feedback"
	"github.com/protoloop/protoloop/ent/iteration"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/prototype"
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

// planNode is the part of EXPLAIN (ANALYZE, FORMAT JSON) the tests read.
type planNode struct {
	Type      string     `json:"Node Type"`
	Rows      float64    `json:"Actual Rows"` // per loop
	Index     string     `json:"Index Name"`
	IndexCond string     `json:"Index Cond"`
	Plans     []planNode `json:"Plans"`
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

// TestPageOfEachParentIsReadInIndexOrder reads the plans of the two
// nested pages of the dashboard (a prototype's iterations, an iteration's
// feedback, in their default order, by ID), as LimitPerParent writes
// them: each parent's page must be an index scan on the parent's key that
// gives the children in ID order, with no sort, so that a LATERAL step
// reads its page's rows and stops (on the seeded bench data, 0.78 → 0.36
// ms for the dashboard's feedback statement). The tables are small here,
// where reading a parent's few rows whole and sorting them costs the
// planner less than an ordered scan; sequential and bitmap scans are off
// so that the plan shows whether an index gives the page's order at all.
// With the (parent, id) index dropped, the same check must fail.
func TestPageOfEachParentIsReadInIndexOrder(t *testing.T) {
	s := servertest.Start(t, servertest.Postgres)
	loop := s.NewLoop(t)
	it2 := s.NewPublishedIteration(t, loop.Owner.Token, loop.Prototype.ID)
	for _, it := range []string{loop.Iteration.ID, it2.ID} {
		for range 4 {
			s.LeaveFeedback(t, loop.Owner.Token, it, nil)
		}
	}
	queries := loadPages(t, s, loop.Prototype.ID, true)
	if len(queries) != 3 {
		t.Fatalf("%d queries, want the prototype's, its iterations' and their feedback's", len(queries))
	}
	pages := []struct {
		q             recorded
		table, column string
		index         string
	}{
		{queries[1], "iterations", prototype.IterationsColumn, "iteration_prototype_id_id"},
		{queries[2], "feedbacks", iteration.FeedbackColumn, "feedback_iteration_id_id"},
	}
	for _, p := range pages {
		t.Run(p.table, func(t *testing.T) {
			tx, err := s.DB.SQL.BeginTx(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			for _, set := range []string{"SET LOCAL enable_seqscan = off", "SET LOCAL enable_bitmapscan = off"} {
				if _, err := tx.Exec(set); err != nil {
					t.Fatal(err)
				}
			}
			if plan, err := pageInIndexOrder(tx, p.q, p.column); err != nil {
				t.Errorf("%s: each parent's page is not read in index order: %v\n%s\n%s", p.table, err, p.q.query, plan)
			}
			if _, err := tx.Exec("DROP INDEX " + p.index); err != nil {
				t.Fatal(err)
			}
			if plan, err := pageInIndexOrder(tx, p.q, p.column); err == nil {
				t.Errorf("%s: index %s dropped, yet the check passes:\n%s", p.table, p.index, plan)
			}
		})
	}
}

// loadPages loads a prototype's first 5 iterations by ID, as a nested
// connection's page does (LimitPerParent), and with feedback the first 3
// feedback of each; it returns the statements that ran: the prototype's,
// then one per level of pages.
func loadPages(t *testing.T, s *servertest.Server, prototypeID string, feedback bool) []recorded {
	t.Helper()
	id, err := gid.Parse(prototypeID)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Driver: entsql.OpenDB(dialect.Postgres, s.DB.SQL)}
	client := ent.NewClient(ent.Driver(rec))
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	byID := entsql.ExprFunc(func(b *entsql.Builder) { b.Ident("id").WriteString(" ASC") })
	_, err = client.Prototype.Query().Where(prototype.ID(id)).
		WithIterations(func(q *ent.IterationQuery) {
			q.Modify(pagesql.LimitPerParent(prototype.IterationsColumn, 5, byID))
			if feedback {
				q.WithFeedback(func(q *ent.FeedbackQuery) {
					q.Modify(pagesql.LimitPerParent(iteration.FeedbackColumn, 3, byID))
				})
			}
		}).
		All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rec.queries
}

// pageInIndexOrder explains q and reports why its plan does not read each
// parent's children in the page's order from an index on column: a sort,
// or no index scan with a condition on column.
func pageInIndexOrder(tx *sql.Tx, q recorded, column string) (string, error) {
	var out []byte
	if err := tx.QueryRow("EXPLAIN (ANALYZE, FORMAT JSON) "+q.query, q.args...).Scan(&out); err != nil {
		return "", fmt.Errorf("explain: %w", err)
	}
	var plans []struct{ Plan planNode }
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		return string(out), fmt.Errorf("reading the plan: %v", err)
	}
	var sorted, searched bool
	var walk func(n planNode)
	walk = func(n planNode) {
		switch n.Type {
		case "Sort", "Incremental Sort":
			sorted = true
		case "Index Scan", "Index Only Scan":
			if strings.Contains(n.IndexCond, column+" = ") {
				searched = true
			}
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(plans[0].Plan)
	switch {
	case sorted:
		return string(out), fmt.Errorf("a step sorts the children")
	case !searched:
		return string(out), fmt.Errorf("no index scan searches %s", column)
	}
	return string(out), nil
}

// TestASingleParentsPageIsPlannedOnce runs the page of one prototype's
// iterations, as LimitPerParent writes it, seven times on one of the
// server's pooled connections (which prepare each statement once), and
// asks PostgreSQL how it planned the runs: after its first five custom
// plans it must have kept a generic one. A LATERAL join over unnest($1),
// which PostgreSQL assumes holds ten keys, was planned anew every time.
func TestASingleParentsPageIsPlannedOnce(t *testing.T) {
	s := servertest.Start(t, servertest.Postgres)
	loop := s.NewLoop(t)
	s.NewPublishedIteration(t, loop.Owner.Token, loop.Prototype.ID)
	queries := loadPages(t, s, loop.Prototype.ID, false)
	if len(queries) != 2 {
		t.Fatalf("%d queries, want the prototype's and its iterations'", len(queries))
	}
	q := queries[1]

	ctx := context.Background()
	conn, err := s.DB.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 7 {
		rows, err := conn.QueryContext(ctx, q.query, q.args...)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("%d iterations, want 2:\n%s", n, q.query)
		}
	}
	var generic, custom int64
	if err := conn.QueryRowContext(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1`,
		q.query).Scan(&generic, &custom); err != nil {
		t.Fatalf("the page's prepared statement: %v\n%s", err, q.query)
	}
	if generic == 0 || custom > 5 {
		t.Errorf("7 runs of a single parent's page: %d custom plans, %d generic; want a generic plan after at most 5 custom ones\n%s",
			custom, generic, q.query)
	}
}

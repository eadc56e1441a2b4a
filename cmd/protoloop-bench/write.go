package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/lib/pq"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

const leaveFeedbackMutation = `mutation LeaveFeedback($in: LeaveFeedbackInput!) {
  leaveFeedback(input: $in) { id status createdAt }
}`

// writeTarget is a published iteration to leave feedback on, with a
// participant of its prototype for the plain INSERTs.
type writeTarget struct {
	iteration, prototype, workspace, author int64
	gid                                     string
}

// writeTargets loads the latest iteration of each bench prototype.
func writeTargets(ctx context.Context, t *readTarget) ([]writeTarget, error) {
	ids := make([]int64, len(t.protos))
	for i, p := range t.protos {
		ids[i] = p.id
	}
	rows, err := t.db.QueryContext(ctx, `SELECT DISTINCT ON (i.prototype_id) i.id, i.prototype_id, i.workspace_id, a.id
		FROM iterations i JOIN participants a ON a.prototype_id = i.prototype_id
		WHERE i.prototype_id = ANY($1) AND i.status = 'PUBLISHED'
		ORDER BY i.prototype_id, i.number DESC, a.id`, pq.Array(ids))
	if err != nil {
		return nil, err
	}
	var out []writeTarget
	for rows.Next() {
		var w writeTarget
		if err := rows.Scan(&w.iteration, &w.prototype, &w.workspace, &w.author); err != nil {
			rows.Close()
			return nil, err
		}
		w.gid = gid.ID(w.iteration).String()
		out = append(out, w)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no published iterations with participants in the bench workspaces")
	}
	return out, nil
}

// runWrite measures leaveFeedback over HTTP, which writes the feedback,
// its participant on first use, its event and its NOTIFY in one
// transaction, in turns with the plain INSERT of a feedback row at the
// same concurrency: the database's limit for the row alone.
func runWrite(ctx context.Context, o *options) (*report, error) {
	t, err := openTarget(ctx, o, o.sqlPool())
	if err != nil {
		return nil, err
	}
	defer t.db.Close()
	targets, err := writeTargets(ctx, t)
	if err != nil {
		return nil, err
	}
	srv, err := o.startServer(ctx)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	r := &report{
		Params:  map[string]any{"c": o.concurrency, "sql_conns": o.sqlPool(), "d": o.duration.String(), "slice": o.slice.String(), "iterations": len(targets)},
		Columns: []string{"scenario", "ok", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "sql/req", "vs insert"},
	}
	r.Columns = append(r.Columns, cpuColumns...)
	meter := cpuMeter{serverPID: srv.PID, db: t.db}
	if srv.Startup > 0 {
		r.Params["startup_ms"] = ms(srv.Startup)
	}
	c := &gqlClient{http: newHTTPClient(o.concurrency), base: srv.URL, token: t.st.Token}
	leave := func(ctx context.Context, w writeTarget, n int) error {
		return c.do(ctx, leaveFeedbackMutation, map[string]any{"in": map[string]any{
			"iterationID": w.gid, "kind": "IDEA", "rating": 1 + n%5, "minutesSavedPerDay": 10,
			"body": fmt.Sprintf("Bench feedback %d: let me copy last week's shift.", n),
		}}, nil)
	}
	// Every prototype gets the bench account's participant first, so that
	// the run measures the steady state, not first contact.
	fmt.Fprintf(o.stderr, "warming up: one leaveFeedback per iteration…\n")
	for i, w := range targets {
		if err := leave(ctx, w, i); err != nil {
			return nil, fmt.Errorf("leaveFeedback: %w", err)
		}
	}
	perReq, err := statementsPerRequest(ctx, srv, func() error { return leave(ctx, targets[0], 0) })
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.stderr, "leaveFeedback and plain INSERTs, %s each at c=%d, %s…\n", o.duration, o.concurrency, o.turnsText())
	kinds := slices.Clone(feedbackKinds)
	// The plain INSERTs do not go through the server, idle meanwhile:
	// its CPU is no part of them.
	sqlMeter := meter
	sqlMeter.serverPID = 0
	gqlSide := side{meter, func(ctx context.Context, w, i int) error {
		return leave(ctx, targetOf(targets, w, i), i)
	}}
	insertSide := side{sqlMeter, func(ctx context.Context, w, i int) error {
		tg := targetOf(targets, w, i)
		now := time.Now()
		_, err := t.db.ExecContext(ctx, `INSERT INTO feedbacks (id, created_at, updated_at, kind, body, rating, minutes_saved_per_day, status, vote_count, workspace_id, author_id, iteration_id, prototype_id)
			VALUES ($1, $2, $2, $3, $4, $5, 10, 'OPEN', 0, $6, $7, $8, $9)`,
			int64(gid.New(gid.Feedback)), now, string(kinds[rand.IntN(len(kinds))]),
			fmt.Sprintf("Plain insert %d: let me copy last week's shift.", i), 1+i%5,
			tg.workspace, tg.author, tg.iteration, tg.prototype)
		return err
	}}
	if err := warmUp(ctx, o.concurrency, gqlSide.op); err != nil {
		return nil, fmt.Errorf("leaveFeedback: %w", err)
	}
	if err := warmUp(ctx, o.concurrency, insertSide.op); err != nil {
		return nil, fmt.Errorf("INSERT: %w", err)
	}
	gql, plain := measurePair(ctx, o.concurrency, o.duration, o.slice, gqlSide, insertSide)
	row := r.addLoad("graphql leaveFeedback", gql)
	row["sql/req"] = perReq
	r.addLoad("sql INSERT feedback", plain)["sql/req"] = 1.0
	if plain.rps() > 0 {
		row["vs insert"] = fmt.Sprintf("%.0f%%", 100*gql.rps()/plain.rps())
	}
	r.note("vs insert: leaveFeedback's throughput (feedback, event, NOTIFY, one transaction, authentication) as a share of plain single-row INSERTs' (target ≥ 50%%), the two measured in turns (see --slice)")
	if o.floor {
		floor(ctx, o, c, meter, r)
	}
	r.note(cpuNote)
	return r, nil
}

// floorOperations do no work of their own: a query answered by the
// executor alone, and a mutation that also opens and commits the
// transaction every mutation runs in (BEGIN and COMMIT, empty).
var floorOperations = []struct{ name, query string }{
	{"graphql query { __typename }", `query { __typename }`},
	{"graphql mutation { __typename }", `mutation { __typename }`},
}

// floor adds to r the throughput of floorOperations over the same HTTP
// client at the same concurrency: the ceiling any GraphQL request, and
// any mutation, can reach on this machine with this server.
func floor(ctx context.Context, o *options, c *gqlClient, meter cpuMeter, r *report) {
	for _, op := range floorOperations {
		fmt.Fprintf(o.stderr, "%s: %s at c=%d…\n", op.name, o.duration, o.concurrency)
		res := meter.measure(ctx, o.concurrency, o.duration, func(ctx context.Context, _, _ int) error {
			return c.do(ctx, op.query, nil, nil)
		})
		r.addLoad(op.name, res)
	}
	r.note("graphql … { __typename }: the floor, requests that do nothing but pass through HTTP, authentication and the executor (the mutation also BEGINs and COMMITs)")
}

package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/protoloop/protoloop/ent/schema/bytea"
	"github.com/protoloop/protoloop/ent/schema/gid"
)

// The three read queries: what a frontend's dashboard, prototype page and
// timeline page ask for. Connections come in their default order (by ID)
// or the order named, which the SQL below follows.
const (
	dashboardQuery = `query Dashboard($slug: String!) {
  workspace(slug: $slug) { id name
    prototypes(first: 20) { edges { node { id title status
      iterations(first: 5) { edges { node { id number title
        feedback(first: 10) { edges { node { id kind body rating author { displayName } } } }
      } } }
    } } }
  }
}`
	prototypePageQuery = `query PrototypePage($ws: String!, $slug: String!) {
  prototype(workspace: $ws, slug: $slug) { id title problem missionLink status tags
    owner { name }
    iterations(first: 5, orderBy: {field: NUMBER, direction: DESC}) { edges { node { id number title status publishedAt } } }
    feedback(first: 20, orderBy: {field: VOTE_COUNT, direction: DESC}) { totalCount edges { node {
      id kind body rating status voteCount author { displayName }
      comments(first: 3) { edges { node { id body author { displayName } } } }
    } } }
  }
}`
	timelineQuery = `query Timeline($id: ID!) {
  node(id: $id) { ... on Prototype {
    timeline(first: 30, orderBy: {field: SEQ, direction: DESC}) {
      edges { cursor node { id seq kind occurredAt actor { displayName } } }
      pageInfo { hasNextPage endCursor }
    }
  } }
}`
)

// benchProto is a seeded prototype the read scenarios ask for.
type benchProto struct {
	id        int64
	gid       string
	slug      string
	workspace string // slug
}

// readTarget is what the read scenarios need: the bench account, its
// prototypes, and a pool on the database.
type readTarget struct {
	st     *benchState
	protos []benchProto
	db     *sql.DB
}

func openTarget(ctx context.Context, o *options, poolSize int) (*readTarget, error) {
	st, err := o.loadState()
	if err != nil {
		return nil, err
	}
	db, err := openSQL(o.databaseURL)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(poolSize)
	db.SetMaxIdleConns(poolSize)
	rows, err := db.QueryContext(ctx, `SELECT p.id, p.slug, w.slug FROM prototypes p JOIN workspaces w ON w.id = p.workspace_id WHERE w.slug = ANY($1) ORDER BY p.id`, pq.Array(st.Workspaces))
	if err != nil {
		db.Close()
		return nil, err
	}
	defer rows.Close()
	t := &readTarget{st: st, db: db}
	for rows.Next() {
		var p benchProto
		if err := rows.Scan(&p.id, &p.slug, &p.workspace); err != nil {
			db.Close()
			return nil, err
		}
		p.gid = gid.ID(p.id).String()
		t.protos = append(t.protos, p)
	}
	if err := rows.Err(); err != nil {
		db.Close()
		return nil, err
	}
	if len(t.protos) == 0 {
		db.Close()
		return nil, errors.New("the bench workspaces have no prototypes: run `protoloop-bench seed` against this database")
	}
	return t, nil
}

func (t *readTarget) pick(r *rand.Rand) benchProto { return t.protos[r.IntN(len(t.protos))] }

// readOp is one of the read queries, over GraphQL and over SQL.
type readOp struct {
	key  string // its name for --queries
	name string
	gql  func(ctx context.Context, c *gqlClient, p benchProto) error
	sql  func(ctx context.Context, t *readTarget, p benchProto) error
}

func readOps() []readOp {
	return []readOp{
		{"dashboard", "dashboard", func(ctx context.Context, c *gqlClient, p benchProto) error {
			return c.do(ctx, dashboardQuery, map[string]any{"slug": p.workspace}, nil)
		}, dashboardSQL},
		{"prototype", "prototype page", func(ctx context.Context, c *gqlClient, p benchProto) error {
			return c.do(ctx, prototypePageQuery, map[string]any{"ws": p.workspace, "slug": p.slug}, nil)
		}, prototypePageSQL},
		{"timeline", "timeline page", func(ctx context.Context, c *gqlClient, p benchProto) error {
			return c.do(ctx, timelineQuery, map[string]any{"id": p.gid}, nil)
		}, timelineSQL},
	}
}

// readQueryKeys are the names --queries takes.
func readQueryKeys() []string {
	var keys []string
	for _, op := range readOps() {
		keys = append(keys, op.key)
	}
	return keys
}

// chosenReadOps returns the read queries --queries names (a
// comma-separated list of readQueryKeys), in their usual order; all of
// them if it names none.
func chosenReadOps(list string) ([]readOp, error) {
	ops := readOps()
	if strings.TrimSpace(list) == "" {
		return ops, nil
	}
	chosen := map[string]bool{}
	for _, key := range strings.Split(list, ",") {
		key = strings.TrimSpace(key)
		if !slices.ContainsFunc(ops, func(op readOp) bool { return op.key == key }) {
			return nil, fmt.Errorf("--queries: no read query %q: name %s", key, strings.Join(readQueryKeys(), ", "))
		}
		chosen[key] = true
	}
	return slices.DeleteFunc(ops, func(op readOp) bool { return !chosen[op.key] }), nil
}

func runRead(ctx context.Context, o *options) (*report, error)    { return read(ctx, o, true) }
func runReadSQL(ctx context.Context, o *options) (*report, error) { return read(ctx, o, false) }

// read measures the read queries over GraphQL (withServer) and the same
// data by hand-written SQL, at the same concurrency, in turns (see
// measurePair), or the SQL alone.
func read(ctx context.Context, o *options, withServer bool) (*report, error) {
	ops, err := chosenReadOps(o.queries)
	if err != nil {
		return nil, err
	}
	t, err := openTarget(ctx, o, o.sqlPool())
	if err != nil {
		return nil, err
	}
	defer t.db.Close()
	r := &report{
		Params:  map[string]any{"c": o.concurrency, "sql_conns": o.sqlPool(), "d": o.duration.String(), "prototypes": len(t.protos)},
		Columns: []string{"scenario", "ok", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "sql/req", "vs sql"},
	}
	r.Columns = append(r.Columns, cpuColumns...)
	// The hand-written SQL does not go through the server, idle
	// meanwhile: its CPU is no part of those requests.
	sqlMeter := cpuMeter{db: t.db}
	sqlOf := func(op readOp) side {
		return side{sqlMeter, func(ctx context.Context, w, i int) error {
			return op.sql(ctx, t, targetOf(t.protos, w, i))
		}}
	}
	warmSQL := func(op readOp) (side, error) {
		s := sqlOf(op)
		if err := warmUp(ctx, o.concurrency, s.op); err != nil {
			return s, fmt.Errorf("sql %s: %w", op.name, err)
		}
		return s, nil
	}
	if !withServer {
		for _, op := range ops {
			s, err := warmSQL(op)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(o.stderr, "sql %s: %s at c=%d…\n", op.name, o.duration, o.concurrency)
			r.addLoad("sql "+op.name, s.meter.measure(ctx, o.concurrency, o.duration, s.op))["sql/req"] = float64(sqlStatements[op.name])
		}
		r.note(cpuNote)
		return r, nil
	}

	srv, err := o.startServer(ctx)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	if srv.Startup > 0 {
		r.Params["startup_ms"] = ms(srv.Startup)
	}
	r.Params["slice"] = o.slice.String()
	gqlMeter := cpuMeter{serverPID: srv.PID, db: t.db}
	c := &gqlClient{http: newHTTPClient(o.concurrency), base: srv.URL, token: t.st.Token}
	var gqlRows, sqlRows []result
	for _, op := range ops {
		rng := rand.New(rand.NewPCG(1, 2))
		p := t.pick(rng)
		if err := op.gql(ctx, c, p); err != nil {
			return nil, fmt.Errorf("%s: %w", op.name, err)
		}
		perReq, err := statementsPerRequest(ctx, srv, func() error { return op.gql(ctx, c, t.pick(rng)) })
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op.name, err)
		}
		gqlSide := side{gqlMeter, func(ctx context.Context, w, i int) error {
			return op.gql(ctx, c, targetOf(t.protos, w, i))
		}}
		if err := warmUp(ctx, o.concurrency, gqlSide.op); err != nil {
			return nil, fmt.Errorf("%s: %w", op.name, err)
		}
		sqlSide, err := warmSQL(op)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(o.stderr, "%s: graphql and sql, %s each at c=%d, %s…\n", op.name, o.duration, o.concurrency, o.turnsText())
		gql, hand := measurePair(ctx, o.concurrency, o.duration, o.slice, gqlSide, sqlSide)
		gqlRow, sqlRow := r.loadRow("graphql "+op.name, gql), r.loadRow("sql "+op.name, hand)
		gqlRow["sql/req"], sqlRow["sql/req"] = perReq, float64(sqlStatements[op.name])
		if hand.rps() > 0 {
			gqlRow["vs sql"] = fmt.Sprintf("%.0f%%", 100*gql.rps()/hand.rps())
		}
		gqlRows, sqlRows = append(gqlRows, gqlRow), append(sqlRows, sqlRow)
	}
	for _, row := range append(gqlRows, sqlRows...) {
		r.add(row)
	}
	r.note("vs sql: the GraphQL query's throughput as a share of the hand-written SQL's (target ≥ 60%%), the two measured in turns (see --slice); sql/req counts statements the server ran per request, authentication included (target ≤ 5 for the dashboard, constant in page size)")
	r.note(cpuNote)
	return r, nil
}

// statementsPerRequest runs req a few times, one at a time, and returns
// the SQL statements the server ran per request, from its /metrics.
func statementsPerRequest(ctx context.Context, srv *serverProc, req func() error) (float64, error) {
	const n = 5
	// On PostgreSQL the server trusts its identity cache once its LISTEN
	// connection listens, a moment after it is ready; until then every
	// request resolves its token, one statement more. Count the steady
	// state: wait for the cache, then let one request fill it.
	if err := srv.waitForIdentityCache(ctx); err != nil {
		return 0, err
	}
	if err := req(); err != nil {
		return 0, err
	}
	before, err := srv.metrics(ctx)
	if err != nil {
		return 0, err
	}
	for range n {
		if err := req(); err != nil {
			return 0, err
		}
	}
	after, err := srv.metrics(ctx)
	if err != nil {
		return 0, err
	}
	const name = "protoloop_sql_statements_total"
	return (after[name] - before[name]) / n, nil
}

// waitForIdentityCache waits, once per server and for 10 s at most, until
// the server's identity cache is in use (protoloop_identity_cache_trusted
// is 1). A server without the metric, or with the cache turned off, is
// not waited for beyond that.
func (p *serverProc) waitForIdentityCache(ctx context.Context) error {
	if p.cacheWaited {
		return nil
	}
	p.cacheWaited = true
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := p.metrics(ctx)
		if err != nil {
			return err
		}
		trusted, ok := m["protoloop_identity_cache_trusted"]
		if !ok || trusted == 1 || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// The hand-written SQL: what a careful programmer would send for the same
// data, with the same authentication (the token's hash looked up) and the
// same access check (membership in the workspace), every list a page of
// the same size in the same order, scanned into values and encoded as
// JSON as a server would. Statements per request, for the table:
var sqlStatements = map[string]int{"dashboard": 5, "prototype page": 6, "timeline page": 1}

const authSQL = `SELECT user_id FROM auth_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`

func (t *readTarget) authenticate(ctx context.Context) (int64, error) {
	sum := sha256.Sum256([]byte(t.st.Token))
	var user int64
	err := t.db.QueryRowContext(ctx, authSQL, bytea.Bytes(sum[:])).Scan(&user)
	return user, err
}

type sqlFeedback struct {
	ID, Parent   int64
	Kind, Body   string
	Rating       sql.NullInt64
	Status       string
	Votes        int
	Author       string
	Comments     []sqlComment
	Number       int
	Title, State string
}

type sqlComment struct {
	ID     int64
	Body   string
	Author string
}

func dashboardSQL(ctx context.Context, t *readTarget, p benchProto) error {
	user, err := t.authenticate(ctx)
	if err != nil {
		return err
	}
	var ws struct {
		ID   int64
		Name string
	}
	err = t.db.QueryRowContext(ctx, `SELECT w.id, w.name FROM workspaces w JOIN memberships m ON m.workspace_id = w.id AND m.user_id = $2 WHERE w.slug = $1`,
		p.workspace, user).Scan(&ws.ID, &ws.Name)
	if err != nil {
		return err
	}
	type iter struct {
		ID, Proto int64
		Number    int
		Title     string
		Feedback  []sqlFeedback
	}
	type proto struct {
		ID            int64
		Title, Status string
		Iterations    []*iter
	}
	var protos []*proto
	byProto := map[int64]*proto{}
	rows, err := t.db.QueryContext(ctx, `SELECT id, title, status FROM prototypes WHERE workspace_id = $1 ORDER BY id LIMIT 20`, ws.ID)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		p := &proto{}
		if err := rows.Scan(&p.ID, &p.Title, &p.Status); err != nil {
			rows.Close()
			return err
		}
		protos = append(protos, p)
		byProto[p.ID] = p
		ids = append(ids, p.ID)
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	rows, err = t.db.QueryContext(ctx, `SELECT i.id, i.prototype_id, i.number, i.title FROM unnest($1::bigint[]) AS p(id)
		CROSS JOIN LATERAL (SELECT id, prototype_id, number, title FROM iterations WHERE prototype_id = p.id ORDER BY id LIMIT 5) i`, pq.Array(ids))
	if err != nil {
		return err
	}
	byIter := map[int64]*iter{}
	ids = ids[:0]
	for rows.Next() {
		it := &iter{}
		var number sql.NullInt64
		if err := rows.Scan(&it.ID, &it.Proto, &number, &it.Title); err != nil {
			rows.Close()
			return err
		}
		it.Number = int(number.Int64)
		byProto[it.Proto].Iterations = append(byProto[it.Proto].Iterations, it)
		byIter[it.ID] = it
		ids = append(ids, it.ID)
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	rows, err = t.db.QueryContext(ctx, `SELECT f.id, f.iteration_id, f.kind, f.body, f.rating, a.display_name FROM unnest($1::bigint[]) AS i(id)
		CROSS JOIN LATERAL (SELECT id, iteration_id, kind, body, rating, author_id FROM feedbacks WHERE iteration_id = i.id ORDER BY id LIMIT 10) f
		JOIN participants a ON a.id = f.author_id`, pq.Array(ids))
	if err != nil {
		return err
	}
	for rows.Next() {
		var f sqlFeedback
		if err := rows.Scan(&f.ID, &f.Parent, &f.Kind, &f.Body, &f.Rating, &f.Author); err != nil {
			rows.Close()
			return err
		}
		byIter[f.Parent].Feedback = append(byIter[f.Parent].Feedback, f)
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	return encode(map[string]any{"workspace": ws, "prototypes": protos})
}

func prototypePageSQL(ctx context.Context, t *readTarget, p benchProto) error {
	user, err := t.authenticate(ctx)
	if err != nil {
		return err
	}
	var page struct {
		ID                                   int64
		Title, Problem, Mission, Status, Own string
		Tags                                 []byte
		Iterations                           []sqlFeedback // number, title, state
		Total                                int
		Feedback                             []*sqlFeedback
	}
	err = t.db.QueryRowContext(ctx, `SELECT p.id, p.title, p.problem, p.mission_link, p.status, p.tags, u.name
		FROM prototypes p JOIN workspaces w ON w.id = p.workspace_id
		JOIN memberships m ON m.workspace_id = w.id AND m.user_id = $3
		JOIN users u ON u.id = p.owner_id
		WHERE w.slug = $1 AND p.slug = $2`, p.workspace, p.slug, user).
		Scan(&page.ID, &page.Title, &page.Problem, &page.Mission, &page.Status, &page.Tags, &page.Own)
	if err != nil {
		return err
	}
	rows, err := t.db.QueryContext(ctx, `SELECT id, number, title, status, published_at FROM iterations WHERE prototype_id = $1 ORDER BY number DESC, id LIMIT 5`, page.ID)
	if err != nil {
		return err
	}
	for rows.Next() {
		var it sqlFeedback
		var number sql.NullInt64
		var published sql.NullTime
		if err := rows.Scan(&it.ID, &number, &it.Title, &it.State, &published); err != nil {
			rows.Close()
			return err
		}
		it.Number = int(number.Int64)
		page.Iterations = append(page.Iterations, it)
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	if err := t.db.QueryRowContext(ctx, `SELECT count(*) FROM feedbacks WHERE prototype_id = $1`, page.ID).Scan(&page.Total); err != nil {
		return err
	}
	rows, err = t.db.QueryContext(ctx, `SELECT f.id, f.kind, f.body, f.rating, f.status, f.vote_count, a.display_name
		FROM feedbacks f JOIN participants a ON a.id = f.author_id
		WHERE f.prototype_id = $1 ORDER BY f.vote_count DESC, f.id LIMIT 20`, page.ID)
	if err != nil {
		return err
	}
	byID := map[int64]*sqlFeedback{}
	var ids []int64
	for rows.Next() {
		f := &sqlFeedback{}
		if err := rows.Scan(&f.ID, &f.Kind, &f.Body, &f.Rating, &f.Status, &f.Votes, &f.Author); err != nil {
			rows.Close()
			return err
		}
		page.Feedback = append(page.Feedback, f)
		byID[f.ID] = f
		ids = append(ids, f.ID)
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	rows, err = t.db.QueryContext(ctx, `SELECT f.id, c.id, c.body, a.display_name FROM unnest($1::bigint[]) AS f(id)
		CROSS JOIN LATERAL (SELECT id, body, author_id FROM comments WHERE feedback_id = f.id ORDER BY id LIMIT 3) c
		JOIN participants a ON a.id = c.author_id`, pq.Array(ids))
	if err != nil {
		return err
	}
	for rows.Next() {
		var fid int64
		var c sqlComment
		if err := rows.Scan(&fid, &c.ID, &c.Body, &c.Author); err != nil {
			rows.Close()
			return err
		}
		byID[fid].Comments = append(byID[fid].Comments, c)
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	return encode(page)
}

// timelineSQLQuery is the timeline page as one statement, as the server
// reads it in one (the page through the prototype, the viewer's access in
// it) and more: the token looked up, the access check, the page and its
// actors' names together. No row: no such token, or the prototype is not
// in a workspace of the token's user. One row without an event: an empty
// timeline. Pending events (seq <= 0) are not shown, as the server does
// not show them.
const timelineSQLQuery = `WITH viewer AS (
		SELECT user_id FROM auth_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
	), proto AS (
		SELECT p.id FROM prototypes p JOIN memberships m ON m.workspace_id = p.workspace_id JOIN viewer v ON v.user_id = m.user_id WHERE p.id = $2
	)
	SELECT e.id, e.seq, e.kind, e.occurred_at, COALESCE(u.name, a.display_name, '')
	FROM proto LEFT JOIN LATERAL (
		SELECT id, seq, kind, occurred_at, actor_user_id, actor_participant_id FROM events
		WHERE prototype_id = proto.id AND seq > 0 ORDER BY seq DESC LIMIT 31
	) e ON true
	LEFT JOIN users u ON u.id = e.actor_user_id LEFT JOIN participants a ON a.id = e.actor_participant_id
	ORDER BY e.seq DESC`

func timelineSQL(ctx context.Context, t *readTarget, p benchProto) error {
	sum := sha256.Sum256([]byte(t.st.Token))
	rows, err := t.db.QueryContext(ctx, timelineSQLQuery, bytea.Bytes(sum[:]), p.id)
	if err != nil {
		return err
	}
	type ev struct {
		ID, Seq int64
		Kind    string
		At      time.Time
		Actor   string
	}
	var (
		events  []ev
		visible bool
	)
	for rows.Next() {
		visible = true
		var (
			id, seq sql.NullInt64
			kind    sql.NullString
			at      sql.NullTime
			actor   string
		)
		if err := rows.Scan(&id, &seq, &kind, &at, &actor); err != nil {
			rows.Close()
			return err
		}
		if id.Valid {
			events = append(events, ev{ID: id.Int64, Seq: seq.Int64, Kind: kind.String, At: at.Time, Actor: actor})
		}
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	if !visible {
		return sql.ErrNoRows
	}
	return encode(map[string]any{"events": events[:min(30, len(events))], "hasNextPage": len(events) > 30})
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	return errors.Join(err, rows.Close())
}

func encode(v any) error {
	_, err := json.Marshal(v)
	return err
}

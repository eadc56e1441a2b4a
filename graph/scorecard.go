package graph

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"entgo.io/ent/dialect"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/feedback"
	"github.com/protoloop/protoloop/ent/iteration"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// Scorecards are computed by the database, one grouped statement for all
// the iterations of a prototype (scorecardSQL): counts with SUM(CASE …),
// medians and 90th percentiles with percentile_cont on PostgreSQL and
// with an equivalent window (ROW_NUMBER over the sorted values, then
// linear interpolation) on SQLite, which has no percentile function. No
// row of trials or feedback is loaded into Go.
//
// The statement reads tables directly, around the privacy policies, so
// what it may show is checked here instead: scorecards are the team's
// (checkInsights). Testers see only their own trials; figures about
// everyone's would tell them what the policy keeps from them.
//
// A request computes the scorecards of a prototype once (insightCache),
// so a page of iterations with their scorecards and deltas, and the
// prototype's trend, cost that one statement together.

// Scorecard is how an iteration did. Pointers are figures that can be
// undefined (null in the API): a rate of no trials, an average of no
// ratings.
type Scorecard struct {
	IterationID       gid.ID
	PrototypeID       gid.ID
	Number            *int
	Status            iteration.Status
	TrialsStarted     int
	TrialsCompleted   int
	TrialsAbandoned   int
	TrialsBlocked     int
	CompletionRate    *float64
	MedianTimeOnTask  *float64
	P90TimeOnTask     *float64
	AverageRating     *float64
	Ratings           []*RatingCount
	FeedbackCount     int
	FeedbackByKind    []*FeedbackKindCount
	OpenFeedback      int
	AddressedFeedback int
	VerifiedFeedback  int
	Participants      int
	Addressed         int
	BugsFixed         int

	iteration *ent.Iteration // when the caller has it at hand
}

// ScorecardDelta is an iteration's scorecard against the previous
// published iteration's.
type ScorecardDelta struct {
	Previous         *Scorecard
	CompletionRate   *FloatChange
	MedianTimeOnTask *FloatChange
	P90TimeOnTask    *FloatChange
	AverageRating    *FloatChange
	TrialsStarted    *IntChange
	FeedbackCount    *IntChange
	OpenFeedback     *IntChange
	Participants     *IntChange
	Addressed        int
	BugsFixed        int
}

// ScorecardConnection is a page of a prototype's scorecards.
type ScorecardConnection struct {
	Edges      []*ScorecardEdge
	PageInfo   ent.PageInfo
	TotalCount int
}

// ScorecardEdge is a scorecard and its cursor: the iteration's ID and
// number.
type ScorecardEdge struct {
	Node   *Scorecard
	Cursor ent.Cursor
}

// checkInsights refuses scorecards and impact to whoever is not a member
// of the workspace: the object asked about was read through the policies
// already, so the caller can see it and learns only that its role is why.
func checkInsights(ctx context.Context, workspace gid.ID) error {
	if _, member := viewer.FromContext(ctx).RoleIn(workspace); !member {
		return forbidden("scorecards and impact are for the workspace's members")
	}
	return nil
}

// iterationScorecard is Iteration.scorecard.
func iterationScorecard(ctx context.Context, client *ent.Client, dialectName string, it *ent.Iteration) (*Scorecard, error) {
	if err := checkInsights(ctx, it.WorkspaceID); err != nil {
		return nil, err
	}
	cards, err := scorecardsOf(ctx, client, dialectName, it.PrototypeID)
	if err != nil {
		return nil, err
	}
	sc := cards.byID[it.ID]
	if sc == nil {
		// Created after the scorecards were computed (within a mutation):
		// it has no trials or feedback yet.
		sc = emptyScorecard(it.ID, it.PrototypeID)
	}
	card := *sc
	card.iteration = it
	return &card, nil
}

// iterationDelta is Iteration.delta: against the iteration numbered just
// before this one, or for a draft the latest numbered one.
func iterationDelta(ctx context.Context, client *ent.Client, dialectName string, it *ent.Iteration) (*ScorecardDelta, error) {
	cur, err := iterationScorecard(ctx, client, dialectName, it)
	if err != nil {
		return nil, err
	}
	cards, err := scorecardsOf(ctx, client, dialectName, it.PrototypeID)
	if err != nil {
		return nil, err
	}
	var prev *Scorecard
	for _, sc := range cards.numbered { // in number order
		if it.Number == nil || *sc.Number < *it.Number {
			prev = sc
		}
	}
	if prev == nil {
		return nil, nil
	}
	return &ScorecardDelta{
		Previous:         prev,
		CompletionRate:   floatChange(prev.CompletionRate, cur.CompletionRate),
		MedianTimeOnTask: floatChange(prev.MedianTimeOnTask, cur.MedianTimeOnTask),
		P90TimeOnTask:    floatChange(prev.P90TimeOnTask, cur.P90TimeOnTask),
		AverageRating:    floatChange(prev.AverageRating, cur.AverageRating),
		TrialsStarted:    intChange(prev.TrialsStarted, cur.TrialsStarted),
		FeedbackCount:    intChange(prev.FeedbackCount, cur.FeedbackCount),
		OpenFeedback:     intChange(prev.OpenFeedback, cur.OpenFeedback),
		Participants:     intChange(prev.Participants, cur.Participants),
		Addressed:        cur.Addressed,
		BugsFixed:        cur.BugsFixed,
	}, nil
}

func floatChange(before, after *float64) *FloatChange {
	c := &FloatChange{Before: before, After: after}
	if before != nil && after != nil {
		d := *after - *before
		c.Change = &d
	}
	return c
}

func intChange(before, after int) *IntChange {
	return &IntChange{Before: before, After: after, Change: after - before}
}

// maxScorecardsPage bounds a page of Prototype.scorecards.
const maxScorecardsPage = 100

// prototypeScorecards is Prototype.scorecards: the scorecards of the
// numbered (published and retired) iterations, in number order, a page
// after the cursor.
func prototypeScorecards(ctx context.Context, client *ent.Client, dialectName string, p *ent.Prototype, first *int, after *ent.Cursor) (*ScorecardConnection, error) {
	if err := checkInsights(ctx, p.WorkspaceID); err != nil {
		return nil, err
	}
	n := maxScorecardsPage
	if first != nil {
		if *first < 0 || *first > maxScorecardsPage {
			return nil, badInput("first", "first must be 0 to %d", maxScorecardsPage)
		}
		n = *first
	}
	cards, err := scorecardsOf(ctx, client, dialectName, p.ID)
	if err != nil {
		return nil, err
	}
	start := 0
	if after != nil {
		number, ok := position(after.Value)
		if after.ID.Type() != gid.Iteration || !ok {
			return nil, badInput("after", "after: not a scorecard's cursor")
		}
		start = len(cards.numbered)
		for i, sc := range cards.numbered {
			if int64(*sc.Number) > number {
				start = i
				break
			}
		}
	}
	page := cards.numbered[start:]
	conn := &ScorecardConnection{TotalCount: len(cards.numbered)}
	conn.PageInfo.HasPreviousPage = start > 0
	if len(page) > n {
		page = page[:n]
		conn.PageInfo.HasNextPage = true
	}
	for _, sc := range page {
		conn.Edges = append(conn.Edges, &ScorecardEdge{
			Node:   sc,
			Cursor: ent.Cursor{ID: sc.IterationID, Value: *sc.Number},
		})
	}
	if len(conn.Edges) > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[len(conn.Edges)-1].Cursor
	}
	return conn, nil
}

// scorecardIteration is Scorecard.iteration: at hand for Iteration.scorecard,
// otherwise read with all the prototype's iterations, once per request.
func scorecardIteration(ctx context.Context, client *ent.Client, sc *Scorecard) (*ent.Iteration, error) {
	if sc.iteration != nil {
		return sc.iteration, nil
	}
	load := func() (map[gid.ID]*ent.Iteration, error) {
		its, err := client.Iteration.Query().Where(iteration.PrototypeID(sc.PrototypeID)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("load iterations of prototype %s: %w", sc.PrototypeID, err)
		}
		byID := make(map[gid.ID]*ent.Iteration, len(its))
		for _, it := range its {
			byID[it.ID] = it
		}
		return byID, nil
	}
	var (
		its map[gid.ID]*ent.Iteration
		err error
	)
	its, err = cached(cacheFrom(ctx), iterationsKey{sc.PrototypeID}, load)
	if err != nil {
		return nil, err
	}
	if it := its[sc.IterationID]; it != nil {
		return it, nil
	}
	return nil, notFound("iteration")
}

// prototypeCards are the scorecards of all of a prototype's iterations.
type prototypeCards struct {
	byID     map[gid.ID]*Scorecard
	numbered []*Scorecard // published and retired, by number
}

type scorecardsKey struct{ prototype gid.ID }

type iterationsKey struct{ prototype gid.ID }

// scorecardsOf computes the scorecards of every iteration of a prototype
// in one statement, once per request.
func scorecardsOf(ctx context.Context, client *ent.Client, dialectName string, prototype gid.ID) (*prototypeCards, error) {
	load := func() (*prototypeCards, error) { return queryScorecards(ctx, client, dialectName, prototype) }
	return cached(cacheFrom(ctx), scorecardsKey{prototype}, load)
}

// kinds and ratings are listed in the API in these orders.
var feedbackKinds = []feedback.Kind{
	feedback.KindBUG, feedback.KindIDEA, feedback.KindQUESTION,
	feedback.KindPRAISE, feedback.KindCONFUSION, feedback.KindWORKAROUND,
}

// Feedback statuses as the scorecard groups them.
const (
	openStatuses      = "'OPEN', 'ACKNOWLEDGED', 'PLANNED'"
	addressedStatuses = "'ADDRESSED', 'VERIFIED'"
)

// scorecardSQL is the statement behind the scorecards of a prototype:
// one row per iteration, every figure computed by the database. Its one
// parameter, the prototype's ID, is written "?" for every use.
func scorecardSQL(dialectName string) string {
	var kinds strings.Builder
	for _, k := range feedbackKinds {
		fmt.Fprintf(&kinds, ",\n\t\tSUM(CASE WHEN kind = '%s' THEN 1 ELSE 0 END) AS kind_%s", k, strings.ToLower(string(k)))
	}
	var ratings strings.Builder
	for r := minRating; r <= maxRating; r++ {
		fmt.Fprintf(&ratings, ",\n\t\tSUM(CASE WHEN rating = %d THEN 1 ELSE 0 END) AS rating_%d", r, r)
	}
	// Time on task of completed trials, in seconds, per iteration.
	durations := `SELECT iteration_id AS grp, ` + secondsBetween(dialectName, "started_at", "ended_at") + ` AS v
		FROM trials
		WHERE prototype_id = ? AND outcome = 'COMPLETED' AND ended_at IS NOT NULL`
	return `
WITH t AS (
	SELECT iteration_id,
		COUNT(*) AS started,
		SUM(CASE WHEN outcome = 'COMPLETED' THEN 1 ELSE 0 END) AS completed,
		SUM(CASE WHEN outcome = 'ABANDONED' THEN 1 ELSE 0 END) AS abandoned,
		SUM(CASE WHEN outcome = 'BLOCKED' THEN 1 ELSE 0 END) AS blocked
	FROM trials
	WHERE prototype_id = ?
	GROUP BY iteration_id
), d AS (
	` + percentilesSQL(dialectName, durations, 0.5, 0.9) + `
), f AS (
	SELECT iteration_id,
		COUNT(*) AS total,
		AVG(CAST(rating AS DOUBLE PRECISION)) AS avg_rating` + ratings.String() + kinds.String() + `,
		SUM(CASE WHEN status IN (` + openStatuses + `) THEN 1 ELSE 0 END) AS open,
		SUM(CASE WHEN status IN (` + addressedStatuses + `) THEN 1 ELSE 0 END) AS addressed,
		SUM(CASE WHEN status = 'VERIFIED' THEN 1 ELSE 0 END) AS verified
	FROM feedbacks
	WHERE prototype_id = ? AND status <> 'RETRACTED'
	GROUP BY iteration_id
), a AS (
	SELECT addressed_in_id AS iteration_id,
		COUNT(*) AS addressed,
		SUM(CASE WHEN kind = 'BUG' THEN 1 ELSE 0 END) AS bugs
	FROM feedbacks
	WHERE prototype_id = ? AND addressed_in_id IS NOT NULL AND status IN (` + addressedStatuses + `)
	GROUP BY addressed_in_id
), p AS (
	SELECT iteration_id, COUNT(DISTINCT who) AS people
	FROM (
		SELECT iteration_id, participant_id AS who FROM trials WHERE prototype_id = ?
		UNION ALL
		SELECT iteration_id, author_id AS who FROM feedbacks WHERE prototype_id = ? AND status <> 'RETRACTED'
	) x
	GROUP BY iteration_id
)
SELECT i.id, i.number, i.status,
	COALESCE(t.started, 0), COALESCE(t.completed, 0), COALESCE(t.abandoned, 0), COALESCE(t.blocked, 0),
	CAST(t.completed AS DOUBLE PRECISION) / NULLIF(t.completed + t.abandoned + t.blocked, 0),
	d.p0, d.p1,
	f.avg_rating,
	COALESCE(f.rating_1, 0), COALESCE(f.rating_2, 0), COALESCE(f.rating_3, 0), COALESCE(f.rating_4, 0), COALESCE(f.rating_5, 0),
	COALESCE(f.total, 0),
	COALESCE(f.kind_bug, 0), COALESCE(f.kind_idea, 0), COALESCE(f.kind_question, 0),
	COALESCE(f.kind_praise, 0), COALESCE(f.kind_confusion, 0), COALESCE(f.kind_workaround, 0),
	COALESCE(f.open, 0), COALESCE(f.addressed, 0), COALESCE(f.verified, 0),
	COALESCE(p.people, 0),
	COALESCE(a.addressed, 0), COALESCE(a.bugs, 0)
FROM iterations i
LEFT JOIN t ON t.iteration_id = i.id
LEFT JOIN d ON d.grp = i.id
LEFT JOIN f ON f.iteration_id = i.id
LEFT JOIN a ON a.iteration_id = i.id
LEFT JOIN p ON p.iteration_id = i.id
WHERE i.prototype_id = ?`
}

// secondsBetween is the SQL for the seconds from one timestamp column to
// another. SQLite keeps times as text (see storage's sqliteDSN), which
// julianday reads.
func secondsBetween(dialectName, from, to string) string {
	if dialectName == dialect.Postgres {
		return fmt.Sprintf("CAST(EXTRACT(EPOCH FROM (%s - %s)) AS DOUBLE PRECISION)", to, from)
	}
	return fmt.Sprintf("((julianday(%s) - julianday(%s)) * 86400.0)", to, from)
}

// percentilesSQL is a statement that computes, for each group of the rows
// (grp, v) of inner, the continuous percentiles ps of v, as columns p0,
// p1, …: on PostgreSQL with percentile_cont; on SQLite, which lacks it,
// with the same definition spelled out: of n sorted values, the one at
// h = (n-1)·p when h is whole, otherwise the linear interpolation between
// the two around it.
func percentilesSQL(dialectName, inner string, ps ...float64) string {
	var cols strings.Builder
	for i, p := range ps {
		pp := strconv.FormatFloat(p, 'f', -1, 64)
		if dialectName == dialect.Postgres {
			fmt.Fprintf(&cols, ", percentile_cont(%s) WITHIN GROUP (ORDER BY v) AS p%d", pp, i)
			continue
		}
		h := fmt.Sprintf("((n - 1) * %s)", pp)
		lo := fmt.Sprintf("CAST(%s AS INTEGER)", h) // h ≥ 0: truncation is floor
		frac := fmt.Sprintf("(%s - %s)", h, lo)
		fmt.Fprintf(&cols, ",\n\t\tSUM(CASE WHEN i = %s THEN v * (1 - %s) WHEN i = %s + 1 THEN v * %s ELSE 0 END) AS p%d",
			lo, frac, lo, frac, i)
	}
	if dialectName == dialect.Postgres {
		return "SELECT grp" + cols.String() + " FROM (" + inner + ") s GROUP BY grp"
	}
	return `SELECT grp` + cols.String() + `
	FROM (
		SELECT grp, v,
			ROW_NUMBER() OVER (PARTITION BY grp ORDER BY v) - 1 AS i,
			COUNT(*) OVER (PARTITION BY grp) AS n
		FROM (` + inner + `) s
	) w
	GROUP BY grp`
}

// bind numbers the "?" parameters of query for PostgreSQL ($1, $2, …) and
// returns it with arg given once for each.
func bind(dialectName, query string, arg any) (string, []any) {
	n := strings.Count(query, "?")
	args := make([]any, n)
	for i := range args {
		args[i] = arg
	}
	if dialectName != dialect.Postgres {
		return query, args
	}
	var b strings.Builder
	i := 0
	for _, r := range query {
		if r == '?' {
			i++
			fmt.Fprintf(&b, "$%d", i)
			continue
		}
		b.WriteRune(r)
	}
	return b.String(), args
}

// queryScorecards runs scorecardSQL for a prototype.
func queryScorecards(ctx context.Context, client *ent.Client, dialectName string, prototype gid.ID) (*prototypeCards, error) {
	query, args := bind(dialectName, scorecardSQL(dialectName), int64(prototype))
	rows, err := client.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("scorecards of prototype %s: %w", prototype, err)
	}
	defer rows.Close()
	cards := &prototypeCards{byID: map[gid.ID]*Scorecard{}}
	for rows.Next() {
		sc := &Scorecard{PrototypeID: prototype}
		var (
			id                           int64
			number                       sql.NullInt64
			status                       string
			rate, median, p90, avgRating sql.NullFloat64
			r                            [5]int
			k                            [6]int
		)
		err := rows.Scan(&id, &number, &status,
			&sc.TrialsStarted, &sc.TrialsCompleted, &sc.TrialsAbandoned, &sc.TrialsBlocked,
			&rate, &median, &p90, &avgRating,
			&r[0], &r[1], &r[2], &r[3], &r[4],
			&sc.FeedbackCount,
			&k[0], &k[1], &k[2], &k[3], &k[4], &k[5],
			&sc.OpenFeedback, &sc.AddressedFeedback, &sc.VerifiedFeedback,
			&sc.Participants,
			&sc.Addressed, &sc.BugsFixed)
		if err != nil {
			return nil, fmt.Errorf("scorecards of prototype %s: %w", prototype, err)
		}
		sc.IterationID = gid.ID(id)
		sc.Status = iteration.Status(status)
		if number.Valid {
			n := int(number.Int64)
			sc.Number = &n
		}
		sc.CompletionRate, sc.MedianTimeOnTask, sc.P90TimeOnTask, sc.AverageRating =
			nullable(rate), nullable(median), nullable(p90), nullable(avgRating)
		sc.Ratings = ratingCounts(r)
		sc.FeedbackByKind = kindCounts(k)
		cards.byID[sc.IterationID] = sc
		if sc.Number != nil {
			cards.numbered = append(cards.numbered, sc)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("scorecards of prototype %s: %w", prototype, err)
	}
	slices.SortFunc(cards.numbered, func(a, b *Scorecard) int { return *a.Number - *b.Number })
	return cards, nil
}

// emptyScorecard is the scorecard of an iteration nobody has tried.
func emptyScorecard(id, prototype gid.ID) *Scorecard {
	return &Scorecard{IterationID: id, PrototypeID: prototype, Ratings: ratingCounts([5]int{}), FeedbackByKind: kindCounts([6]int{})}
}

func ratingCounts(r [5]int) []*RatingCount {
	out := make([]*RatingCount, len(r))
	for i, n := range r {
		out[i] = &RatingCount{Rating: minRating + i, Count: n}
	}
	return out
}

func kindCounts(k [6]int) []*FeedbackKindCount {
	out := make([]*FeedbackKindCount, len(feedbackKinds))
	for i, kind := range feedbackKinds {
		out[i] = &FeedbackKindCount{Kind: kind, Count: k[i]}
	}
	return out
}

func nullable(f sql.NullFloat64) *float64 {
	if !f.Valid {
		return nil
	}
	return &f.Float64
}

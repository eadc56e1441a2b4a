package graph

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/iteration"
)

// Impact is the mission's arithmetic: what the testers of a prototype
// say it would save them, projected onto the workspace's headcount.
// Each tester counts once, with their latest estimate (their view of the
// prototype as it is now); the answer is the median with its quartiles,
// never a mean that one enthusiast can inflate, and nothing at all when
// nobody has given an estimate. Like scorecards it is computed by the
// database and is the team's.

// Bounds of Prototype.impact's workingDays.
const (
	defaultWorkingDays = 220
	maxWorkingDays     = 366
)

// impactSQL is the statement behind Prototype.impact: the number of
// estimates, their quartiles, the workspace's headcount and the
// projections. workingDays is validated before it is written in.
func impactSQL(dialectName string, workingDays int) string {
	estimates := `SELECT 1 AS grp, CAST(m AS DOUBLE PRECISION) AS v FROM latest WHERE r = 1`
	project := func(col string) string {
		return fmt.Sprintf("q.%s * NULLIF(w.headcount, 0) * %d / 60.0", col, workingDays)
	}
	return `
WITH latest AS (
	SELECT minutes_saved_per_day AS m,
		ROW_NUMBER() OVER (PARTITION BY author_id ORDER BY created_at DESC, id DESC) AS r
	FROM feedbacks
	WHERE prototype_id = ? AND minutes_saved_per_day IS NOT NULL AND status <> 'RETRACTED'
), q AS (
	` + percentilesSQL(dialectName, estimates, 0.25, 0.5, 0.75) + `
), n AS (
	SELECT COUNT(*) AS estimates FROM latest WHERE r = 1
), w AS (
	SELECT ws.headcount FROM workspaces ws JOIN prototypes pr ON pr.workspace_id = ws.id WHERE pr.id = ?
)
SELECT n.estimates, q.p0, q.p1, q.p2, w.headcount,
	` + project("p1") + `, ` + project("p0") + `, ` + project("p2") + `
FROM n CROSS JOIN w LEFT JOIN q ON q.grp = 1`
}

// prototypeImpact is Prototype.impact.
func prototypeImpact(ctx context.Context, client *ent.Client, dialectName string, p *ent.Prototype, workingDays *int) (*Impact, error) {
	if err := checkInsights(ctx, p.WorkspaceID); err != nil {
		return nil, err
	}
	days := defaultWorkingDays
	if workingDays != nil {
		days = *workingDays
	}
	if days < 1 || days > maxWorkingDays {
		return nil, badInput("workingDays", "workingDays must be 1 to %d, not %d", maxWorkingDays, days)
	}
	query, args := bind(dialectName, impactSQL(dialectName, days), int64(p.ID))
	im := &Impact{WorkingDays: days}
	var q1, median, q3, hours, low, high sql.NullFloat64
	rows, err := client.QueryContext(ctx, query, args...)
	if err == nil {
		err = scanOne(rows, &im.Estimates, &q1, &median, &q3, &im.Headcount, &hours, &low, &high)
	}
	if err != nil {
		return nil, fmt.Errorf("impact of prototype %s: %w", p.ID, err)
	}
	im.LowerQuartileMinutesPerDay, im.MedianMinutesPerDay, im.UpperQuartileMinutesPerDay = nullable(q1), nullable(median), nullable(q3)
	im.HoursPerYear, im.HoursPerYearLow, im.HoursPerYearHigh = nullable(hours), nullable(low), nullable(high)

	cards, err := scorecardsOf(ctx, client, dialectName, p.ID)
	if err != nil {
		return nil, err
	}
	im.TimeOnTask = timeOnTask(cards.numbered)
	return im, nil
}

// timeOnTask is Impact.timeOnTask: the median time on task of the first
// iteration people tried, the baseline, against the latest one they can
// try now. The baseline counts even if it was retired since (teams retire
// the old version as the new one comes out; what it cost people is still
// what the prototype is measured against). The latest counts only while it
// is published: a retired iteration is not what people get now. With one
// iteration out, it is both, and the change is 0: nothing changed yet.
// numbered are the published and retired iterations' scorecards, by
// number.
func timeOnTask(numbered []*Scorecard) *FloatChange {
	if len(numbered) == 0 {
		return &FloatChange{}
	}
	var after *float64
	for _, sc := range numbered {
		if sc.Status == iteration.StatusPUBLISHED {
			after = sc.MedianTimeOnTask
		}
	}
	return floatChange(numbered[0].MedianTimeOnTask, after)
}

// scanOne scans the one row a statement returns and closes the rows.
func scanOne(rows *sql.Rows, dest ...any) error {
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return rows.Close()
}

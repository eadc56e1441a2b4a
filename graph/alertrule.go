package graph

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/alertrule"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/feedback"
	"github.com/protoloop/protoloop/ent/iteration"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/trial"
)

// Alert rules are evaluated inside the mutation that changes what they
// watch, after its writes, as the server: whoever votes or ends a trial
// (a tester, say) may not read the rules, yet their change is what makes
// one fire. Each evaluation costs one indexed query for the rules of one
// kind of the prototype, and, when there are any, one for the figure.
//
// A rule fires once per crossing. The counting rules need no state of
// their own: votes and abandoned trials move one at a time, and are kept
// in the same transaction, so the step from N-1 to N is the crossing
// (falling back to N-1, by an unvote, and stepping to N again crosses
// again). An average can jump over the threshold and back, so RATING_BELOW
// records the iteration it is below for (crossed_for), under a row lock.

// maxCountThreshold bounds the counting rules' N.
const maxCountThreshold = 1_000_000

// checkAlertThreshold checks a rule's threshold for its kind.
func checkAlertThreshold(kind alertrule.Kind, threshold float64) error {
	switch kind {
	case alertrule.KindRATING_BELOW:
		if math.IsNaN(threshold) || threshold < minRating || threshold > maxRating {
			return badInput("threshold", "a RATING_BELOW threshold is a rating from %d to %d", minRating, maxRating)
		}
	default:
		if threshold != math.Trunc(threshold) || threshold < 1 || threshold > maxCountThreshold {
			return badInput("threshold", "a %s threshold is a whole number from 1 to %d", kind, maxCountThreshold)
		}
	}
	return nil
}

// createAlertRule adds a rule to a prototype; the policy admits owners
// and makers.
func createAlertRule(ctx context.Context, client *ent.Client, prototypeID gid.ID, input ent.CreateAlertRuleInput) (*ent.AlertRule, error) {
	if err := checkAlertThreshold(input.Kind, input.Threshold); err != nil {
		return nil, err
	}
	p, err := client.Prototype.Get(ctx, prototypeID)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("prototype")
	case err != nil:
		return nil, fmt.Errorf("create alert rule: %w", err)
	}
	r, err := client.AlertRule.Create().
		SetInput(input).
		SetWorkspaceID(p.WorkspaceID).
		SetPrototypeID(p.ID).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("create alert rule: %w", err)
	}
	// A new rating rule looks at once: an average already below it is news.
	if err := alertRating(ctx, client, p.ID); err != nil {
		return nil, err
	}
	return reload[*ent.AlertRule](ctx, client, r.ID)
}

// updateAlertRule changes a rule's threshold or switches it.
func updateAlertRule(ctx context.Context, client *ent.Client, id gid.ID, input ent.UpdateAlertRuleInput) (*ent.AlertRule, error) {
	r, err := client.AlertRule.Get(ctx, id)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("alert rule")
	case err != nil:
		return nil, fmt.Errorf("update alert rule: %w", err)
	}
	if input.Threshold != nil {
		if err := checkAlertThreshold(r.Kind, *input.Threshold); err != nil {
			return nil, err
		}
	}
	if err := client.AlertRule.UpdateOne(r).SetInput(input).Exec(ctx); err != nil {
		return nil, fmt.Errorf("update alert rule %s: %w", id, err)
	}
	if err := alertRating(ctx, client, r.PrototypeID); err != nil {
		return nil, err
	}
	return reload[*ent.AlertRule](ctx, client, r.ID)
}

// deleteAlertRule deletes a rule and returns its prototype.
func deleteAlertRule(ctx context.Context, client *ent.Client, id gid.ID) (*ent.Prototype, error) {
	r, err := client.AlertRule.Get(ctx, id)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("alert rule")
	case err != nil:
		return nil, fmt.Errorf("delete alert rule: %w", err)
	}
	if err := client.AlertRule.DeleteOne(r).Exec(ctx); err != nil {
		return nil, fmt.Errorf("delete alert rule %s: %w", id, err)
	}
	return reload[*ent.Prototype](ctx, client, r.PrototypeID)
}

// prototypeAlertRules lists a prototype's rules, oldest first.
func prototypeAlertRules(ctx context.Context, client *ent.Client, p *ent.Prototype) ([]*ent.AlertRule, error) {
	rules, err := client.AlertRule.Query().
		Where(alertrule.PrototypeID(p.ID)).
		Order(ent.Asc(alertrule.FieldCreatedAt), ent.Asc(alertrule.FieldID)).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("alert rules of prototype %s: %w", p.ID, err)
	}
	return rules, nil
}

// activeRules returns the enabled rules of one kind of a prototype, read
// as the server. lock locks them until the transaction ends, for rules
// whose evaluation reads a figure other transactions change at once.
func activeRules(ctx context.Context, client *ent.Client, prototypeID gid.ID, kind alertrule.Kind, lock bool) ([]*ent.AlertRule, error) {
	q := client.AlertRule.Query().
		Where(alertrule.PrototypeID(prototypeID), alertrule.KindEQ(kind), alertrule.Enabled(true))
	if lock {
		q = locked(q, dialectOf(ctx))
	}
	rules, err := q.All(system(ctx))
	if err != nil {
		return nil, fmt.Errorf("load %s alert rules: %w", kind, err)
	}
	return rules, nil
}

// crossedUp reports whether a count that moved from before to after
// reached threshold on the way.
func crossedUp(before, after int, threshold float64) bool {
	return float64(before) < threshold && float64(after) >= threshold
}

// alertVotes fires the FEEDBACK_VOTES rules that feedback fb reached,
// after added votes were counted (vote.go).
func alertVotes(ctx context.Context, client *ent.Client, fb *ent.Feedback, added int) error {
	if added <= 0 {
		return nil
	}
	rules, err := activeRules(ctx, client, fb.PrototypeID, alertrule.KindFEEDBACK_VOTES, false)
	if err != nil || len(rules) == 0 {
		return err
	}
	// The count as this transaction left it: its update holds the row.
	counted, err := client.Feedback.Query().Where(feedback.ID(fb.ID)).Select(feedback.FieldVoteCount).Only(system(ctx))
	if err != nil {
		return fmt.Errorf("alert on votes of feedback %s: %w", fb.ID, err)
	}
	n := counted.VoteCount
	for _, r := range rules {
		if crossedUp(n-added, n, r.Threshold) {
			if err := fire(ctx, client, r, fb.ID, map[string]any{"feedback": fb.ID.String(), "value": n}); err != nil {
				return err
			}
		}
	}
	return nil
}

// alertAbandoned fires the TRIALS_ABANDONED rules that the abandoned
// trial t makes cross on its iteration.
func alertAbandoned(ctx context.Context, client *ent.Client, t *ent.Trial) error {
	if t.Outcome == nil || *t.Outcome != trial.OutcomeABANDONED {
		return nil
	}
	// Locked: two trials abandoned at once are counted one after the
	// other, so that one of them sees the count reach N.
	rules, err := activeRules(ctx, client, t.PrototypeID, alertrule.KindTRIALS_ABANDONED, true)
	if err != nil || len(rules) == 0 {
		return err
	}
	n, err := client.Trial.Query().
		Where(trial.IterationID(t.IterationID), trial.OutcomeEQ(trial.OutcomeABANDONED)).
		Count(system(ctx))
	if err != nil {
		return fmt.Errorf("count abandoned trials of iteration %s: %w", t.IterationID, err)
	}
	for _, r := range rules {
		if crossedUp(n-1, n, r.Threshold) {
			if err := fire(ctx, client, r, t.IterationID, map[string]any{"iteration": t.IterationID.String(), "value": n}); err != nil {
				return err
			}
		}
	}
	return nil
}

// alertRating evaluates the RATING_BELOW rules of a prototype against the
// average rating of its latest published iteration, after a change to
// ratings or to which iteration is the latest. A rule fires when the
// average is below its threshold and it has not fired for that iteration
// since the average was last at or above it.
func alertRating(ctx context.Context, client *ent.Client, prototypeID gid.ID) error {
	rules, err := activeRules(ctx, client, prototypeID, alertrule.KindRATING_BELOW, true)
	if err != nil || len(rules) == 0 {
		return err
	}
	sys := system(ctx)
	latest, err := client.Iteration.Query().
		Where(iteration.PrototypeID(prototypeID), iteration.StatusEQ(iteration.StatusPUBLISHED), iteration.NumberNotNil()).
		Order(ent.Desc(iteration.FieldNumber)).
		Select(iteration.FieldID).
		First(sys)
	if err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("latest iteration of prototype %s: %w", prototypeID, err)
	}
	var (
		mean  float64
		rated bool
	)
	if latest != nil {
		var rows []struct {
			Mean  *float64 `json:"avg"`
			Count int      `json:"count"`
		}
		err := client.Feedback.Query().
			Where(feedback.IterationID(latest.ID), feedback.RatingNotNil(), feedback.StatusNEQ(feedback.StatusRETRACTED)).
			Aggregate(ent.Mean(feedback.FieldRating), ent.Count()).
			Scan(sys, &rows)
		if err != nil {
			return fmt.Errorf("average rating of iteration %s: %w", latest.ID, err)
		}
		if len(rows) == 1 && rows[0].Count > 0 && rows[0].Mean != nil {
			mean, rated = *rows[0].Mean, true
		}
	}
	for _, r := range rules {
		below := rated && mean < r.Threshold
		switch {
		case below && (r.CrossedFor == nil || *r.CrossedFor != latest.ID):
			if err := client.AlertRule.UpdateOne(r).SetCrossedFor(latest.ID).Exec(sys); err != nil {
				return fmt.Errorf("note alert rule %s crossed: %w", r.ID, err)
			}
			payload := map[string]any{"iteration": latest.ID.String(), "value": math.Round(mean*100) / 100}
			if err := fire(ctx, client, r, latest.ID, payload); err != nil {
				return err
			}
		case !below && r.CrossedFor != nil:
			if err := client.AlertRule.UpdateOne(r).ClearCrossedFor().Exec(sys); err != nil {
				return fmt.Errorf("note alert rule %s back: %w", r.ID, err)
			}
		}
	}
	return nil
}

// fire records an ALERT event for rule r about subject, and counts it on
// the rule.
func fire(ctx context.Context, client *ent.Client, r *ent.AlertRule, subject gid.ID, facts map[string]any) error {
	err := client.AlertRule.UpdateOneID(r.ID).AddFiredCount(1).SetLastFiredAt(time.Now()).Exec(system(ctx))
	if err != nil {
		return fmt.Errorf("fire alert rule %s: %w", r.ID, err)
	}
	payload := map[string]any{"rule": r.ID.String(), "ruleKind": string(r.Kind), "threshold": r.Threshold}
	for k, v := range facts {
		payload[k] = v
	}
	record(ctx, change{kind: event.KindALERT, workspace: r.WorkspaceID, prototype: r.PrototypeID, subject: subject, payload: payload})
	return nil
}

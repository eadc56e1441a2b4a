package graph

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/alertrule"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/feedback"
	"github.com/protoloop/protoloop/ent/iteration"
	"github.com/protoloop/protoloop/ent/participant"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/rule"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// Limits of the inputs, as the API documents them. ent's validators hold
// the rows to the same limits; checking first gives clearer messages.
const (
	maxBodyChars         = 10_000
	maxIdempotencyKey    = 128
	maxMinutesSaved      = 480
	maxAddressedAtOnce   = 100
	minRating, maxRating = 1, 5
)

// validateFeedback checks the parts of leaveFeedback's input that need no
// database.
func validateFeedback(input LeaveFeedbackInput) error {
	if err := validateBody(input.Body); err != nil {
		return err
	}
	if err := validateScores(input.Rating, input.MinutesSavedPerDay); err != nil {
		return err
	}
	if k := input.IdempotencyKey; k != nil && (*k == "" || utf8.RuneCountInString(*k) > maxIdempotencyKey) {
		return badInput("idempotencyKey", "idempotencyKey must be 1 to %d characters", maxIdempotencyKey)
	}
	return nil
}

// validateEdit checks editFeedback's input as validateFeedback checks
// leaveFeedback's.
func validateEdit(input EditFeedbackInput) error {
	if input.Kind == nil && input.Body == nil && input.Rating == nil && input.MinutesSavedPerDay == nil {
		return badInput("input", "give at least one of kind, body, rating and minutesSavedPerDay to change")
	}
	if input.Body != nil {
		if err := validateBody(*input.Body); err != nil {
			return err
		}
	}
	return validateScores(input.Rating, input.MinutesSavedPerDay)
}

// validateScores checks a rating and an estimate of minutes saved, where
// given.
func validateScores(rating, minutesSaved *int) error {
	if r := rating; r != nil && (*r < minRating || *r > maxRating) {
		return badInput("rating", "rating must be %d to %d, not %d", minRating, maxRating, *r)
	}
	if m := minutesSaved; m != nil && (*m < 0 || *m > maxMinutesSaved) {
		return badInput("minutesSavedPerDay", "minutesSavedPerDay must be 0 to %d, not %d", maxMinutesSaved, *m)
	}
	return nil
}

// validateBody checks the text of feedback or a comment.
func validateBody(body string) error {
	if body == "" || utf8.RuneCountInString(body) > maxBodyChars {
		return badInput("body", "body must be 1 to %d characters", maxBodyChars)
	}
	return nil
}

// leaveFeedback adds the viewer's feedback on a published iteration, or,
// for an idempotency key the viewer has used before on this prototype,
// returns the feedback that key first created.
func leaveFeedback(ctx context.Context, client *ent.Client, input LeaveFeedbackInput) (*ent.Feedback, error) {
	fb, err := addFeedback(ctx, client, input)
	if err != nil {
		return nil, err
	}
	if selectsOnlyColumns(ctx) {
		return fb, nil
	}
	return reloadOneFeedback(ctx, client, fb.ID)
}

// feedbackColumns are the fields of Feedback that are columns of its
// row, which addFeedback's result already holds as stored.
var feedbackColumns = map[string]bool{
	"__typename": true, "id": true, "createdAt": true, "updatedAt": true,
	"kind": true, "body": true, "rating": true, "minutesSavedPerDay": true,
	"status": true, "verdict": true, "verifiedAt": true, "voteCount": true,
}

// selectsOnlyColumns reports whether the Feedback that the current field
// returns is asked for feedbackColumns only: then it needs no reload to
// load edges, and a write saves a statement.
func selectsOnlyColumns(ctx context.Context) bool {
	for _, f := range graphql.CollectFieldsCtx(ctx, []string{"Feedback", "Node"}) {
		if !feedbackColumns[f.Name] {
			return false
		}
	}
	return true
}

// addFeedback does leaveFeedback's work and returns the feedback the
// input stands for, with every column as stored.
func addFeedback(ctx context.Context, client *ent.Client, input LeaveFeedbackInput) (*ent.Feedback, error) {
	target, err := loadFeedbackTarget(ctx, client, input.IterationID)
	if err != nil {
		return nil, err
	}
	it := target.iteration
	author, err := target.author(ctx, client)
	if err != nil {
		return nil, err
	}
	key := input.IdempotencyKey
	if key != nil {
		// A retry returns what the first attempt made, even if the
		// iteration has been retired since.
		fb, err := feedbackByKey(ctx, client, author, *key)
		switch {
		case err != nil:
			return nil, err
		case fb != nil:
			return fb, nil
		}
	}
	if it.Status != iteration.StatusPUBLISHED {
		return nil, badInput("iterationID", "iteration %s is %s: only a published iteration can be given feedback", it.ID, it.Status)
	}
	if input.TrialID != nil {
		if err := checkOwnTrial(ctx, client, *input.TrialID, author, it.ID); err != nil {
			return nil, err
		}
	}
	// To the microsecond, as PostgreSQL keeps it: the result is returned
	// as written rather than read back, and must say what a read will.
	now := time.Now().UTC().Round(time.Microsecond)
	create := client.Feedback.Create().
		SetCreatedAt(now).
		SetUpdatedAt(now).
		SetWorkspaceID(it.WorkspaceID).
		SetPrototypeID(it.PrototypeID).
		SetIterationID(it.ID).
		SetAuthorID(author).
		SetNillableTrialID(input.TrialID).
		SetKind(input.Kind).
		SetBody(input.Body).
		SetNillableRating(input.Rating).
		SetNillableMinutesSavedPerDay(input.MinutesSavedPerDay)

	var fb *ent.Feedback
	if key == nil {
		fb, err = create.Save(ctx)
	} else {
		var inserted bool
		fb, inserted, err = createOnce(ctx, client, create.SetIdempotencyKey(*key), author, *key)
		if err == nil && !inserted {
			return fb, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("leave feedback on iteration %s: %w", it.ID, err)
	}
	record(ctx, change{
		kind:        event.KindFEEDBACK_ADDED,
		workspace:   fb.WorkspaceID,
		prototype:   fb.PrototypeID,
		subject:     fb.ID,
		participant: author,
		payload:     map[string]any{"iteration": it.ID.String(), "kind": string(fb.Kind)},
	})
	if fb.Rating != nil && target.ratingRules {
		if err := alertRating(ctx, client, fb.PrototypeID); err != nil {
			return nil, err
		}
	}
	return fb, nil
}

// feedbackTarget is what leaveFeedback reads before it writes, in one
// statement (loadFeedbackTarget).
type feedbackTarget struct {
	iteration *ent.Iteration
	// userParticipant is the viewer's user's participant on the
	// iteration's prototype: zero for a guest, or before a user's first
	// action there.
	userParticipant gid.ID
	// ratingRules is whether the prototype has enabled RATING_BELOW alert
	// rules. Without any, a rating has nothing to cross, and alertRating
	// (which locks them) is skipped. A rule made after this read was not
	// there for this feedback, just as one made after alertRating's read
	// would not be; its first evaluation is the next rating's, as it
	// would be then. The read is at the transaction's start rather than
	// after the insert, which widens that window by the insert's time: a
	// rule made meanwhile, whose own evaluation cannot see this rating
	// yet, fires at the next rating instead of this one.
	ratingRules bool
}

// Names of the values loadFeedbackTarget selects beside the iteration's
// columns.
const (
	targetParticipant = "viewer_participant"
	targetRatingRules = "rating_rules"
)

// loadFeedbackTarget reads the iteration feedback is left on, as the
// viewer may see it (NOT_FOUND otherwise), with the viewer's user's
// participant on its prototype and whether the prototype has rating rules:
// one statement instead of three. The two subqueries read as the server;
// only their answers for this viewer are used.
func loadFeedbackTarget(ctx context.Context, client *ent.Client, id gid.ID) (*feedbackTarget, error) {
	var user gid.ID
	if v := viewer.FromContext(ctx); v != nil {
		user = v.UserID
	}
	it, err := client.Iteration.Query().
		Where(iteration.ID(id)).
		Modify(func(s *entsql.Selector) {
			p := entsql.Table(participant.Table)
			own := entsql.Select(p.C(participant.FieldID)).From(p).Where(entsql.And(
				entsql.ColumnsEQ(p.C(participant.FieldPrototypeID), s.C(iteration.FieldPrototypeID)),
				entsql.EQ(p.C(participant.FieldUserID), user),
			))
			// Zero for none: SQLite's driver has no type to scan a NULL
			// expression with.
			s.AppendSelectExprAs(entsql.ExprFunc(func(b *entsql.Builder) {
				b.WriteString("COALESCE((").Join(own).WriteString("), 0)")
			}), targetParticipant)
			r := entsql.Table(alertrule.Table)
			s.AppendSelectExprAs(entsql.Exists(entsql.Select(r.C(alertrule.FieldID)).From(r).Where(entsql.And(
				entsql.ColumnsEQ(r.C(alertrule.FieldPrototypeID), s.C(iteration.FieldPrototypeID)),
				entsql.EQ(r.C(alertrule.FieldKind), alertrule.KindRATING_BELOW.String()),
				entsql.EQ(r.C(alertrule.FieldEnabled), true),
			))), targetRatingRules)
		}).
		Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("iteration")
	case err != nil:
		return nil, fmt.Errorf("load iteration %s: %w", id, err)
	}
	t := &feedbackTarget{iteration: it}
	if t.userParticipant, err = selectedID(it, targetParticipant); err != nil {
		return nil, err
	}
	if t.ratingRules, err = selectedBool(it, targetRatingRules); err != nil {
		return nil, err
	}
	return t, nil
}

// author returns the participant the viewer leaves feedback as: for a
// member, the one loadFeedbackTarget found, which participantFor would
// look up again; else, or on a member's first action on the prototype,
// participantFor's.
func (t *feedbackTarget) author(ctx context.Context, client *ent.Client) (gid.ID, error) {
	if id := viewer.FromContext(ctx); id != nil && t.userParticipant != 0 && actsAsUser(id, t.iteration.WorkspaceID) {
		return t.userParticipant, nil
	}
	p, err := participantFor(ctx, client, t.iteration.WorkspaceID, t.iteration.PrototypeID)
	if err != nil {
		return 0, err
	}
	return p.ID, nil
}

// selectedID returns an ID a query selected beside an entity's columns
// (see Modify).
func selectedID(it *ent.Iteration, name string) (gid.ID, error) {
	v, err := it.Value(name)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	if v, ok := v.(int64); ok {
		return gid.ID(v), nil
	}
	return 0, fmt.Errorf("read %s: got a %T", name, v)
}

// selectedBool returns a boolean a query selected beside an entity's
// columns: PostgreSQL's bool, or SQLite's integer.
func selectedBool(it *ent.Iteration, name string) (bool, error) {
	v, err := it.Value(name)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", name, err)
	}
	switch v := v.(type) {
	case bool:
		return v, nil
	case int64:
		return v != 0, nil
	}
	return false, fmt.Errorf("read %s: got a %T", name, v)
}

// createOnce creates feedback with an idempotency key, unless its author
// has used the key already, and returns the feedback the key stands for.
func createOnce(ctx context.Context, client *ent.Client, create *ent.FeedbackCreate, author gid.ID, key string) (fb *ent.Feedback, inserted bool, err error) {
	// Two attempts with one key may race past the lookup in addFeedback.
	// ON CONFLICT DO NOTHING makes the later one wait for the earlier and
	// then insert nothing, instead of failing on the unique index (which on
	// PostgreSQL would abort the whole transaction).
	err = create.
		OnConflictColumns(feedback.FieldAuthorID, feedback.FieldIdempotencyKey).
		DoNothing().
		Exec(ctx)
	inserted = err == nil
	if err != nil && !conflictSkipped(err) {
		return nil, false, err
	}
	fb, err = feedbackByKey(ctx, client, author, key)
	if err == nil && fb == nil {
		err = fmt.Errorf("feedback of participant %s with idempotency key missing after insert", author)
	}
	return fb, inserted, err
}

// feedbackByKey returns the feedback an author left with an idempotency
// key, or nil.
func feedbackByKey(ctx context.Context, client *ent.Client, author gid.ID, key string) (*ent.Feedback, error) {
	fb, err := client.Feedback.Query().
		Where(feedback.AuthorID(author), feedback.IdempotencyKey(key)).
		Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("look up feedback by idempotency key: %w", err)
	}
	return fb, nil
}

// checkOwnTrial checks that feedback names one of its author's own trials
// of the iteration it is about.
func checkOwnTrial(ctx context.Context, client *ent.Client, trialID, author, iterationID gid.ID) error {
	t, err := client.Trial.Get(ctx, trialID)
	switch {
	case ent.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("load trial %s: %w", trialID, err)
	case t.ParticipantID == author && t.IterationID == iterationID:
		return nil
	}
	return badInput("trialID", "trial %s is not one of your trials of iteration %s", trialID, iterationID)
}

// triage lists where setFeedbackStatus may move feedback from each status.
// ADDRESSED is reached only through markAddressed, which links the
// iteration that addresses the feedback, and VERIFIED only through the
// reporter's confirmation; both may be reopened when the fix falls short.
// RETRACTED is the author's to set (retractFeedback), and triage leaves
// feedback its author took back alone: it has no moves in or out.
var triage = map[feedback.Status][]feedback.Status{
	feedback.StatusOPEN:         {feedback.StatusACKNOWLEDGED, feedback.StatusPLANNED, feedback.StatusDECLINED},
	feedback.StatusACKNOWLEDGED: {feedback.StatusPLANNED, feedback.StatusDECLINED, feedback.StatusOPEN},
	feedback.StatusPLANNED:      {feedback.StatusACKNOWLEDGED, feedback.StatusDECLINED, feedback.StatusOPEN},
	feedback.StatusDECLINED:     {feedback.StatusOPEN},
	feedback.StatusADDRESSED:    {feedback.StatusOPEN},
	feedback.StatusVERIFIED:     {feedback.StatusOPEN},
}

// checkTriage says why setFeedbackStatus may not move feedback from one
// status to another, or returns nil if it may.
func checkTriage(from, to feedback.Status) error {
	switch {
	case from == feedback.StatusRETRACTED:
		return badInput("status", "the feedback was retracted by the person who left it: triage leaves it alone")
	case from == feedback.StatusMERGED:
		return badInput("status", "the feedback was merged into another: triage that one")
	case to == feedback.StatusMERGED:
		return badInput("status", "use mergeFeedback to merge feedback into the feedback it repeats")
	case to == feedback.StatusRETRACTED:
		return badInput("status", "only the person who left feedback can retract it")
	case to == feedback.StatusADDRESSED:
		return badInput("status", "use markAddressed to mark feedback ADDRESSED: it links the iteration that addresses it")
	case to == feedback.StatusVERIFIED:
		return badInput("status", "feedback becomes VERIFIED when the person who left it confirms the fix")
	case from == to:
		return badInput("status", "feedback is already %s", to)
	case !slices.Contains(triage[from], to):
		return badInput("status", "feedback cannot move from %s to %s", from, to)
	}
	return nil
}

// setFeedbackStatus triages feedback along the triage table.
func setFeedbackStatus(ctx context.Context, client *ent.Client, dialectName string, id gid.ID, to feedback.Status) (*ent.Feedback, error) {
	fb, err := lockFeedback(ctx, client, dialectName, id)
	if err != nil {
		return nil, err
	}
	from := fb.Status
	if err := checkTriage(from, to); err != nil {
		return nil, err
	}
	// Triage never lands on ADDRESSED or VERIFIED, the statuses that have
	// an addressing iteration, so the link goes whatever the status was.
	err = client.Feedback.UpdateOne(fb).
		SetStatus(to).
		ClearAddressedInID().
		Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("set status of feedback %s: %w", id, err)
	}
	record(ctx, change{
		kind:      event.KindFEEDBACK_STATUS_CHANGED,
		workspace: fb.WorkspaceID,
		prototype: fb.PrototypeID,
		subject:   fb.ID,
		payload:   map[string]any{"from": string(from), "to": string(to)},
	})
	return reloadOneFeedback(ctx, client, fb.ID)
}

// addressable are the statuses markAddressed moves on: feedback still
// waiting for a fix.
var addressable = []feedback.Status{feedback.StatusOPEN, feedback.StatusACKNOWLEDGED, feedback.StatusPLANNED}

// markAddressed marks feedback ADDRESSED by a later iteration of its
// prototype and returns it in the order the IDs were given.
func markAddressed(ctx context.Context, client *ent.Client, dialectName string, feedbackIDs []gid.ID, iterationID gid.ID) ([]*ent.Feedback, error) {
	if len(feedbackIDs) == 0 || len(feedbackIDs) > maxAddressedAtOnce {
		return nil, badInput("feedbackIDs", "give 1 to %d feedback IDs", maxAddressedAtOnce)
	}
	ids := dedupe(feedbackIDs)
	it, err := client.Iteration.Get(ctx, iterationID)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("iteration")
	case err != nil:
		return nil, fmt.Errorf("load iteration %s: %w", iterationID, err)
	case it.Status == iteration.StatusRETIRED:
		return nil, badInput("iterationID", "iteration %s is retired", it.ID)
	}
	fbs, err := lockAddressable(ctx, client, dialectName, ids, it)
	if err != nil {
		return nil, err
	}
	n, err := client.Feedback.Update().
		Where(feedback.IDIn(ids...)).
		SetStatus(feedback.StatusADDRESSED).
		SetAddressedInID(it.ID).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("mark feedback addressed: %w", err)
	}
	if n != len(ids) {
		// Every row is visible and locked, so only the privacy filter on
		// updates, which keeps to editors' workspaces, can have left some
		// out: all of them, as they share one prototype.
		return nil, fmt.Errorf("mark feedback addressed: %w", rule.ErrForbidden)
	}
	for _, fb := range fbs {
		record(ctx, change{
			kind:      event.KindFEEDBACK_ADDRESSED,
			workspace: fb.WorkspaceID,
			prototype: fb.PrototypeID,
			subject:   fb.ID,
			payload:   map[string]any{"iteration": it.ID.String(), "from": string(fb.Status)},
		})
	}
	requestVerifications(ctx, it, fbs) // if it is out already
	return reloadFeedback(ctx, client, ids...)
}

// lockAddressable loads and locks the feedback with the given IDs, in one
// query, checks that target may mark each of it addressed, and returns it
// in the order of ids.
func lockAddressable(ctx context.Context, client *ent.Client, dialectName string, ids []gid.ID, target *ent.Iteration) ([]*ent.Feedback, error) {
	// In ID order, so that two transactions locking overlapping sets take
	// their locks in the same order and cannot deadlock.
	loaded, err := locked(client.Feedback.Query().
		Where(feedback.IDIn(ids...)).
		Order(ent.Asc(feedback.FieldID)), dialectName).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load feedback: %w", err)
	}
	byID := make(map[gid.ID]*ent.Feedback, len(loaded))
	for _, fb := range loaded {
		byID[fb.ID] = fb
	}
	leftOn, err := sourceNumbers(ctx, client, target, loaded)
	if err != nil {
		return nil, err
	}
	fbs := make([]*ent.Feedback, len(ids))
	for i, id := range ids {
		fb, ok := byID[id]
		if !ok {
			return nil, notFound("feedback " + id.String())
		}
		if err := checkAddressable(fb, target, leftOn[fb.IterationID]); err != nil {
			return nil, err
		}
		fbs[i] = fb
	}
	return fbs, nil
}

// reloadFeedback reads feedback back after a change, in the order of ids,
// with the fields the client selected loaded here, in one goroutine: left
// to gqlgen, which resolves sibling fields concurrently, they would cost a
// query per row, and queries at once on the mutation's one connection.
func reloadFeedback(ctx context.Context, client *ent.Client, ids ...gid.ID) ([]*ent.Feedback, error) {
	query, err := client.Feedback.Query().Where(feedback.IDIn(ids...)).CollectFields(ctx)
	if err != nil {
		return nil, fmt.Errorf("collect feedback fields: %w", err)
	}
	loaded, err := query.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("reload feedback: %w", err)
	}
	byID := make(map[gid.ID]*ent.Feedback, len(loaded))
	for _, fb := range loaded {
		byID[fb.ID] = fb
	}
	result := make([]*ent.Feedback, len(ids))
	for i, id := range ids {
		if result[i] = byID[id]; result[i] == nil {
			return nil, fmt.Errorf("reload feedback: %s vanished", id)
		}
	}
	return result, nil
}

// reloadOneFeedback is reloadFeedback for a single piece of feedback.
func reloadOneFeedback(ctx context.Context, client *ent.Client, id gid.ID) (*ent.Feedback, error) {
	fbs, err := reloadFeedback(ctx, client, id)
	if err != nil {
		return nil, err
	}
	return fbs[0], nil
}

// sourceNumbers returns the numbers of the iterations feedback was left
// on, when they are needed to tell whether it is later: a draft target is
// later than any published iteration, whatever its number.
func sourceNumbers(ctx context.Context, client *ent.Client, target *ent.Iteration, fbs []*ent.Feedback) (map[gid.ID]*int, error) {
	if target.Status == iteration.StatusDRAFT || len(fbs) == 0 {
		return nil, nil
	}
	var ids []gid.ID
	for _, fb := range fbs {
		if fb.PrototypeID == target.PrototypeID {
			ids = append(ids, fb.IterationID)
		}
	}
	its, err := client.Iteration.Query().
		Where(iteration.IDIn(dedupe(ids)...)).
		Select(iteration.FieldID, iteration.FieldNumber).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load iterations of feedback: %w", err)
	}
	numbers := make(map[gid.ID]*int, len(its))
	for _, src := range its {
		numbers[src.ID] = src.Number
	}
	return numbers, nil
}

// checkAddressable says why feedback cannot be marked addressed by an
// iteration, given the number of the iteration it was left on.
func checkAddressable(fb *ent.Feedback, target *ent.Iteration, leftOn *int) error {
	if fb.PrototypeID != target.PrototypeID {
		return badInput("iterationID", "iteration %s is not of the prototype feedback %s is about", target.ID, fb.ID)
	}
	if !laterThan(target, leftOn) {
		return badInput("iterationID", "iteration %s is not later than the iteration feedback %s was left on", target.ID, fb.ID)
	}
	if fb.Status == feedback.StatusRETRACTED {
		return badInput("feedbackIDs", "feedback %s was retracted by the person who left it", fb.ID)
	}
	if !slices.Contains(addressable, fb.Status) {
		return badInput("feedbackIDs", "feedback %s is %s: only OPEN, ACKNOWLEDGED or PLANNED feedback can be marked addressed", fb.ID, fb.Status)
	}
	return nil
}

// laterThan reports whether target comes after the iteration numbered
// leftOn. Drafts are not numbered yet and will come after every
// published iteration.
func laterThan(target *ent.Iteration, leftOn *int) bool {
	if target.Status == iteration.StatusDRAFT {
		return true
	}
	return target.Number != nil && leftOn != nil && *target.Number > *leftOn
}

// editFeedback changes its author's feedback while it is OPEN: once
// someone has triaged it, what they triaged stays what was said. Whether
// the caller is the author is the feedback policy's to decide.
func editFeedback(ctx context.Context, client *ent.Client, dialectName string, id gid.ID, input EditFeedbackInput) (*ent.Feedback, error) {
	// Locked, so that triage cannot slip in between the check of the
	// status and the edit.
	fb, err := lockFeedback(ctx, client, dialectName, id)
	if err != nil {
		return nil, err
	}
	upd := client.Feedback.UpdateOne(fb).Where(feedback.StatusEQ(feedback.StatusOPEN))
	var fields []string
	if k := input.Kind; k != nil && *k != fb.Kind {
		upd.SetKind(*k)
		fields = append(fields, "kind")
	}
	if b := input.Body; b != nil && *b != fb.Body {
		upd.SetBody(*b)
		fields = append(fields, "body")
	}
	if r := input.Rating; r != nil && !equalPtr(r, fb.Rating) {
		upd.SetRating(*r)
		fields = append(fields, "rating")
	}
	if m := input.MinutesSavedPerDay; m != nil && !equalPtr(m, fb.MinutesSavedPerDay) {
		upd.SetMinutesSavedPerDay(*m)
		fields = append(fields, "minutesSavedPerDay")
	}
	// Saved even when nothing differs, so that the policy answers a caller
	// who is not the author the same whatever they sent. The status is
	// checked by the statement, after the policy: a caller who may not
	// edit the feedback learns that, not its status.
	err = upd.Exec(ctx)
	switch {
	case ent.IsNotFound(err) && fb.Status != feedback.StatusOPEN:
		return nil, badInput("id", "feedback can be edited until it is triaged")
	case ent.IsNotFound(err):
		return nil, notFound("feedback")
	case err != nil:
		return nil, fmt.Errorf("edit feedback %s: %w", id, err)
	}
	if len(fields) > 0 {
		record(ctx, change{
			kind:        event.KindFEEDBACK_EDITED,
			workspace:   fb.WorkspaceID,
			prototype:   fb.PrototypeID,
			subject:     fb.ID,
			participant: fb.AuthorID,
			payload:     map[string]any{"fields": fields},
		})
		if slices.Contains(fields, "rating") {
			if err := alertRating(ctx, client, fb.PrototypeID); err != nil {
				return nil, err
			}
		}
	}
	return reloadOneFeedback(ctx, client, fb.ID)
}

// unretractable are the statuses feedback cannot be retracted from:
// retracted already, confirmed fixed by the author, or merged into other
// feedback, which carries its votes now.
var unretractable = []feedback.Status{feedback.StatusRETRACTED, feedback.StatusVERIFIED, feedback.StatusMERGED}

// retractFeedback lets the author take feedback back: it becomes RETRACTED,
// which triage and markAddressed leave alone. Whether the caller is the
// author is the feedback policy's to decide.
func retractFeedback(ctx context.Context, client *ent.Client, dialectName string, id gid.ID) (*ent.Feedback, error) {
	fb, err := lockFeedback(ctx, client, dialectName, id)
	if err != nil {
		return nil, err
	}
	// Feedback retracted after it was ADDRESSED keeps the link to the
	// iteration that addressed it: that is what happened, and the iteration
	// still shows it, as RETRACTED. Only its status is the author's.
	err = client.Feedback.UpdateOne(fb).
		Where(feedback.StatusNotIn(unretractable...)).
		SetStatus(feedback.StatusRETRACTED).
		Exec(ctx)
	switch {
	case ent.IsNotFound(err) && fb.Status == feedback.StatusRETRACTED:
		return nil, badInput("id", "the feedback is retracted already")
	case ent.IsNotFound(err) && fb.Status == feedback.StatusVERIFIED:
		return nil, badInput("id", "verified feedback cannot be retracted: you confirmed its fix")
	case ent.IsNotFound(err) && fb.Status == feedback.StatusMERGED:
		return nil, badInput("id", "merged feedback cannot be retracted: its votes and comments are on the feedback it was merged into")
	case ent.IsNotFound(err):
		return nil, notFound("feedback")
	case err != nil:
		return nil, fmt.Errorf("retract feedback %s: %w", id, err)
	}
	record(ctx, change{
		kind:        event.KindFEEDBACK_RETRACTED,
		workspace:   fb.WorkspaceID,
		prototype:   fb.PrototypeID,
		subject:     fb.ID,
		participant: fb.AuthorID,
		payload:     map[string]any{"from": string(fb.Status)},
	})
	if fb.Rating != nil {
		if err := alertRating(ctx, client, fb.PrototypeID); err != nil {
			return nil, err
		}
	}
	return reloadOneFeedback(ctx, client, fb.ID)
}

// equalPtr reports whether a value given equals an optional one stored.
func equalPtr[T comparable](given, stored *T) bool {
	return stored != nil && *given == *stored
}

// dedupe returns ids without repeats, in the order of first appearance.
func dedupe(ids []gid.ID) []gid.ID {
	seen := make(map[gid.ID]bool, len(ids))
	out := make([]gid.ID, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// conflictSkipped reports whether err is how ent tells that an INSERT … ON
// CONFLICT DO NOTHING inserted nothing: it reads the new row's ID back
// with RETURNING, and a skipped row returns none, on PostgreSQL and SQLite
// alike.
func conflictSkipped(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// lockFeedback loads feedback and locks it until the transaction ends, so
// that a change is checked against the status it replaces even when two
// people act on the same feedback at once.
func lockFeedback(ctx context.Context, client *ent.Client, dialectName string, id gid.ID) (*ent.Feedback, error) {
	fb, err := locked(client.Feedback.Query().Where(feedback.ID(id)), dialectName).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("feedback")
	case err != nil:
		return nil, fmt.Errorf("load feedback %s: %w", id, err)
	}
	return fb, nil
}

package rule

import (
	"context"
	"fmt"
	"slices"

	"entgo.io/ent/entql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/feedback"
	"github.com/protoloop/protoloop/ent/participant"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// A tester (a guest, or a user who redeemed an invite) belongs to no
// workspace: each participation admits them to one prototype. The rules
// here say what of a prototype a participation reaches and which changes
// it allows. The identity carries the participations (prototype,
// workspace, own participant), so every check is a comparison or an
// "IN (…)" on the row's own indexed columns, with no query of its own
// except where noted.

// Reach is the part of a type's rows that a caller's tester
// participations let it see: a predicate over the row's own columns. It
// is only asked for callers who test something.
type Reach func(id *viewer.Identity) entql.P

// testedPrototypes lists the prototypes the caller tests.
func testedPrototypes(id *viewer.Identity) []any {
	var ids []any
	for _, t := range id.Testing() {
		ids = append(ids, int64(t.Prototype))
	}
	return ids
}

// testedWorkspaces lists the workspaces of the prototypes the caller tests.
func testedWorkspaces(id *viewer.Identity) []any {
	var ids []any
	for _, t := range id.Testing() {
		if !slices.Contains(ids, any(int64(t.Workspace))) {
			ids = append(ids, int64(t.Workspace))
		}
	}
	return ids
}

// testerParticipants lists the participants the caller acts as in the
// prototypes it tests.
func testerParticipants(id *viewer.Identity) []any {
	var ids []any
	for _, t := range id.Testing() {
		ids = append(ids, int64(t.Participant))
	}
	return ids
}

// TestedWorkspaces reaches the workspaces of the prototypes the caller
// tests: a tester sees their name and mission, and through the other
// rules only the tested prototype in them.
func TestedWorkspaces(id *viewer.Identity) entql.P { return inIDs("id", testedWorkspaces(id)) }

// TestedPrototypes reaches the rows whose column field names a prototype
// the caller tests ("id" for prototypes themselves).
func TestedPrototypes(field string) Reach {
	return func(id *viewer.Identity) entql.P { return inIDs(field, testedPrototypes(id)) }
}

// TestedPrototypesExcept reaches the rows of the tested prototypes whose
// column field holds none of values: drafts, say, which are the team's
// until they are published.
func TestedPrototypesExcept(field string, values ...string) Reach {
	not := make([]any, len(values))
	for i, v := range values {
		not[i] = v
	}
	return func(id *viewer.Identity) entql.P {
		return entql.And(inIDs("prototype_id", testedPrototypes(id)), entql.FieldNotIn(field, not...))
	}
}

// OwnParticipant reaches the rows whose column field names a participant
// the caller acts as: their own trials, say.
func OwnParticipant(field string) Reach {
	return func(id *viewer.Identity) entql.P { return inIDs(field, testerParticipants(id)) }
}

// idField returns an ID-valued field a mutation sets.
func idField(m ent.Mutation, name string) (gid.ID, bool) {
	v, ok := m.Field(name)
	if !ok {
		return 0, false
	}
	id, ok := v.(gid.ID)
	return id, ok
}

// testerCreating returns the participation in which a caller who is not
// a member of the new row's workspace creates a row on a prototype it
// tests, if that is what m is.
func testerCreating(ctx context.Context, m ent.Mutation) (viewer.Tester, bool) {
	id := viewer.FromContext(ctx)
	w, okW := idField(m, "workspace_id")
	p, okP := idField(m, "prototype_id")
	if !okW || !okP {
		return viewer.Tester{}, false
	}
	if _, member := id.RoleIn(w); member {
		return viewer.Tester{}, false // members are judged as members
	}
	t, ok := id.TesterOf(p)
	if !ok || t.Workspace != w {
		return viewer.Tester{}, false
	}
	return t, true
}

// AllowTesterCreate lets a tester create a row on the prototype it tests
// when the row's participant column (the trial's participant, the
// feedback's author, the vote's voter) is the tester's own participant
// there: testers act as themselves only. Anything else is left to the
// members' rules, which refuse non-members.
func AllowTesterCreate(participantField string) privacy.MutationRule {
	return privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		t, ok := testerCreating(ctx, m)
		if !ok {
			return privacy.Skip
		}
		if p, ok := idField(m, participantField); ok && p == t.Participant {
			return privacy.Allow
		}
		return privacy.Skip
	}), ent.OpCreate)
}

// AllowTesterComment lets a tester comment, as its own participant, in
// the threads of its own feedback. Feedback of other testers it may read
// and vote on, but not discuss: that is between its author and the team.
// It reads the feedback's author, which the resolver has already shown
// the tester can see, with privacy lifted (one indexed lookup).
func AllowTesterComment() privacy.MutationRule {
	return privacy.CommentMutationRuleFunc(func(ctx context.Context, m *ent.CommentMutation) error {
		if !m.Op().Is(ent.OpCreate) {
			return privacy.Skip
		}
		t, ok := testerCreating(ctx, m)
		if !ok {
			return privacy.Skip
		}
		author, ok := m.AuthorID()
		fb, okF := m.FeedbackID()
		if !ok || !okF || author != t.Participant {
			return privacy.Skip
		}
		owner, err := m.Client().Feedback.Query().
			Where(feedback.ID(fb), feedback.PrototypeID(t.Prototype)).
			Select(feedback.FieldAuthorID).
			Only(privacy.DecisionContext(ctx, privacy.Allow))
		switch {
		case ent.IsNotFound(err):
			return privacy.Skip // not feedback of this prototype: the members' rules refuse it
		case err != nil:
			return fmt.Errorf("rule: read author of feedback %s: %w", fb, err)
		case owner.AuthorID != t.Participant:
			return Deny(ErrForbidden)
		}
		return privacy.Allow
	})
}

// AllowTesterUpdate lets a tester change a single row of the prototype it
// tests whose participant column is its own participant: ending its own
// trial. The row is read as the caller, so it must be visible too.
func AllowTesterUpdate(participantField string) privacy.MutationRule {
	return privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		id := viewer.FromContext(ctx)
		if len(id.Testing()) == 0 {
			return privacy.Skip
		}
		v, err := m.OldField(ctx, participantField)
		if err != nil {
			return privacy.Skip // not there, or not visible: the filter decides
		}
		if p, ok := v.(gid.ID); ok {
			if _, own := id.TesterAs(p); own {
				return privacy.Allow
			}
		}
		return privacy.Skip
	}), ent.OpUpdateOne)
}

// authorEdits are the changes only the author of feedback may make to it,
// member or tester: its content, and taking it back. Triage (status,
// addressed_in) is the team's.
var authorEdits = struct {
	content []string // fields that are what the author said
	status  feedback.Status
	also    []string // what the server sets with any change
}{
	content: []string{feedback.FieldKind, feedback.FieldBody, feedback.FieldRating, feedback.FieldMinutesSavedPerDay},
	status:  feedback.StatusRETRACTED,
	also:    []string{feedback.FieldUpdatedAt},
}

// AuthorEdits keeps what someone said theirs: only the author of feedback
// changes its kind, body, rating or minutes saved, or retracts it, and a
// change that does so may do nothing else. Anyone else is refused with
// FORBIDDEN (they can see it), owners and makers included, whose rules
// come after this one and cover triage. A change of nothing at all counts
// as an edit: it can only be one that repeats what is there, and it gets
// the same answer as one that does not.
//
// A tester's participant is in its identity; a member's is the one of
// their user, which costs one indexed lookup.
func AuthorEdits() privacy.MutationRule {
	return privacy.FeedbackMutationRuleFunc(func(ctx context.Context, m *ent.FeedbackMutation) error {
		if !m.Op().Is(ent.OpUpdate|ent.OpUpdateOne) || !isAuthorEdit(m) {
			return privacy.Skip
		}
		return authorChanges(ctx, m, authorEditOnly)
	})
}

// authorChanges allows m, an update of one piece of feedback, when the
// caller wrote it and m changes nothing but what only accepts; anyone
// else, and any update of several rows at once (nobody changes what
// others said in bulk), is refused with FORBIDDEN.
func authorChanges(ctx context.Context, m *ent.FeedbackMutation, only func(*ent.FeedbackMutation) bool) error {
	if !m.Op().Is(ent.OpUpdateOne) {
		return Deny(ErrForbidden)
	}
	author, err := m.OldAuthorID(ctx)
	if err != nil {
		return privacy.Skip // not there, or not visible: the filter decides
	}
	own, err := ownParticipant(ctx, m.Client(), author)
	switch {
	case err != nil:
		return err
	case !own || !only(m):
		return Deny(ErrForbidden)
	}
	return privacy.Allow
}

// isAuthorEdit reports whether a feedback mutation changes what only its
// author may change, or nothing at all.
func isAuthorEdit(m *ent.FeedbackMutation) bool {
	if s, ok := m.Status(); ok && s == authorEdits.status {
		return true
	}
	touched := append(m.Fields(), m.ClearedFields()...)
	touched = append(touched, m.AddedFields()...)
	nothing := len(m.AddedEdges()) == 0 && len(m.RemovedEdges()) == 0 && len(m.ClearedEdges()) == 0
	for _, f := range touched {
		if slices.Contains(authorEdits.content, f) {
			return true
		}
		nothing = nothing && slices.Contains(authorEdits.also, f)
	}
	return nothing
}

// authorEditOnly reports whether a feedback mutation changes nothing but
// what its author may change.
func authorEditOnly(m *ent.FeedbackMutation) bool {
	if len(m.AddedFields()) > 0 || len(m.AddedEdges()) > 0 || len(m.RemovedEdges()) > 0 || len(m.ClearedEdges()) > 0 {
		return false
	}
	for _, f := range m.Fields() {
		if f != feedback.FieldStatus && !slices.Contains(authorEdits.content, f) && !slices.Contains(authorEdits.also, f) {
			return false
		}
	}
	for _, f := range m.ClearedFields() {
		if f != feedback.FieldRating && f != feedback.FieldMinutesSavedPerDay {
			return false
		}
	}
	if s, ok := m.Status(); ok && s != authorEdits.status {
		return false
	}
	return true
}

// ownParticipant reports whether the caller acts as participant p: as a
// tester, or as the member whose user p is.
func ownParticipant(ctx context.Context, client *ent.Client, p gid.ID) (bool, error) {
	id := viewer.FromContext(ctx)
	if _, ok := id.TesterAs(p); ok {
		return true, nil
	}
	if id == nil || id.UserID == 0 {
		return false, nil
	}
	own, err := client.Participant.Query().
		Where(participant.ID(p), participant.UserID(id.UserID)).
		Exist(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		return false, fmt.Errorf("rule: is participant %s the caller's: %w", p, err)
	}
	return own, nil
}

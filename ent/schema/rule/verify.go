package rule

import (
	"context"
	"slices"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/feedback"
	"github.com/protoloop/protoloop/ent/privacy"
)

// verifyFields are what a verdict on a fix changes: the verdict, when it
// was given, and the status it leads to (VERIFIED, or OPEN again), which
// unlinks the addressing iteration when it reopens.
var verifyFields = []string{feedback.FieldVerdict, feedback.FieldVerifiedAt, feedback.FieldStatus, feedback.FieldUpdatedAt}

// AuthorVerifies keeps the verdict on a fix the author's: a change that
// sets a verdict is made by the author of the feedback, to one piece of
// feedback, and changes nothing else than verifyFields (and the link to
// the iteration, cleared on reopening), for members and testers alike;
// anyone else is refused with FORBIDDEN. Team members' other rules come
// after it, so this is what lets a viewer or a tester, who cannot
// triage, move their own feedback to VERIFIED or back to OPEN.
func AuthorVerifies() privacy.MutationRule {
	return privacy.FeedbackMutationRuleFunc(func(ctx context.Context, m *ent.FeedbackMutation) error {
		if _, ok := m.Verdict(); !ok {
			return privacy.Skip
		}
		return authorChanges(ctx, m, verifyOnly)
	})
}

// verifyOnly reports whether a feedback mutation changes nothing but what
// a verdict changes.
func verifyOnly(m *ent.FeedbackMutation) bool {
	if len(m.AddedFields()) > 0 || len(m.AddedEdges()) > 0 || len(m.RemovedEdges()) > 0 {
		return false
	}
	for _, f := range m.ClearedFields() {
		if f != feedback.FieldAddressedInID {
			return false
		}
	}
	for _, f := range m.Fields() {
		if !slices.Contains(verifyFields, f) {
			return false
		}
	}
	for _, e := range m.ClearedEdges() {
		if e != feedback.EdgeAddressedIn {
			return false
		}
	}
	s, ok := m.Status()
	return !ok || s == feedback.StatusVERIFIED || s == feedback.StatusOPEN
}

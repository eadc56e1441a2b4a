package rule

import (
	"context"
	"slices"

	"entgo.io/ent/entql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// testerHiddenEvents are the event kinds a tester does not see on the
// timeline of the prototype they test: drafts (an iteration is created as
// a draft; ITERATION_PUBLISHED announces it), invites and alerts (the
// team's alert rules firing), the team's business. ITERATION_UPDATED is
// hidden whatever the iteration's status: the event row does not say, and both the query rule (TesterTimeline)
// and EventVisible look at the row's own columns only.
var testerHiddenEvents = []string{"ITERATION_CREATED", "ITERATION_UPDATED", "INVITE_CREATED", "INVITE_REVOKED", "ALERT"}

// ownerEvents are the event kinds only the owners of the event's
// workspace see: the changes to its webhooks, which only owners manage
// (the Webhook policy). They are workspace-level, so no tester sees them.
var ownerEvents = []string{"WEBHOOK_CREATED", "WEBHOOK_UPDATED", "WEBHOOK_DELETED"}

// OwnerEvents limits event queries to the events of kinds any member
// sees, and of owner-only kinds (ownerEvents) in the workspaces the
// viewer owns. The Event policy adds it to the filter that admits members
// and testers; EventVisible applies the same in Go.
func OwnerEvents() privacy.QueryRule {
	kinds := make([]any, len(ownerEvents))
	for i, k := range ownerEvents {
		kinds[i] = k
	}
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		f.Where(entql.Or(entql.FieldNotIn("kind", kinds...), inIDs("workspace_id", workspaceIDs(ctx, Owner))))
		return privacy.Skip
	})
}

// EventVisible reports whether the caller id may see e. It is the Event
// query policy (ent/schema/policy.go) in Go, for the one reader that does
// not go through a query per caller: the broker, which reads each new
// event once, as the server, and hands it to every subscriber allowed to
// see it. An event of an owner-only kind is seen by the owners of its
// workspace only. Any other is seen by a member of its workspace,
// whatever their role, and by a tester of its prototype unless its kind
// is hidden from testers; anybody else, anonymous callers included, sees
// nothing.
//
// The two must agree; a test in server/broker checks them against each
// other on every kind of event, for every kind of caller.
func EventVisible(id *viewer.Identity, e *ent.Event) bool {
	if id == nil {
		return false
	}
	role, member := id.RoleIn(e.WorkspaceID)
	tester := false
	if !member && e.PrototypeID != nil {
		_, tester = id.TesterOf(*e.PrototypeID)
	}
	return AudienceOf(e.Kind).Sees(member, role, tester)
}

// EventAudience is who may see events of one kind, as EventVisible
// decides it: a subscriber whose rights in the event's workspace and
// prototype are known asks it without its identity, and the kind is
// looked up once per event, not once per subscriber.
type EventAudience struct {
	ownersOnly, hiddenFromTesters bool
}

// AudienceOf returns who may see events of kind.
func AudienceOf(kind event.Kind) EventAudience {
	return EventAudience{
		ownersOnly:        slices.Contains(ownerEvents, string(kind)),
		hiddenFromTesters: slices.Contains(testerHiddenEvents, string(kind)),
	}
}

// Sees reports whether a caller sees an event of the audience's kind: a
// member (with role) of the event's workspace, or else a tester of its
// prototype (false for an event of no prototype).
func (a EventAudience) Sees(member bool, role viewer.Role, tester bool) bool {
	switch {
	case a.ownersOnly:
		return member && role == viewer.Owner
	case member:
		return true
	case tester:
		return !a.hiddenFromTesters
	}
	return false
}

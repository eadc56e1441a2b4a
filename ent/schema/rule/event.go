package rule

import (
	"context"
	"slices"

	"entgo.io/ent/dialect/sql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// testerHiddenEvents are the event kinds a tester does not see on the
// timeline of the prototype they test: drafts (an iteration is created as
// a draft; ITERATION_PUBLISHED announces it), invites and alerts (the
// team's alert rules firing), the team's business. ITERATION_UPDATED is
// hidden whatever the iteration's status: the event row does not say, and both the query rule (FilterEvents)
// and EventVisible look at the row's own columns only.
var testerHiddenEvents = []string{"ITERATION_CREATED", "ITERATION_UPDATED", "INVITE_CREATED", "INVITE_REVOKED", "ALERT"}

// ownerEvents are the event kinds only the owners of the event's
// workspace see: the changes to its webhooks, which only owners manage
// (the Webhook policy). They are workspace-level, so no tester sees them.
var ownerEvents = []string{"WEBHOOK_CREATED", "WEBHOOK_UPDATED", "WEBHOOK_DELETED"}

// FilterEvents limits event queries to the events the caller may see, as
// EventVisible decides for one event (the two must agree), in one
// predicate on the event's own columns:
//
//	workspace_id IN (owned)
//	OR (workspace_id IN (member, not owner) AND kind NOT IN (ownerEvents))
//	OR (prototype_id IN (tested) AND kind NOT IN (testerHiddenEvents, ownerEvents))
//
// with a term left out when its list of IDs is empty, and "workspace_id
// = 0" (no row: gid issues no 0) when all are. It is the former pair
// "(workspace_id IN (member) OR <tester reach>) AND (kind NOT IN
// (ownerEvents) OR workspace_id IN (owned))" multiplied out, not a
// change of who sees what: the owned workspaces being among the member
// ones, the first factor's member term gives the first two terms; its
// tester term gives the third, the events of owner-only kinds the
// second factor admitted there being those of owned workspaces, which
// the first term has already. It needs no fact about the rows (that
// webhook events carry no prototype, say).
//
// Written so, an owner of every workspace they are in (the usual
// account) is filtered on one list of workspaces instead of three
// copies of it and the owner-only kinds (the timeline's statement had
// 34 parameters for an owner of 10 workspaces, 21 now with the
// prototype's own filter). It is built as ent predicates, not entql,
// which ent evaluates per query through its schema graph.
func FilterEvents() privacy.QueryRule {
	return privacy.EventQueryRuleFunc(func(ctx context.Context, q *ent.EventQuery) error {
		id := viewer.FromContext(ctx)
		owned := workspaceIDs(ctx, Owner)
		others := workspaceIDs(ctx, notOwner)
		tested := testedPrototypes(id)
		q.Where(func(s *sql.Selector) {
			terms := make([]*sql.Predicate, 0, 3)
			if len(owned) > 0 {
				terms = append(terms, sql.In(s.C(event.FieldWorkspaceID), owned...))
			}
			if len(others) > 0 {
				terms = append(terms, sql.And(sql.In(s.C(event.FieldWorkspaceID), others...), sql.NotIn(s.C(event.FieldKind), ownerKinds...)))
			}
			if len(tested) > 0 {
				terms = append(terms, sql.And(sql.In(s.C(event.FieldPrototypeID), tested...), sql.NotIn(s.C(event.FieldKind), testerKindsHidden...)))
			}
			switch len(terms) {
			case 0:
				s.Where(sql.EQ(s.C(event.FieldWorkspaceID), int64(0)))
			case 1:
				s.Where(terms[0])
			default:
				s.Where(sql.Or(terms...))
			}
		})
		return privacy.Skip
	})
}

// notOwner accepts the roles of members who are not owners.
func notOwner(r viewer.Role) bool { return r != viewer.Owner }

// ownerKinds and testerKindsHidden are FilterEvents' lists of kinds as
// the query's arguments: the owner-only kinds, and those a tester does
// not see (testerHiddenEvents and the owner-only ones).
var ownerKinds, testerKindsHidden = kindArgs(ownerEvents), kindArgs(append(slices.Clone(testerHiddenEvents), ownerEvents...))

func kindArgs(kinds []string) []any {
	args := make([]any, len(kinds))
	for i, k := range kinds {
		args[i] = k
	}
	return args
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

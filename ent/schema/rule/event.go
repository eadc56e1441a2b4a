package rule

import (
	"slices"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// testerHiddenEvents are the event kinds a tester does not see on the
// timeline of the prototype they test: drafts (an iteration is created as
// a draft; ITERATION_PUBLISHED announces it), invites and alerts (the
// team's alert rules firing), the team's business. ITERATION_UPDATED is
// hidden whatever the iteration's status: the event row does not say, and both the query rule (TesterTimeline)
// and EventVisible look at the row's own columns only.
var testerHiddenEvents = []string{"ITERATION_CREATED", "ITERATION_UPDATED", "INVITE_CREATED", "INVITE_REVOKED", "ALERT"}

// EventVisible reports whether the caller id may see e. It is the Event
// query policy (ent/schema/policy.go) in Go, for the one reader that does
// not go through a query per caller: the broker, which reads each new
// event once, as the server, and hands it to every subscriber allowed to
// see it. A member of the event's workspace sees it, whatever their role;
// a tester sees the events of the prototype they test but for the hidden
// kinds; anybody else, anonymous callers included, sees nothing.
//
// The two must agree; a test in server/broker checks them against each
// other on every kind of event, for every kind of caller.
func EventVisible(id *viewer.Identity, e *ent.Event) bool {
	if id == nil {
		return false
	}
	if _, member := id.RoleIn(e.WorkspaceID); member {
		return true
	}
	if e.PrototypeID == nil {
		return false
	}
	if _, tests := id.TesterOf(*e.PrototypeID); !tests {
		return false
	}
	return !slices.Contains(testerHiddenEvents, string(e.Kind))
}

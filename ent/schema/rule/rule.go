// Package rule holds the privacy rules the ent schemas compose into their
// policies. Every read and write of the data model passes through them, so
// a field, a connection, node(id:) and a mutation are all filtered the
// same way; resolvers never check membership themselves.
//
// Scoped rows carry their workspace_id, and prototype-level rows their
// prototype_id, so a rule is a single indexed "workspace_id IN (…)"
// predicate added to the query, or'ed with one on the row's own columns
// for the prototypes a tester may see; never a join.
package rule

import (
	"context"
	"errors"

	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/entql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/membership"
	"github.com/protoloop/protoloop/ent/predicate"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/prototype"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/ent/user"
	"github.com/protoloop/protoloop/ent/workspace"
)

// ErrUnauthenticated is returned to a caller without a valid token for any
// data but its own sign-up or log-in.
var ErrUnauthenticated = errors.New("authentication required")

// ErrForbidden is returned when a member may see an object but not do
// what they asked with it.
var ErrForbidden = errors.New("your role does not allow this")

// denied wraps a reason so that errors.Is finds both it and privacy.Deny.
type denied struct{ reason error }

func (d denied) Error() string { return d.reason.Error() }

func (d denied) Is(target error) bool { return target == privacy.Deny }

func (d denied) Unwrap() error { return d.reason }

// Deny returns a privacy decision that denies for reason.
func Deny(reason error) error { return denied{reason} }

// RoleCheck says whether a role is enough for an operation.
type RoleCheck func(viewer.Role) bool

// AnyMember accepts every role: reading, trying, giving feedback.
func AnyMember(viewer.Role) bool { return true }

// Editor accepts owners and makers: shaping prototypes, triaging feedback.
func Editor(r viewer.Role) bool { return r.CanEdit() }

// Owner accepts only owners: the workspace itself and its members.
func Owner(r viewer.Role) bool { return r == viewer.Owner }

// DenyAnonymous denies any query or mutation by a caller who is not
// signed in. Work the server does on its own behalf (resolving a token,
// signing a user up) runs under privacy.DecisionContext and never gets here.
func DenyAnonymous() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if viewer.FromContext(ctx) == nil {
			return Deny(ErrUnauthenticated)
		}
		return privacy.Skip
	})
}

// workspaceIDs lists the workspaces where the viewer's role passes check.
func workspaceIDs(ctx context.Context, check RoleCheck) []any {
	ws := viewer.FromContext(ctx).Workspaces(check)
	ids := make([]any, len(ws))
	for i, w := range ws {
		ids[i] = int64(w)
	}
	return ids
}

// inIDs is "field IN ids". entql renders an empty list as "IN ()", which
// PostgreSQL rejects, so no ids becomes "field = 0": gid never issues 0
// (type tags start at 1), and the index answers it at once.
func inIDs(field string, ids []any) entql.P {
	if len(ids) == 0 {
		return entql.FieldEQ(field, int64(0))
	}
	return entql.FieldIn(field, ids...)
}

// FilterWorkspace limits queries, updates and deletes to rows of
// workspaces where the viewer's role passes check. Rows elsewhere are not
// forbidden but invisible: callers cannot tell them from rows that do not
// exist.
func FilterWorkspace(check RoleCheck) privacy.QueryMutationRule { return Filter(check, nil) }

// Filter is FilterWorkspace that also lets through the rows the viewer's
// tester participations reach (nil: none), so that a row is visible when
// either the viewer's role in its workspace or a prototype they test
// admits it. A member who also tests gets both, which is the member's.
func Filter(check RoleCheck, reach Reach) privacy.QueryMutationRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		id := viewer.FromContext(ctx)
		var member entql.P
		switch f.(type) {
		case *ent.WorkspaceFilter:
			member = inIDs(workspace.FieldID, workspaceIDs(ctx, check))
		case interface{ WhereWorkspaceID(entql.Int64P) }:
			member = inIDs("workspace_id", workspaceIDs(ctx, check))
		default:
			return privacy.Denyf("rule: %T has no workspace to filter on", f)
		}
		if reach != nil && len(id.Testing()) > 0 {
			member = entql.Or(member, reach(id))
		}
		f.Where(member)
		return privacy.Skip
	})
}

// AllowCreateInWorkspace allows creating a row in a workspace where the
// viewer's role passes check, and denies creating it anywhere else.
func AllowCreateInWorkspace(check RoleCheck) privacy.MutationRule {
	return privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		v, ok := m.Field("workspace_id")
		if !ok {
			return privacy.Denyf("rule: %s created without a workspace", m.Type())
		}
		w, _ := v.(gid.ID)
		id := viewer.FromContext(ctx)
		role, member := id.RoleIn(w)
		switch {
		case !member && testerSees(id, m, w):
			return Deny(ErrForbidden)
		case !member:
			return privacy.Denyf("rule: not a member of the workspace")
		case !check(role):
			return Deny(ErrForbidden)
		}
		return privacy.Allow
	}), ent.OpCreate)
}

// testerSees reports whether a tester who is not a member of workspace w
// can see where m would put its row: the prototype it names, or, for a
// row without one (a prototype, say), the workspace. Resolvers load what a
// new row hangs off before they create it, so a caller who gets this far
// has seen it; refusing with FORBIDDEN tells them it is their role, not a
// typo in an ID.
func testerSees(id *viewer.Identity, m ent.Mutation, w gid.ID) bool {
	if p, ok := idField(m, "prototype_id"); ok {
		t, tests := id.TesterOf(p)
		return tests && t.Workspace == w
	}
	for _, t := range id.Testing() {
		if t.Workspace == w {
			return true
		}
	}
	return false
}

// AllowCreateWorkspace lets any signed-in user start a workspace. A
// guest has no account to own one: it is told to sign in.
func AllowCreateWorkspace() privacy.MutationRule {
	return privacy.OnMutationOperation(privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		switch id := viewer.FromContext(ctx); {
		case id.IsGuest():
			return Deny(ErrUnauthenticated)
		case id != nil:
			return privacy.Allow
		}
		return privacy.Skip
	}), ent.OpCreate)
}

// FilterUsers lets a user see themselves and the people they share a
// workspace with; a tester also sees the owners of the prototypes it
// tests (a prototype shows its owner's name), and nobody else of the
// team. The owners are a subquery on the prototypes' primary key, as the
// people sharing a workspace are one on memberships' workspace index.
func FilterUsers() privacy.QueryRule {
	return privacy.UserQueryRuleFunc(func(ctx context.Context, q *ent.UserQuery) error {
		id := viewer.FromContext(ctx)
		if id == nil {
			return Deny(ErrUnauthenticated)
		}
		visible := []predicate.User{user.ID(id.UserID)}
		if shared := id.Workspaces(AnyMember); len(shared) > 0 {
			visible = append(visible, user.HasMembershipsWith(membership.WorkspaceIDIn(shared...)))
		}
		if tested := testedPrototypes(id); len(tested) > 0 {
			visible = append(visible, func(s *sql.Selector) {
				p := sql.Table(prototype.Table)
				s.Where(sql.In(s.C(user.FieldID),
					sql.Select(p.C(prototype.FieldOwnerID)).From(p).Where(sql.In(p.C(prototype.FieldID), tested...))))
			})
		}
		q.Where(user.Or(visible...))
		return privacy.Skip
	})
}

// AllowSelf lets users change their own account and nobody else's.
func AllowSelf() privacy.MutationRule {
	return privacy.UserMutationRuleFunc(func(ctx context.Context, m *ent.UserMutation) error {
		id := viewer.FromContext(ctx)
		if target, ok := m.ID(); ok && id != nil && target == id.UserID && m.Op().Is(ent.OpUpdateOne) {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// CheckRole tells a caller who may see a row but not change it that
// their role is the reason (FORBIDDEN), rather than letting the filter
// hide the row (NOT_FOUND): a member whose role fails check, or a tester
// who reaches the row through a prototype they test (whatever a tester
// may change was allowed by an earlier rule). It applies to single-row
// updates and deletes, whose row it reads as the caller, so a row the
// caller cannot see stays NOT_FOUND; bulk changes are left to the filter.
func CheckRole(check RoleCheck) privacy.MutationRule {
	return privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		id := viewer.FromContext(ctx)
		var (
			w       gid.ID
			visible bool // read as the caller, so the caller can see it
		)
		if m.Type() == ent.TypeWorkspace {
			wid, ok := m.(interface{ ID() (gid.ID, bool) }).ID()
			if !ok {
				return privacy.Skip
			}
			w = wid
			for _, t := range id.Testing() {
				visible = visible || t.Workspace == w
			}
		} else {
			v, err := m.OldField(ctx, "workspace_id")
			if err != nil {
				return privacy.Skip // the row is not there (or not visible): the filter decides
			}
			w, _ = v.(gid.ID)
			visible = true
		}
		role, member := id.RoleIn(w)
		if (member && !check(role)) || (!member && visible) {
			return Deny(ErrForbidden)
		}
		return privacy.Skip
	}), ent.OpUpdateOne|ent.OpDeleteOne)
}

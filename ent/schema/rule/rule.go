// Package rule holds the privacy rules the ent schemas compose into their
// policies. Every read and write of the data model passes through them, so
// a field, a connection, node(id:) and a mutation are all filtered the
// same way; resolvers never check membership themselves.
//
// Scoped rows carry their workspace_id, so a rule is a single indexed
// "workspace_id IN (…)" predicate added to the query, never a join.
package rule

import (
	"context"
	"errors"

	"entgo.io/ent/entql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/membership"
	"github.com/protoloop/protoloop/ent/privacy"
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
func FilterWorkspace(check RoleCheck) privacy.QueryMutationRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		ids := workspaceIDs(ctx, check)
		switch f.(type) {
		case *ent.WorkspaceFilter:
			f.Where(inIDs(workspace.FieldID, ids))
		case interface{ WhereWorkspaceID(entql.Int64P) }:
			f.Where(inIDs("workspace_id", ids))
		default:
			return privacy.Denyf("rule: %T has no workspace to filter on", f)
		}
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
		role, member := viewer.FromContext(ctx).RoleIn(w)
		switch {
		case !member:
			return privacy.Denyf("rule: not a member of the workspace")
		case !check(role):
			return Deny(ErrForbidden)
		}
		return privacy.Allow
	}), ent.OpCreate)
}

// AllowCreateWorkspace lets any signed-in user start a workspace.
func AllowCreateWorkspace() privacy.MutationRule {
	return privacy.OnMutationOperation(privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if viewer.FromContext(ctx) != nil {
			return privacy.Allow
		}
		return privacy.Skip
	}), ent.OpCreate)
}

// FilterUsers lets a user see themselves and the people they share a
// workspace with, and nobody else.
func FilterUsers() privacy.QueryMutationRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		uf, ok := f.(*ent.UserFilter)
		if !ok {
			return privacy.Denyf("rule: %T is not a user filter", f)
		}
		id := viewer.FromContext(ctx)
		if id == nil {
			return Deny(ErrUnauthenticated)
		}
		shared := workspaceIDs(ctx, AnyMember)
		if len(shared) == 0 {
			uf.Where(entql.FieldEQ(user.FieldID, int64(id.UserID)))
			return privacy.Skip
		}
		uf.Where(entql.Or(
			entql.FieldEQ(user.FieldID, int64(id.UserID)),
			entql.HasEdgeWith(user.EdgeMemberships, inIDs(membership.FieldWorkspaceID, shared)),
		))
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

// CheckRole tells a member who may see a row but not change it that their
// role is the reason (FORBIDDEN), rather than letting FilterWorkspace hide
// the row (NOT_FOUND). It applies to single-row updates and deletes, whose
// row's workspace it reads; bulk changes are left to FilterWorkspace.
func CheckRole(check RoleCheck) privacy.MutationRule {
	return privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		var w gid.ID
		if m.Type() == ent.TypeWorkspace {
			id, ok := m.(interface{ ID() (gid.ID, bool) }).ID()
			if !ok {
				return privacy.Skip
			}
			w = id
		} else {
			v, err := m.OldField(ctx, "workspace_id")
			if err != nil {
				return privacy.Skip // the row is not there (or not visible): FilterWorkspace decides
			}
			w, _ = v.(gid.ID)
		}
		role, member := viewer.FromContext(ctx).RoleIn(w)
		if member && !check(role) {
			return Deny(ErrForbidden)
		}
		return privacy.Skip
	}), ent.OpUpdateOne|ent.OpDeleteOne)
}

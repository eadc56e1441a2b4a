// Package viewer carries who is making a request through its context.
//
// The server resolves a bearer token into a Viewer once per request; the
// privacy rules in ent/schema and the resolvers in graph read it from there.
package viewer

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

// Role is what a member may do in a workspace.
type Role string

// The workspace roles, from most to least powerful.
const (
	Owner  Role = "OWNER"
	Maker  Role = "MAKER"
	Viewer Role = "VIEWER"
)

// Values lists the roles, for ent's enum column.
func (Role) Values() []string { return []string{string(Owner), string(Maker), string(Viewer)} }

// MarshalGQL writes the role as a GraphQL enum value.
func (r Role) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(r))) }

// UnmarshalGQL reads a role from a GraphQL enum value.
func (r *Role) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok || !slices.Contains(r.Values(), s) {
		return fmt.Errorf("%v is not a role", v)
	}
	*r = Role(s)
	return nil
}

// CanEdit reports whether the role may create and change prototypes and
// iterations and triage feedback.
func (r Role) CanEdit() bool { return r == Owner || r == Maker }

// Identity is an authenticated caller.
type Identity struct {
	UserID  gid.ID // the signed-in user
	TokenID gid.ID // the bearer token used, if any
	// Roles maps each workspace the user belongs to onto their role there.
	Roles map[gid.ID]Role
}

// RoleIn returns the identity's role in a workspace, if it is a member.
func (id *Identity) RoleIn(workspace gid.ID) (Role, bool) {
	if id == nil {
		return "", false
	}
	r, ok := id.Roles[workspace]
	return r, ok
}

// WorkspaceIDs lists the workspaces the identity belongs to.
func (id *Identity) WorkspaceIDs() []gid.ID {
	if id == nil {
		return nil
	}
	ids := make([]gid.ID, 0, len(id.Roles))
	for w := range id.Roles {
		ids = append(ids, w)
	}
	return ids
}

type ctxKey struct{}

// NewContext returns a context carrying an identity.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity in ctx, or nil for an anonymous caller.
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(ctxKey{}).(*Identity)
	return id
}

// Join records in ctx's identity that its user has just become a member of
// a workspace, so that the rest of the request (the same transaction, say)
// can read what it created.
func Join(ctx context.Context, workspace gid.ID, role Role) {
	if id := FromContext(ctx); id != nil {
		if id.Roles == nil {
			id.Roles = map[gid.ID]Role{}
		}
		id.Roles[workspace] = role
	}
}

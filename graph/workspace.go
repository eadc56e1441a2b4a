package graph

import (
	"context"
	"fmt"
	"slices"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/membership"
	"github.com/protoloop/protoloop/ent/schema"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/rule"
	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/ent/user"
	"github.com/protoloop/protoloop/ent/workspace"
)

// createWorkspace starts a workspace with the caller as its owner.
func createWorkspace(ctx context.Context, client *ent.Client, input ent.CreateWorkspaceInput) (*ent.Workspace, error) {
	id, err := withAccount(ctx)
	if err != nil {
		return nil, err
	}
	ws, err := client.Workspace.Create().SetInput(input).Save(ctx)
	switch {
	case ent.IsConstraintError(err):
		return nil, conflict("slug %q is taken", input.Slug)
	case err != nil:
		return nil, fmt.Errorf("create workspace: %w", err)
	}
	// The membership policy admits only owners of the workspace, and the
	// rest of the operation reads the workspace as its owner too.
	viewer.Join(ctx, ws.ID, viewer.Owner)
	err = client.Membership.Create().
		SetWorkspaceID(ws.ID).
		SetUserID(id.UserID).
		SetRole(viewer.Owner).
		Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("create workspace: add owner: %w", err)
	}
	record(ctx, change{kind: event.KindWORKSPACE_CREATED, workspace: ws.ID, subject: ws.ID})
	return reload[*ent.Workspace](ctx, client, ws.ID)
}

// updateWorkspace changes a workspace's details; the policy admits owners.
func updateWorkspace(ctx context.Context, client *ent.Client, id gid.ID, input ent.UpdateWorkspaceInput) (*ent.Workspace, error) {
	upd := client.Workspace.UpdateOneID(id).SetInput(input)
	fields := changedFields(upd.Mutation())
	ws, err := upd.Save(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("workspace")
	case ent.IsConstraintError(err) && input.Slug != nil:
		return nil, conflict("slug %q is taken", *input.Slug)
	case err != nil:
		return nil, fmt.Errorf("update workspace: %w", err)
	}
	if len(fields) > 0 {
		record(ctx, change{kind: event.KindWORKSPACE_UPDATED, workspace: ws.ID, subject: ws.ID,
			payload: map[string]any{"fields": fields}})
	}
	return reload[*ent.Workspace](ctx, client, ws.ID)
}

// addMember puts an existing user into a workspace.
func addMember(ctx context.Context, client *ent.Client, input AddMemberInput) (*ent.Membership, error) {
	// Check the caller's standing before looking the email up, or anyone
	// could use addMember to learn which emails have accounts. The
	// membership policy checks the same again when the row is created.
	id, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	ws, err := client.Workspace.Get(ctx, input.WorkspaceID) // NOT_FOUND for whoever may not see it
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("workspace")
	case err != nil:
		return nil, fmt.Errorf("add member: %w", err)
	}
	if role, member := id.RoleIn(ws.ID); !member || !rule.Owner(role) {
		return nil, rule.ErrForbidden // a member of another role, or a tester there
	}
	email := schema.NormalizeEmail(input.Email)
	u, err := client.User.Query().
		Where(user.Email(email)).
		Only(system(ctx)) // users outside the workspace are invisible to its owner
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("user")
	case err != nil:
		return nil, fmt.Errorf("add member: %w", err)
	}
	m, err := client.Membership.Create().
		SetWorkspaceID(input.WorkspaceID).
		SetUserID(u.ID).
		SetRole(input.Role).
		Save(ctx)
	switch {
	case ent.IsConstraintError(err):
		return nil, conflict("%s is already a member of this workspace", email)
	case err != nil:
		return nil, fmt.Errorf("add member: %w", err)
	}
	record(ctx, change{kind: event.KindMEMBER_ADDED, workspace: m.WorkspaceID, subject: m.ID,
		payload: map[string]any{"user": u.ID.String(), "role": string(m.Role)}})
	return reload[*ent.Membership](ctx, client, m.ID)
}

// errNeedsOwner refuses a change that would leave a workspace without an
// owner, and so with nobody who could manage its members.
func errNeedsOwner(field string) error { return badInput(field, "a workspace needs an owner") }

// setMemberRole changes a member's role; the membership policy admits
// owners. Demoting the last owner is refused.
func setMemberRole(ctx context.Context, client *ent.Client, dialectName string, id gid.ID, to viewer.Role) (*ent.Membership, error) {
	m, owners, err := lockMember(ctx, client, dialectName, id)
	if err != nil {
		return nil, err
	}
	from := m.Role
	// Saved even when the role stays the same: a caller who may not change
	// roles hears so from the policy, whatever role they asked for.
	if err := client.Membership.UpdateOne(m).SetRole(to).Exec(ctx); err != nil {
		if ent.IsNotFound(err) {
			return nil, notFound("member")
		}
		return nil, fmt.Errorf("set role of member %s: %w", id, err)
	}
	if from == viewer.Owner && to != viewer.Owner && owners == 1 {
		return nil, errNeedsOwner("role")
	}
	if from != to {
		record(ctx, change{kind: event.KindMEMBER_ROLE_CHANGED, workspace: m.WorkspaceID, subject: m.ID,
			payload: map[string]any{"user": m.UserID.String(), "from": string(from), "to": string(to)}})
	}
	if me := viewer.FromContext(ctx); me != nil && me.UserID == m.UserID {
		// The rest of the request reads with the role the caller now has.
		viewer.Join(ctx, m.WorkspaceID, to)
	}
	return reload[*ent.Membership](ctx, client, m.ID)
}

// removeMember takes a member out of a workspace and returns the
// workspace; the membership policy admits owners. Removing the last owner
// is refused. What the member did there (their feedback, say) stays.
func removeMember(ctx context.Context, client *ent.Client, dialectName string, id gid.ID) (*ent.Workspace, error) {
	m, owners, err := lockMember(ctx, client, dialectName, id)
	if err != nil {
		return nil, err
	}
	err = client.Membership.DeleteOne(m).Exec(ctx)
	switch {
	case ent.IsNotFound(err):
		// The row is visible and locked, so only the policy's filter on
		// deletes, which keeps to owners' workspaces, can have left it out.
		return nil, fmt.Errorf("remove member %s: %w", id, rule.ErrForbidden)
	case err != nil:
		return nil, fmt.Errorf("remove member %s: %w", id, err)
	}
	if m.Role == viewer.Owner && owners == 1 {
		return nil, errNeedsOwner("id")
	}
	record(ctx, change{kind: event.KindMEMBER_REMOVED, workspace: m.WorkspaceID, subject: m.ID,
		payload: map[string]any{"user": m.UserID.String(), "role": string(m.Role)}})
	return reload[*ent.Workspace](ctx, client, m.WorkspaceID)
}

// lockMember loads a membership for a change of role or removal, and
// counts its workspace's owners. It locks the membership and the owners'
// memberships together, in ID order, so that two owners demoting or
// removing each other at once are serialized: the second sees that the
// first is no longer an owner, and the workspace keeps one.
func lockMember(ctx context.Context, client *ent.Client, dialectName string, id gid.ID) (m *ent.Membership, owners int, err error) {
	found, err := client.Membership.Get(ctx, id)
	switch {
	case ent.IsNotFound(err):
		return nil, 0, notFound("member")
	case err != nil:
		return nil, 0, fmt.Errorf("load member %s: %w", id, err)
	}
	rows, err := locked(client.Membership.Query().
		Where(
			membership.WorkspaceID(found.WorkspaceID),
			membership.Or(membership.ID(id), membership.RoleEQ(viewer.Owner)),
		).
		Order(ent.Asc(membership.FieldID)), dialectName).
		All(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("lock members of workspace %s: %w", found.WorkspaceID, err)
	}
	for _, r := range rows {
		if r.ID == id {
			m = r
		}
		if r.Role == viewer.Owner {
			owners++
		}
	}
	if m == nil {
		return nil, 0, notFound("member") // removed since it was loaded
	}
	return m, owners, nil
}

// workspaceBySlug returns one of the viewer's workspaces, or nil.
func workspaceBySlug(ctx context.Context, client *ent.Client, slug string) (*ent.Workspace, error) {
	q, err := client.Workspace.Query().Where(workspace.Slug(slug)).CollectFields(ctx, workspaceImplementors...)
	if err != nil {
		return nil, fmt.Errorf("workspace %q: %w", slug, err)
	}
	ws, err := q.Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("workspace %q: %w", slug, err)
	}
	return ws, nil
}

// viewerRole is the viewer's role in a workspace they can see.
func viewerRole(ctx context.Context, ws *ent.Workspace) (*viewer.Role, error) {
	id := viewer.FromContext(ctx)
	if id == nil {
		return nil, rule.ErrUnauthenticated
	}
	role, ok := id.RoleIn(ws.ID)
	if !ok {
		return nil, nil // a tester sees its prototype's workspace, without a role in it
	}
	return &role, nil
}

// changedFields names, as the API spells them, the fields an update sets
// or clears: the payload of a *_UPDATED event. The time of the update is
// the event's own.
func changedFields(m ent.Mutation) []string {
	var fields []string
	add := func(name string) {
		if name = lowerCamel(name); name != "updatedAt" && !slices.Contains(fields, name) {
			fields = append(fields, name)
		}
	}
	for _, f := range m.Fields() {
		add(f)
	}
	for _, f := range m.ClearedFields() {
		add(f)
	}
	// Appending to a list is not "setting" it in ent's terms.
	if a, ok := m.(interface{ AppendedTags() ([]string, bool) }); ok {
		if _, appended := a.AppendedTags(); appended {
			add("tags")
		}
	}
	slices.Sort(fields)
	return fields
}

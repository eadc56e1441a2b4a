package graph

import (
	"context"
	"fmt"
	"slices"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/schema"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/rule"
	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/ent/user"
	"github.com/protoloop/protoloop/ent/workspace"
)

// createWorkspace starts a workspace with the caller as its owner.
func createWorkspace(ctx context.Context, client *ent.Client, input ent.CreateWorkspaceInput) (*ent.Workspace, error) {
	id, err := signedIn(ctx)
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
	switch role, member := id.RoleIn(input.WorkspaceID); {
	case !member:
		return nil, notFound("workspace")
	case !rule.Owner(role):
		return nil, rule.ErrForbidden
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
func viewerRole(ctx context.Context, ws *ent.Workspace) (viewer.Role, error) {
	id := viewer.FromContext(ctx)
	if id == nil {
		return "", rule.ErrUnauthenticated
	}
	role, ok := id.RoleIn(ws.ID)
	if !ok {
		return "", notFound("workspace")
	}
	return role, nil
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

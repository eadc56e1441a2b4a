package graph

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/prototype"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/workspace"
)

// prototypeMoves is a prototype's life: each status lists the statuses it
// may move to. A shelved prototype can be tried again; an adopted one is
// done.
var prototypeMoves = map[prototype.Status][]prototype.Status{
	prototype.StatusDRAFT:   {prototype.StatusTESTING},
	prototype.StatusTESTING: {prototype.StatusADOPTED, prototype.StatusSHELVED},
	prototype.StatusSHELVED: {prototype.StatusTESTING},
}

// checkPrototypeMove says whether a prototype may move from one status to
// another, and if not, which moves it has.
func checkPrototypeMove(from, to prototype.Status) error {
	moves := prototypeMoves[from]
	for _, m := range moves {
		if m == to {
			return nil
		}
	}
	if len(moves) == 0 {
		return badInput("status", "a prototype in %s cannot change status", from)
	}
	allowed := make([]string, len(moves))
	for i, m := range moves {
		allowed[i] = string(m)
	}
	return badInput("status", "a prototype in %s can move to %s, not %s", from, strings.Join(allowed, " or "), to)
}

// createPrototype starts a prototype in DRAFT, owned by the caller.
func createPrototype(ctx context.Context, client *ent.Client, input ent.CreatePrototypeInput) (*ent.Prototype, error) {
	id, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	p, err := client.Prototype.Create().SetInput(input).SetOwnerID(id.UserID).Save(ctx)
	switch {
	case ent.IsConstraintError(err):
		return nil, conflict("slug %q is taken in this workspace", input.Slug)
	case err != nil:
		return nil, fmt.Errorf("create prototype: %w", err)
	}
	record(ctx, change{kind: event.KindPROTOTYPE_CREATED, workspace: p.WorkspaceID, prototype: p.ID, subject: p.ID})
	return reload[*ent.Prototype](ctx, client, p.ID)
}

// updatePrototype changes a prototype's details.
func updatePrototype(ctx context.Context, client *ent.Client, dialect string, id gid.ID, input ent.UpdatePrototypeInput) (*ent.Prototype, error) {
	tags, err := prototypeTags(ctx, client, dialect, id, input)
	if err != nil {
		return nil, fmt.Errorf("update prototype: %w", err)
	}
	input.Tags, input.AppendTags = tags, nil
	upd := client.Prototype.UpdateOneID(id).SetInput(input)
	fields := changedFields(upd.Mutation())
	p, err := upd.Save(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("prototype")
	case ent.IsConstraintError(err) && input.Slug != nil:
		return nil, conflict("slug %q is taken in this workspace", *input.Slug)
	case err != nil:
		return nil, fmt.Errorf("update prototype: %w", err)
	}
	if len(fields) > 0 {
		record(ctx, change{kind: event.KindPROTOTYPE_UPDATED, workspace: p.WorkspaceID, prototype: p.ID, subject: p.ID,
			payload: map[string]any{"fields": fields}})
	}
	return reload[*ent.Prototype](ctx, client, p.ID)
}

// prototypeTags is the list of tags an update leaves a prototype with, or
// nil if it does not touch them: tags, if given, then appendTags.
//
// The generated input cannot be trusted with appendTags: its Mutate
// appends input.Tags instead, and ent validates only lists that are set,
// never what is appended to them. So appending sets the whole list, read
// under the prototype's row lock, and the tag rules hold for all of it.
func prototypeTags(ctx context.Context, client *ent.Client, dialect string, id gid.ID, input ent.UpdatePrototypeInput) ([]string, error) {
	if input.AppendTags == nil {
		return input.Tags, nil
	}
	base := input.Tags
	if base == nil {
		p, err := locked(client.Prototype.Query().Where(prototype.ID(id)), dialect).Only(ctx)
		if ent.IsNotFound(err) {
			return nil, notFound("prototype")
		}
		if err != nil {
			return nil, err
		}
		base = p.Tags
	}
	return append(slices.Clip(base), input.AppendTags...), nil
}

// setPrototypeStatus moves a prototype along prototypeMoves.
func setPrototypeStatus(ctx context.Context, client *ent.Client, dialect string, id gid.ID, to prototype.Status) (*ent.Prototype, error) {
	// Two moves racing from the same status would both pass the check and
	// leave a timeline that contradicts itself.
	p, err := locked(client.Prototype.Query().Where(prototype.ID(id)), dialect).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("prototype")
	case err != nil:
		return nil, fmt.Errorf("set prototype status: %w", err)
	}
	from := p.Status
	if err := checkPrototypeMove(from, to); err != nil {
		return nil, err
	}
	if p, err = client.Prototype.UpdateOne(p).SetStatus(to).Save(ctx); err != nil {
		return nil, fmt.Errorf("set prototype status: %w", err)
	}
	record(ctx, change{kind: event.KindPROTOTYPE_STATUS_CHANGED, workspace: p.WorkspaceID, prototype: p.ID, subject: p.ID,
		payload: map[string]any{"from": string(from), "to": string(to)}})
	return reload[*ent.Prototype](ctx, client, p.ID)
}

// prototypeBySlug returns a prototype the viewer can see, or nil.
func prototypeBySlug(ctx context.Context, client *ent.Client, workspaceSlug, slug string) (*ent.Prototype, error) {
	q, err := client.Prototype.Query().
		Where(prototype.Slug(slug), prototype.HasWorkspaceWith(workspace.Slug(workspaceSlug))).
		CollectFields(ctx, prototypeImplementors...)
	if err != nil {
		return nil, fmt.Errorf("prototype %s/%s: %w", workspaceSlug, slug, err)
	}
	p, err := q.Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("prototype %s/%s: %w", workspaceSlug, slug, err)
	}
	return p, nil
}

// deletePrototype deletes a prototype and, through the database's
// cascades, everything that belongs to it, and records that on the
// workspace's timeline.
func deletePrototype(ctx context.Context, client *ent.Client, id gid.ID) (*ent.Workspace, error) {
	p, err := client.Prototype.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("delete prototype: %w", err)
	}
	n, err := client.Prototype.Delete().Where(prototype.ID(p.ID)).Exec(ctx)
	switch {
	case err != nil:
		return nil, fmt.Errorf("delete prototype %s: %w", p.ID, err)
	case n == 0:
		// The caller can see the prototype (it was just read), so only the
		// policy's owners-only filter can have left it in place.
		return nil, forbidden("only the workspace's owners can delete a prototype")
	}
	record(ctx, change{kind: event.KindPROTOTYPE_DELETED, workspace: p.WorkspaceID, subject: p.ID,
		payload: map[string]any{"title": p.Title, "slug": p.Slug}})
	return reload[*ent.Workspace](ctx, client, p.WorkspaceID)
}

package graph

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

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

// A timeline page asked for through node(id:) (a frontend that holds a
// prototype's ID and shows its history) would cost a statement for the
// prototype, only to learn that the viewer may see it, and one for the
// page. When the node's selection is nothing of the prototype but its
// timeline (and its id), both are one statement: the page read through
// the prototype, which ent writes as
//
//	SELECT … FROM events JOIN
//	  (SELECT id FROM prototypes WHERE id = $1 AND <Prototype policy>) AS t1
//	  ON events.prototype_id = t1.id
//	WHERE <Event policy> AND <cursors> ORDER BY … LIMIT n
//
// so both policies apply as they do to the two statements. A page with
// an event proves that the viewer may see the prototype (the subquery
// admitted it). An empty page does not (an invisible prototype and one
// without visible events look the same), and neither does an error (a
// bad argument, say): then node(id:) reads the prototype as before, so
// that what the viewer gets, NOT_FOUND and the errors included, does not
// change.

// prototypeTimelineKey is the page node(id:) read for a prototype's
// timeline field under one alias, in the response's cache.
type prototypeTimelineKey struct {
	prototype *ent.Prototype
	alias     string
}

// nodeWithTimeline is node(id:): a prototype of which the operation
// selects only the timeline is read with its page in one statement (see
// above), anything else by node.
func nodeWithTimeline(ctx context.Context, c *ent.Client, id gid.ID) (ent.Noder, error) {
	if p := prototypeByTimeline(ctx, c, id); p != nil {
		return p, nil
	}
	return node(ctx, c, id)
}

// prototypeByTimeline reads the timeline page of prototype id that the
// node(id:) field in ctx selects, through the prototype, and returns the
// prototype, its page kept in the response's cache for prototypeTimeline;
// nil if the selection asks for more than that page, or the page cannot
// tell that the viewer may see the prototype.
func prototypeByTimeline(ctx context.Context, c *ent.Client, id gid.ID) *ent.Prototype {
	fc, scope := graphql.GetFieldContext(ctx), cacheFrom(ctx)
	if id.Table() != prototype.Table || fc == nil || scope.c == nil {
		return nil
	}
	oc := graphql.GetOperationContext(ctx)
	var timeline *graphql.CollectedField
	for _, f := range graphql.CollectFields(oc, fc.Field.Selections, prototypeImplementors) {
		switch {
		case f.Name == "timeline" && timeline == nil:
			timeline = &f
		case f.Name == "id" || f.Name == "__typename":
		default:
			return nil // more of the prototype (or two pages) than one page shows
		}
	}
	if timeline == nil {
		return nil
	}
	args, ok := timelineArgs(timeline.ArgumentMap(oc.Variables))
	if !ok {
		return nil
	}
	// Paginate reads what the field context's selection asks for. Without
	// pageInfo in it, it runs no count: the page's pageInfo is computed
	// from its rows either way (it reads one more than it shows), and a
	// totalCount, which needs the count, is left to the other path.
	var page ast.SelectionSet
	for _, f := range graphql.CollectFields(oc, timeline.Selections, nil) {
		switch f.Name {
		case "pageInfo":
		case "edges", "__typename":
			field := *f.Field
			field.SelectionSet = f.Selections // merged over the fragments that select it
			page = append(page, &field)
		default:
			return nil
		}
	}
	pageCtx := graphql.WithFieldContext(ctx, &graphql.FieldContext{
		Parent:     fc,
		Object:     "Prototype",
		Field:      graphql.CollectedField{Field: timeline.Field, Selections: page},
		IsMethod:   true,
		IsResolver: true,
	})
	// Not DISTINCT, as ent writes a traversal by default: the join is on
	// the prototype's primary key, so no event comes twice, and DISTINCT
	// made PostgreSQL read and sort every event of the prototype instead
	// of reading its index backwards and stopping after the page. The
	// prototype's side selects its ID alone: the traversal keeps nothing
	// else of it, and ent quoted each of its columns for every page only
	// to drop them (2% of the page's CPU).
	conn, err := c.Prototype.Query().Where(prototype.ID(id)).Select(prototype.FieldID).QueryTimeline().Unique(false).
		Paginate(pageCtx, args.after, args.first, args.before, args.last, ent.WithEventOrder(args.orderBy))
	if err != nil || len(conn.Edges) == 0 {
		return nil
	}
	// The prototype is its ID only: no client and no ent client behind it.
	// The selection reads nothing else of it, and its timeline is the page
	// cached here; should the executor ever ask for another,
	// prototypeTimeline fails rather than query through the stub.
	p := &ent.Prototype{ID: id}
	foldedPrototypes(scope).add(p)
	_, _ = cached(scope, prototypeTimelineKey{p, timeline.Alias}, func() (*ent.EventConnection, error) { return conn, nil })
	return p
}

// foldedSet is the prototypes node(id:) returned as an ID and a page in
// one response (see prototypeByTimeline).
type foldedSet struct {
	mu sync.Mutex
	m  map[*ent.Prototype]bool
}

type foldedPrototypesKey struct{}

// foldedPrototypes is the response's foldedSet.
func foldedPrototypes(scope cacheScope) *foldedSet {
	set, _ := cached(scope, foldedPrototypesKey{}, func() (*foldedSet, error) {
		return &foldedSet{m: map[*ent.Prototype]bool{}}, nil
	})
	return set
}

func (s *foldedSet) add(p *ent.Prototype) {
	s.mu.Lock()
	s.m[p] = true
	s.mu.Unlock()
}

func (s *foldedSet) has(p *ent.Prototype) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[p]
}

// errFoldMissed is a timeline asked of a prototype node(id:) read as an
// ID and a page, under an alias other than the page's. The fold reads the
// selection as the executor does, so it cannot happen; if it does, the
// field fails (INTERNAL, logged) rather than be resolved from a prototype
// that is nothing but its ID.
var errFoldMissed = errors.New("timeline of a prototype node(id:) folded: no page read for this alias")

// prototypeTimeline resolves a prototype's timeline: the page node(id:)
// read with the prototype if it did, else the prototype's own (eager
// loaded, or read now).
func prototypeTimeline(ctx context.Context, p *ent.Prototype, after *ent.Cursor, first *int, before *ent.Cursor, last *int, orderBy *ent.EventOrder, where *ent.EventWhereInput) (*ent.EventConnection, error) {
	alias := graphql.GetFieldContext(ctx).Field.Alias
	scope := cacheFrom(ctx)
	return cached(scope, prototypeTimelineKey{p, alias}, func() (*ent.EventConnection, error) {
		if foldedPrototypes(scope).has(p) {
			return nil, fmt.Errorf("prototype %s, %s: %w", p.ID, alias, errFoldMissed)
		}
		return p.Timeline(ctx, after, first, before, last, orderBy, where)
	})
}

// pageArgs are the arguments of a timeline field that node(id:) reads
// with the prototype.
type pageArgs struct {
	after, before *ent.Cursor
	first, last   *int
	orderBy       *ent.EventOrder
}

// timelineArgNames are the timeline field's arguments timelineArgs knows.
var timelineArgNames = map[string]bool{"after": true, "first": true, "before": true, "last": true, "orderBy": true, "where": true}

// timelineArgs decodes a timeline field's arguments (variables already
// substituted) with the decoders gqlgen's executor uses for them
// (field_Prototype_timeline_args): unmarshalCursor, graphql.UnmarshalInt
// and, for orderBy, what the generated unmarshaller does (eventOrder), so
// that its default direction and its refusals are the executor's. ok is
// false for a filter (where),
// which is left to the other path, and for anything that does not decode,
// which that path reports.
func timelineArgs(raw map[string]any) (args pageArgs, ok bool) {
	// An argument this does not know (one added to the schema later)
	// leaves the page to the other path, which decodes it, rather than
	// being dropped here without a word.
	for name := range raw {
		if !timelineArgNames[name] {
			return pageArgs{}, false
		}
	}
	cursor := func(v any) (*ent.Cursor, bool) {
		if v == nil {
			return nil, true
		}
		var c ent.Cursor
		return &c, unmarshalCursor(&c, v) == nil
	}
	count := func(v any) (*int, bool) {
		if v == nil {
			return nil, true
		}
		n, err := graphql.UnmarshalInt(v)
		return &n, err == nil
	}
	var okA, okB, okF, okL bool
	args.after, okA = cursor(raw["after"])
	args.before, okB = cursor(raw["before"])
	args.first, okF = count(raw["first"])
	args.last, okL = count(raw["last"])
	if !okA || !okB || !okF || !okL || raw["where"] != nil {
		return pageArgs{}, false
	}
	if v := raw["orderBy"]; v != nil {
		m, isMap := v.(map[string]any)
		if !isMap {
			return pageArgs{}, false
		}
		order, ok := eventOrder(m)
		if !ok {
			return pageArgs{}, false
		}
		args.orderBy = order
	}
	return args, true
}

// eventOrder decodes an EventOrder step for step as the generated
// unmarshalInputEventOrder does: direction ASC if it is not given (a
// null is given, and refused), then OrderDirection's and
// EventOrderField's own UnmarshalGQL. The generated function is a method
// of the unexported executionContext; its exported UnmarshalEventOrder
// reaches it through an index of every input's unmarshaller that the
// request builds on first use, 6 KB and 66 allocations for the bench's
// timeline page. TestTimelineThroughNodeShowsEachViewerWhatThePoliciesAllow
// compares the two paths on every shape of direction.
func eventOrder(m map[string]any) (*ent.EventOrder, bool) {
	// An input field added to EventOrder later would be decoded by the
	// generated function and dropped here: such an order is left to the
	// other path.
	for name := range m {
		if name != "field" && name != "direction" {
			return nil, false
		}
	}
	order := &ent.EventOrder{Field: new(ent.EventOrderField)}
	d, present := m["direction"]
	if !present {
		d = "ASC"
	}
	if order.Direction.UnmarshalGQL(d) != nil || order.Field.UnmarshalGQL(m["field"]) != nil {
		return nil, false
	}
	return order, true
}

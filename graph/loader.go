package graph

import (
	"context"
	"errors"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/schema/gid"
)

// Most edges are loaded with field collection: entgql reads a whole level
// of a query in one statement. References it does not know, an event's
// actor and subject (a typed ID that can point into any table), are
// loaded here instead: the first resolver of such a field on a page
// loads it for every row of the page, one query per type of object
// present, and its siblings take their answers from that batch. A page
// of a timeline so costs a few statements, not two per event.
//
// The batch is found through the resolver's own path: the connection the
// object came in is the Result of a field context above it. That makes
// batching exact (the page, never a guess based on timing) and scoped to
// one response: the batches live in the response's cache
// (requestcache.go), so nothing is kept across requests or subscription
// events.

// batchKey names a batch: the page its rows came in and the field being
// resolved (two aliases of one field may select different things).
type batchKey struct {
	page  any
	field *ast.Field
}

// pageOf returns the events listed beside e, e among them, and the page
// they came in: a connection's edges, or e alone. Each event of a page
// asks, so a page is listed once per response (eventPage) and each
// asking costs a lookup, not a walk over the page.
func pageOf(ctx context.Context, e *ent.Event) (any, []*ent.Event) {
	cache := cacheFrom(ctx)
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		conn, ok := fc.Result.(*ent.EventConnection)
		if !ok || conn == nil {
			continue
		}
		page, _ := cached(cache, eventPageKey{conn}, func() (*eventPage, error) { return listPage(conn), nil })
		if page.has[e] {
			return conn, page.events
		}
	}
	return e, []*ent.Event{e}
}

// eventPage is the events of a connection, listed once per response.
type eventPage struct {
	events []*ent.Event
	has    map[*ent.Event]bool
}

type eventPageKey struct{ conn *ent.EventConnection }

// listPage lists the events of conn.
func listPage(conn *ent.EventConnection) *eventPage {
	p := &eventPage{events: make([]*ent.Event, 0, len(conn.Edges)), has: make(map[*ent.Event]bool, len(conn.Edges))}
	for _, edge := range conn.Edges {
		if edge != nil && edge.Node != nil {
			p.events = append(p.events, edge.Node)
			p.has[edge.Node] = true
		}
	}
	return p
}

// loadEventRefs returns the object ref(e) names for e, loading it with
// those of the events on e's page; nil if there is none or the viewer
// cannot see it.
func loadEventRefs(ctx context.Context, c *ent.Client, e *ent.Event, ref func(*ent.Event) gid.ID) (ent.Noder, error) {
	id := ref(e)
	if id == 0 {
		return nil, nil
	}
	page, events := pageOf(ctx, e)
	key := batchKey{page: page}
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		key.field = fc.Field.Field
	}
	nodes, err := cached(cacheFrom(ctx), key, func() (map[gid.ID]ent.Noder, error) {
		ids := make([]gid.ID, 0, len(events))
		seen := make(map[gid.ID]bool, len(events))
		for _, ev := range events {
			if id := ref(ev); id != 0 && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		return loadNodes(ctx, c, ids)
	})
	if err != nil {
		return nil, err
	}
	return nodes[id], nil
}

// loadNodes reads the objects with the given IDs, one query per type, as
// the caller (privacy applies) and with what the field being resolved
// selects of them eager-loaded. Objects the viewer cannot see, or that
// are gone, are left out.
func loadNodes(ctx context.Context, c *ent.Client, ids []gid.ID) (map[gid.ID]ent.Noder, error) {
	nodes := make(map[gid.ID]ent.Noder, len(ids))
	if len(ids) == 1 {
		n, err := node(ctx, c, ids[0])
		if err != nil {
			return nodes, hideInvisible("load "+ids[0].String(), err)
		}
		nodes[ids[0]] = n
		return nodes, nil
	}
	// Noders reports each ID it cannot read as an error of the response,
	// at the ID's index. Here an object the viewer cannot see is simply
	// null, so those reports go to a response of their own, and only the
	// errors that are not "not found" are passed on.
	reports := graphql.WithResponseContext(ctx, graphql.DefaultErrorPresenter, graphql.DefaultRecover)
	list, err := c.Noders(reports, ids, byIDType)
	if err != nil {
		return nil, fmt.Errorf("load %d objects: %w", len(ids), err)
	}
	for _, report := range graphql.GetErrors(reports) {
		if !isNodeNotFound(report) {
			if err := hideInvisible("load objects", report); err != nil {
				return nil, err
			}
		}
	}
	for i, n := range list {
		if n != nil {
			nodes[ids[i]] = n
		}
	}
	return nodes, nil
}

// isNodeNotFound reports whether err is entgql's "could not resolve to a
// node", which Noders reports for an ID no row answered.
func isNodeNotFound(err *gqlerror.Error) bool {
	var inner *gqlerror.Error
	if err.Err != nil && errors.As(err.Err, &inner) {
		err = inner
	}
	code, _ := err.Extensions["code"].(string)
	return code == string(CodeNotFound)
}

package graph

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/prototype"
	"github.com/protoloop/protoloop/ent/schema/gid"
)

// The contract's moves, written out again rather than read from
// prototypeMoves, so that a change to the table has to change this too.
func TestCheckPrototypeMove(t *testing.T) {
	allowed := map[[2]prototype.Status]bool{
		{prototype.StatusDRAFT, prototype.StatusTESTING}:   true,
		{prototype.StatusTESTING, prototype.StatusADOPTED}: true,
		{prototype.StatusTESTING, prototype.StatusSHELVED}: true,
		{prototype.StatusSHELVED, prototype.StatusTESTING}: true,
	}
	statuses := []prototype.Status{prototype.StatusDRAFT, prototype.StatusTESTING, prototype.StatusADOPTED, prototype.StatusSHELVED}
	for _, from := range statuses {
		for _, to := range statuses {
			err := checkPrototypeMove(from, to)
			if allowed[[2]prototype.Status{from, to}] {
				if err != nil {
					t.Errorf("%s → %s is refused (%v), want it allowed", from, to, err)
				}
				continue
			}
			var appErr *Error
			if !errors.As(err, &appErr) || appErr.Code != CodeBadUserInput || appErr.Field != "status" {
				t.Errorf("%s → %s gives %#v, want BAD_USER_INPUT on status", from, to, err)
				continue
			}
			for _, next := range prototypeMoves[from] {
				if !strings.Contains(appErr.Message, string(next)) {
					t.Errorf("%s → %s is refused with %q, which does not name the allowed move to %s", from, to, appErr.Message, next)
				}
			}
		}
	}
}

// TestFoldedPrototypeGivesNoOtherTimeline: node(id:) returns a prototype
// that is its ID only, with its timeline page in the response's cache
// (prototypeByTimeline). A timeline asked of it under another alias
// (which the executor, reading the selection as the fold did, never
// does) must fail, not be read through a prototype with no client
// behind it (which panics) or come out empty; the page's own alias gets
// the page.
func TestFoldedPrototypeGivesNoOtherTimeline(t *testing.T) {
	ctx := context.WithValue(context.Background(), requestCacheKey{}, &requestCache{entries: map[any]*cacheEntry{}})
	scope := cacheFrom(ctx)
	stub := &ent.Prototype{ID: gid.New(gid.Prototype)}
	page := &ent.EventConnection{Edges: []*ent.EventEdge{{Node: &ent.Event{ID: gid.New(gid.Event)}}}}
	foldedPrototypes(scope).add(stub)
	_, _ = cached(scope, prototypeTimelineKey{stub, "timeline"}, func() (*ent.EventConnection, error) { return page, nil })

	under := func(alias string) context.Context {
		return graphql.WithFieldContext(ctx, &graphql.FieldContext{
			Object: "Prototype", Field: graphql.CollectedField{Field: &ast.Field{Name: "timeline", Alias: alias}},
		})
	}
	if got, err := prototypeTimeline(under("timeline"), stub, nil, nil, nil, nil, nil, nil); err != nil || got != page {
		t.Fatalf("the folded page's alias: %v, %v; want the page", got, err)
	}
	if got, err := prototypeTimeline(under("other"), stub, nil, nil, nil, nil, nil, nil); !errors.Is(err, errFoldMissed) {
		t.Fatalf("another alias: %v, %v; want errFoldMissed", got, err)
	}
}

package graph

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/schema/gid"
)

// TestResolvedFieldsHoldTheirFieldContextInOneAllocation resolves an
// edge's node (null, so that nothing else is allocated) through
// resolveField and counts one allocation: the frame with the field
// context in it, where the field context and its context.WithValue took
// two.
func TestResolvedFieldsHoldTheirFieldContextInOneAllocation(t *testing.T) {
	ec := newExecutionContext(&graphql.OperationContext{}, NewExecutableSchema(Config{Resolvers: &Resolver{}}).(*executableSchema), nil)
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, nil)
	field := graphql.CollectedField{Field: &ast.Field{Alias: "node", Name: "node"}}
	edge := &ent.FeedbackEdge{}
	allocs := testing.AllocsPerRun(100, func() {
		if m := ec._FeedbackEdge_node(ctx, field, edge); m != graphql.Null {
			t.Fatalf("a null node resolved to %v", m)
		}
	})
	if allocs != 1 {
		t.Errorf("%v allocations, want 1", allocs)
	}
}

// TestArgumentErrorsBelowTheRootCarryTheFieldsPath sends a cursor that is
// not one to a connection below the root: its field context function
// reports the error while the frame resolveField lent it is pending, and
// the error must carry the connection's path, as with the parent's
// context before. The workspace comes from a middleware, so that no
// database is read.
func TestArgumentErrorsBelowTheRootCarryTheFieldsPath(t *testing.T) {
	exec := executor.New(NewExecutableSchema(Config{Resolvers: &Resolver{}}))
	exec.AroundFields(func(ctx context.Context, next graphql.Resolver) (any, error) {
		return &ent.Workspace{ID: gid.New(gid.Workspace), Name: "w"}, nil
	})
	ctx := graphql.StartOperationTrace(context.Background())
	opCtx, errs := exec.CreateOperationContext(ctx, &graphql.RawParams{
		Query: `query { workspace(slug: "w") { name prototypes(first: 2, after: "not-a-cursor") { totalCount } } }`,
	})
	if errs != nil {
		t.Fatal(errs)
	}
	ctx = graphql.WithOperationContext(ctx, opCtx)
	handler, ctx := exec.DispatchOperation(ctx, opCtx)
	resp := handler(ctx)
	if len(resp.Errors) != 1 {
		t.Fatalf("errors %v, want one", resp.Errors)
	}
	// gqlgen's argument path under the field's: what it was with the
	// parent's context.
	if got := resp.Errors[0].Path.String(); got != "workspace.prototypes.after" {
		t.Errorf("error %q at %q, want at workspace.prototypes.after", resp.Errors[0].Message, got)
	}
	if string(resp.Data) != `{"workspace":null}` {
		t.Errorf("data %s, want the workspace null (prototypes is non-null)", resp.Data)
	}
}

// TestNestedFramesAnswerAsContextsDo looks values up through frames that
// are each other's parents (walked in a loop): a frame's own field
// context, a pending frame's parent's, and a value of the context below
// them all.
func TestNestedFramesAnswerAsContextsDo(t *testing.T) {
	type key struct{}
	base := context.WithValue(context.Background(), key{}, "v")
	outer := &fieldFrame{Context: base}
	inner := &fieldFrame{Context: outer}
	lent := &fieldFrame{Context: inner, pending: true}
	for _, c := range []struct {
		name string
		ctx  context.Context
		want *graphql.FieldContext
	}{
		{"outer", outer, &outer.fc},
		{"inner", inner, &inner.fc},
		{"pending", lent, &inner.fc},
	} {
		if got := graphql.GetFieldContext(c.ctx); got != c.want {
			t.Errorf("%s: field context %p, want %p", c.name, got, c.want)
		}
		if c.ctx.Value(key{}) != "v" {
			t.Errorf("%s: the value below the frames is not found", c.name)
		}
	}
	if graphql.GetFieldContext(&fieldFrame{Context: context.Background(), pending: true}) != nil {
		t.Error("a pending frame with no field context above it has one")
	}
}

// TestFrameCheckFailsOnAGqlgenThatKeepsFieldContextsOtherwise gives the
// start-up check functions that keep field contexts as a future gqlgen
// might: the check must fail on each, and pass on gqlgen's own.
func TestFrameCheckFailsOnAGqlgenThatKeepsFieldContextsOtherwise(t *testing.T) {
	type newKey struct{}
	// A new key first, the old one as a fallback: a frame, answering only
	// the old one, would give every field below the root the root's
	// field context.
	newFirst := func(ctx context.Context) *graphql.FieldContext {
		if fc, ok := ctx.Value(newKey{}).(*graphql.FieldContext); ok {
			return fc
		}
		fc, _ := ctx.Value(fieldContextKey).(*graphql.FieldContext)
		return fc
	}
	withNew := func(ctx context.Context, fc *graphql.FieldContext) context.Context {
		fc.Parent = newFirst(ctx)
		return context.WithValue(ctx, newKey{}, fc)
	}
	pathOf := func(ctx context.Context) ast.Path {
		if fc := newFirst(ctx); fc != nil {
			return fc.Path()
		}
		return nil
	}
	// Paths kept under a key of their own beside the field context's.
	withBoth := func(ctx context.Context, fc *graphql.FieldContext) context.Context {
		return context.WithValue(graphql.WithFieldContext(ctx, fc), newKey{}, fc)
	}
	pathByNewKey := func(ctx context.Context) ast.Path {
		fc, _ := ctx.Value(newKey{}).(*graphql.FieldContext)
		return fc.Path()
	}

	if _, err := fieldContextKeyOf(newFirst); err == nil {
		t.Error("a GetFieldContext asking for two keys passes the key probe")
	}
	for _, c := range []struct {
		name    string
		gqlgen  fieldContexts
		wantErr bool
	}{
		{"gqlgen's own functions pass", fieldContexts{graphql.GetFieldContext, graphql.WithFieldContext, graphql.GetPath}, false},
		{"a new key looked up before the old one fails", fieldContexts{newFirst, withNew, pathOf}, true},
		{"a path found under another key fails", fieldContexts{graphql.GetFieldContext, withBoth, pathByNewKey}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.gqlgen.check()
			if (err != nil) != c.wantErr {
				t.Errorf("check: %v, want an error: %v", err, c.wantErr)
			}
		})
	}
}

// TestAnObjectFieldAndItsObjectTakeOneAllocation resolves an edge's node
// selecting its id through resolveField and counts one allocation: the
// frame with the field context and the node's fields in it
// (objectFrame), where the frame and the object took one each.
func TestAnObjectFieldAndItsObjectTakeOneAllocation(t *testing.T) {
	ec := newExecutionContext(&graphql.OperationContext{}, NewExecutableSchema(Config{Resolvers: &Resolver{}}).(*executableSchema), nil)
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, nil)
	id := &ast.Field{Alias: "id", Name: "id", Definition: parsedSchema.Types["Feedback"].Fields.ForName("id")}
	field := graphql.CollectedField{Field: &ast.Field{Alias: "node", Name: "node"}, Selections: ast.SelectionSet{id}}
	edge := &ent.FeedbackEdge{Node: &ent.Feedback{ID: gid.New(gid.Feedback)}}
	var out bytes.Buffer // keeps its room when Reset
	allocs := testing.AllocsPerRun(100, func() {
		m := ec._FeedbackEdge_node(ctx, field, edge)
		if out.Reset(); m != nil {
			m.MarshalGQL(&out)
		}
	})
	if want := `{"id":` + strconv.Quote(edge.Node.ID.String()) + `}`; out.String() != want {
		t.Fatalf("node marshalled as %s, want %s", out.String(), want)
	}
	if allocs != 1 {
		t.Errorf("%v allocations, want 1", allocs)
	}
}

package graph

import (
	"context"
	"fmt"
	"slices"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// fieldFrame is a context holding a field context, as
// graphql.WithFieldContext's context.WithValue does, but allocated with the
// field context rather than beside it: marshalSliceInOrder allocates the
// frames of all the elements of a list in one slice, where each element
// took a field context from a slice and a context.WithValue of its own,
// and resolveField has the field context function fill the field context
// of the frame it allocates (fieldContextIn), where it took the function's
// field context and a context.WithValue: three allocations fewer per
// feedback of the dashboard, four with its list element.
//
// A frame resolveField lends to a field context function is pending
// until the function returns: it answers as its parent context does
// (GetFieldContext finds the parent's field context), so that the
// function parses the field's arguments and reports their errors as it
// did with the parent's context.
//
// gqlgen finds a field context by an unexported key (graphql.GetFieldContext
// asks ctx.Value for it); fieldContextKey is that key, as GetFieldContext
// asks for it. init checks that this is the only key GetFieldContext asks
// for, and that gqlgen's own functions, with a real graphql.WithFieldContext
// below the frames, find a frame's field context, a pending frame's
// parent's, and a frame's path (graphql.GetPath): a gqlgen that looks its
// field contexts up otherwise (a new key, say, with the old one as a
// fallback, which would give every field below the root the root's field
// context) fails every test rather than losing them.
type fieldFrame struct {
	context.Context
	fc graphql.FieldContext
	// pending: the frame is lent to a field context function, and does
	// not hold its field context yet; lent: fieldContextIn gave that
	// function fc to fill.
	pending, lent bool
	// spare is the object allocated with the frame (objectFrame) until
	// the field's object takes it (newObjectFieldsIn).
	spare *objectFields
}

// objectFrame is the frame of a field that resolves to an object, with
// that object's fields: one allocation where the field and its object
// took one each, three fewer per feedback of the dashboard (its edge, its
// node, its author). A field of a list of objects (a connection's edges)
// wastes its object: its elements have frames of their own.
type objectFrame struct {
	fieldFrame
	object objectFields
}

// newFrame returns a pending frame for a field resolved under ctx, with an
// object to spare if the field has fields below it.
func newFrame(ctx context.Context, object bool) *fieldFrame {
	if !object {
		return &fieldFrame{Context: ctx, pending: true}
	}
	f := &objectFrame{fieldFrame: fieldFrame{Context: ctx, pending: true}}
	f.spare = &f.object
	return &f.fieldFrame
}

// Value implements context.Context. The frames of nested fields are
// mostly each other's parents, and a request-wide value (the viewer, say)
// is looked up through all of them: they are walked in a loop here, as
// the context package walks its own contexts, rather than by a call per
// frame.
func (f *fieldFrame) Value(key any) any {
	for {
		if key == fieldContextKey && !f.pending {
			return &f.fc
		}
		parent, ok := f.Context.(*fieldFrame)
		if !ok {
			return f.Context.Value(key)
		}
		f = parent
	}
}

// fieldContextIn returns the field context for a field context function
// to fill: that of the pending frame ctx, the first time it is asked for,
// which saves resolveField an allocation; else a new one (the function
// called by gqlgen's own resolution of root fields, or by FieldContext.Child).
// graph/internal/gqlgen has every field context function of the executor
// get its field context here.
func fieldContextIn(ctx context.Context) *graphql.FieldContext {
	if f, ok := ctx.(*fieldFrame); ok && f.pending && !f.lent {
		f.lent = true
		return &f.fc
	}
	return new(graphql.FieldContext)
}

// fieldContextKey is the key under which gqlgen keeps the field context in
// a context; errFieldContextKey says why it could not be found.
var fieldContextKey, errFieldContextKey = fieldContextKeyOf(graphql.GetFieldContext)

// fieldContextKeyOf returns the key getFieldContext asks a context for,
// which must be one key: a function that asks for two may find a field
// context under the second that a frame does not answer to.
func fieldContextKeyOf(getFieldContext func(context.Context) *graphql.FieldContext) (any, error) {
	probe := &keyProbe{Context: context.Background()}
	getFieldContext(probe)
	if len(probe.keys) != 1 {
		return nil, fmt.Errorf("GetFieldContext asks a context for %d keys (%v), not one", len(probe.keys), probe.keys)
	}
	return probe.keys[0], nil
}

// keyProbe records the keys it is asked for, and answers none.
type keyProbe struct {
	context.Context
	keys []any
}

func (p *keyProbe) Value(key any) any {
	if !slices.Contains(p.keys, key) {
		p.keys = append(p.keys, key)
	}
	return nil
}

// fieldContexts are the functions of gqlgen that fieldFrame stands in
// for, as parameters so that a test can give ones that keep field
// contexts otherwise (fieldframe_internal_test.go).
type fieldContexts struct {
	get  func(context.Context) *graphql.FieldContext
	with func(context.Context, *graphql.FieldContext) context.Context
	path func(context.Context) ast.Path
}

// check returns an error if frames, on a context holding a field context
// as with puts it there, do not answer as that context would: a frame's
// own field context, a pending frame's parent's, and a frame's path.
func (c fieldContexts) check() error {
	outer := &graphql.FieldContext{Field: graphql.CollectedField{Field: &ast.Field{Alias: "a", Name: "a"}}}
	ctx := c.with(context.Background(), outer)
	if got := c.get(ctx); got != outer {
		return fmt.Errorf("GetFieldContext does not find the field context WithFieldContext put (%p, want %p)", got, outer)
	}
	if got := c.get(&fieldFrame{Context: ctx, pending: true}); got != outer {
		return fmt.Errorf("a pending frame on a field context's context answers %p, not that field context (%p)", got, outer)
	}
	frame := &fieldFrame{Context: ctx}
	frame.fc = graphql.FieldContext{Parent: outer, Field: graphql.CollectedField{Field: &ast.Field{Alias: "b", Name: "b"}}}
	if got := c.get(frame); got != &frame.fc {
		return fmt.Errorf("a frame answers the field context %p, not its own (%p)", got, &frame.fc)
	}
	if got := c.get(&fieldFrame{Context: frame, pending: true}); got != &frame.fc {
		return fmt.Errorf("a pending frame on a frame answers %p, not its parent's field context (%p)", got, &frame.fc)
	}
	if got := c.path(frame).String(); got != "a.b" {
		return fmt.Errorf("GetPath of a frame is %q, not a.b", got)
	}
	return nil
}

func init() {
	err := errFieldContextKey
	if err == nil {
		err = fieldContexts{graphql.GetFieldContext, graphql.WithFieldContext, graphql.GetPath}.check()
	}
	if err != nil {
		panic("graph: gqlgen keeps field contexts otherwise than fieldFrame (graph/fieldframe.go) assumes: " + err.Error() +
			"; make fieldFrame.Value answer as this gqlgen's contexts do, or have resolveField and marshalSliceInOrder use graphql.WithFieldContext")
	}
}

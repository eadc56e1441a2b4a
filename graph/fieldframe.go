package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
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
// asks for it, and init checks that GetFieldContext finds a frame's field
// context through it, so that a gqlgen that looks its field contexts up
// otherwise fails every test rather than losing them.
type fieldFrame struct {
	context.Context
	fc graphql.FieldContext
	// pending: the frame is lent to a field context function, and does
	// not hold its field context yet; lent: fieldContextIn gave that
	// function fc to fill.
	pending, lent bool
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
// a context.
var fieldContextKey = func() any {
	probe := &keyProbe{Context: context.Background()}
	graphql.GetFieldContext(probe)
	return probe.key
}()

// keyProbe records the key it is asked for.
type keyProbe struct {
	context.Context
	key any
}

func (p *keyProbe) Value(key any) any {
	p.key = key
	return nil
}

func init() {
	f := &fieldFrame{Context: context.Background()}
	if fieldContextKey == nil || graphql.GetFieldContext(f) != &f.fc {
		panic(fmt.Sprintf("graph: gqlgen does not find field contexts under the key it asked for (%v): see fieldFrame", fieldContextKey))
	}
}

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
// took a field context from a slice and a context.WithValue of its own
// (one allocation per feedback of the dashboard).
//
// gqlgen finds a field context by an unexported key (graphql.GetFieldContext
// asks ctx.Value for it); fieldContextKey is that key, as GetFieldContext
// asks for it, and init checks that GetFieldContext finds a frame's field
// context through it, so that a gqlgen that looks its field contexts up
// otherwise fails every test rather than losing them.
type fieldFrame struct {
	context.Context
	fc graphql.FieldContext
}

// Value implements context.Context.
func (f *fieldFrame) Value(key any) any {
	if key == fieldContextKey {
		return &f.fc
	}
	return f.Context.Value(key)
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

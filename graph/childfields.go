package graph

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"
)

// A field context's Child (graphql.FieldContext.Child) gives the field
// context of a field below it, for field middleware that looks ahead.
// gqlgen writes it as a closure built with every field context: over the
// executor for a field of an object type, over the type's name for a
// scalar. That is one allocation per field context that nothing here
// calls (the server installs no field middleware), three per feedback of
// the dashboard. The executor's field contexts instead take one function
// per type, built once (the functions childFieldsOf_* and the variables
// noChildFieldsOf_* that graph/internal/gqlgen writes at the end of the
// executor), which finds the operation's executor in the context it is
// called with: the executor puts it there when an operation starts
// (withExecutionContext), and a field's context, given to its
// middleware, descends from that one.

type executionContextKey struct{}

// withExecutionContext returns ctx holding ec, for the Child functions
// of the field contexts below it.
func withExecutionContext(ctx context.Context, ec *executionContext) context.Context {
	return context.WithValue(ctx, executionContextKey{}, ec)
}

// errNoExecutionContext is what a Child function returns when called
// with a context that does not descend from an operation's.
var errNoExecutionContext = errors.New("FieldContext.Child needs a context of the operation being executed")

// executionContextOf returns the executor that withExecutionContext put
// in ctx, for the Child functions of the field contexts of object types
// (childFieldsOf_T in the executor, which calls ec.childFields_T).
func executionContextOf(ctx context.Context) (*executionContext, error) {
	ec, ok := ctx.Value(executionContextKey{}).(*executionContext)
	if !ok {
		return nil, errNoExecutionContext
	}
	return ec, nil
}

// noChildFields is the Child function of the field contexts of a scalar
// or enum type: it fails as graphql.NewScalarFieldContext's does.
func noChildFields(typeName string) func(context.Context, graphql.CollectedField) (*graphql.FieldContext, error) {
	return func(context.Context, graphql.CollectedField) (*graphql.FieldContext, error) {
		return nil, errors.New("field of type " + typeName + " does not have child fields")
	}
}

// newScalarFieldContext is graphql.NewScalarFieldContext with the Child
// function given (noChildFields, built once per type) rather than a
// closure built per call, and the field context from fieldContextIn.
func newScalarFieldContext(
	ctx context.Context,
	object string,
	field graphql.CollectedField,
	isMethod, isResolver bool,
	child func(context.Context, graphql.CollectedField) (*graphql.FieldContext, error),
) (*graphql.FieldContext, error) {
	fc := fieldContextIn(ctx)
	*fc = graphql.FieldContext{
		Object:     object,
		Field:      field,
		IsMethod:   isMethod,
		IsResolver: isResolver,
		Child:      child,
	}
	return fc, nil
}

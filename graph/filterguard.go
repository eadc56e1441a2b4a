package graph

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// FilterGuard refuses filters through related objects (hasAuthorWith,
// hasIterationsWith…) from callers who are only testers.
//
// ent's privacy rules filter the rows a query returns, but a where-input's
// edge predicates run as SQL subqueries the rules do not reach: a tester
// could count another tester's trials or a prototype's drafts by filtering
// on them. Members may see everything those subqueries read in their
// workspaces, so they keep every filter; testers keep the filters on the
// fields of what they list.
type FilterGuard struct{}

var (
	_ graphql.HandlerExtension        = FilterGuard{}
	_ graphql.OperationContextMutator = FilterGuard{}
)

// ExtensionName implements graphql.HandlerExtension.
func (FilterGuard) ExtensionName() string { return "FilterGuard" }

// Validate implements graphql.HandlerExtension.
func (FilterGuard) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext implements graphql.OperationContextMutator.
func (FilterGuard) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	id := viewer.FromContext(ctx)
	if oc.Operation == nil || id == nil || len(id.Testing()) == 0 || id.IsMember() {
		return nil
	}
	return walkArguments(oc, oc.Operation.SelectionSet, map[string]bool{}, func(_ *ast.Field, arg *ast.Argument, def *ast.ArgumentDefinition) *gqlerror.Error {
		if !strings.HasSuffix(def.Type.Name(), "WhereInput") {
			return nil
		}
		v, err := arg.Value.Value(oc.Variables)
		if err != nil || !filtersThroughEdges(v) {
			return nil
		}
		e := gqlerror.Errorf("where: testers can filter by the fields of what they list, not through related objects")
		e.Extensions = map[string]any{"code": string(CodeBadUserInput), "field": "where"}
		return e
	})
}

// filtersThroughEdges reports whether a where-input value uses an edge
// predicate (has…), at any depth of and/or/not.
func filtersThroughEdges(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for k, sub := range v {
			if strings.HasPrefix(k, "has") || filtersThroughEdges(sub) {
				return true
			}
		}
	case []any:
		for _, sub := range v {
			if filtersThroughEdges(sub) {
				return true
			}
		}
	}
	return false
}

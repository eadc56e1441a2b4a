package graph

import (
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// edgeFilter refuses a filter through related objects (hasAuthorWith,
// hasIterationsWith…) from a caller who is only a tester (see
// ArgumentGuard).
//
// ent's privacy rules filter the rows a query returns, but a where-input's
// edge predicates run as SQL subqueries the rules do not reach: a tester
// could count another tester's trials or a prototype's drafts by filtering
// on them. Members may see everything those subqueries read in their
// workspaces, so they keep every filter; testers keep the filters on the
// fields of what they list.
func edgeFilter(oc *graphql.OperationContext, arg *ast.Argument, def *ast.ArgumentDefinition) *gqlerror.Error {
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
}

// onlyTests reports whether the caller tests prototypes and is a member
// of no workspace: the callers edgeFilter applies to.
func onlyTests(id *viewer.Identity) bool {
	return id != nil && len(id.Testing()) > 0 && !id.IsMember()
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

package graph

import (
	"context"
	"errors"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestResolveFieldNullsAsGqlgenDoes holds resolveField to what gqlgen's
// executor does with a null: an error or a nil value of a non-null field
// is Null (its parent counts it as invalid), and a nullable field its
// resolver marked non-null (graphql.MarkNonNull) is RequiredNull, with an
// error, so that its parent is null too.
func TestResolveFieldNullsAsGqlgenDoes(t *testing.T) {
	cases := []struct {
		name      string
		markNull  bool
		fail      bool
		nonNull   bool
		want      graphql.Marshaler
		wantError bool
	}{
		{name: "nil of a nullable field", want: graphql.Null},
		{name: "nil of a non-null field", nonNull: true, want: graphql.Null, wantError: true},
		{name: "nil of a field marked non-null", markNull: true, want: graphql.RequiredNull, wantError: true},
		{name: "error of a nullable field", fail: true, want: graphql.Null, wantError: true},
		{name: "error of a field marked non-null", fail: true, markNull: true, want: graphql.RequiredNull, wantError: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			oc := &graphql.OperationContext{}
			ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, nil)
			ctx = graphql.WithOperationContext(ctx, oc)
			field := graphql.CollectedField{Field: &ast.Field{Alias: "f", Name: "f"}}
			fieldContext := func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {
				return &graphql.FieldContext{Object: "T", Field: field}, nil
			}
			resolve := func(ctx context.Context) (any, error) {
				if c.markNull {
					graphql.MarkNonNull(ctx)
				}
				if c.fail {
					return nil, errors.New("failed")
				}
				return nil, nil
			}
			marshal := func(context.Context, ast.SelectionSet, any) graphql.Marshaler {
				t.Fatal("a null was marshalled")
				return nil
			}
			got := resolveField(ctx, oc, field, fieldContext, resolve, marshal, c.nonNull)
			if got != c.want {
				t.Errorf("got %v, want %v", got, c.want)
			}
			if errs := graphql.GetErrors(ctx); (len(errs) > 0) != c.wantError {
				t.Errorf("errors %v, want some: %v", errs, c.wantError)
			}
		})
	}
}

package graph

import (
	"context"
	"errors"
	"fmt"
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

// TestListElementsHaveTheirFieldContexts marshals lists of 1 and 100
// elements and checks what each element's context holds: a field context
// with its index and the list's field context as parent, the values and
// the cancellation of the list's context; and that the elements' contexts
// cost the same few allocations whatever the length (they took one
// context.WithValue each).
func TestListElementsHaveTheirFieldContexts(t *testing.T) {
	type key struct{}
	list := &graphql.FieldContext{Object: "T", Field: graphql.CollectedField{Field: &ast.Field{Alias: "items", Name: "items"}}}
	base, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	ctx := graphql.WithFieldContext(base, list)
	for _, n := range []int{1, 100} {
		seen := 0
		marshalSliceInOrder(ctx, n, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
			seen++
			fc := graphql.GetFieldContext(ctx)
			if fc == nil || fc.Index == nil || *fc.Index != i || fc.Parent != list {
				t.Fatalf("element %d of %d: field context %+v, want index %d under the list's", i, n, fc, i)
			}
			if got := fc.Path().String(); got != fmt.Sprintf("items[%d]", i) {
				t.Errorf("element %d: path %s", i, got)
			}
			if ctx.Value(key{}) != "v" || ctx.Done() != base.Done() {
				t.Errorf("element %d: the list's context's values or cancellation are not its", i)
			}
			return graphql.Null
		})
		if seen != n {
			t.Errorf("%d elements marshalled of %d", seen, n)
		}
		allocs := testing.AllocsPerRun(20, func() {
			marshalSliceInOrder(ctx, n, 0, true, func(context.Context, int) graphql.Marshaler { return graphql.Null })
		})
		if allocs > 3 {
			t.Errorf("a list of %d: %v allocations, want the result, the frames and the indexes (3)", n, allocs)
		}
	}
	cancel()
	marshalSliceInOrder(ctx, 1, 0, false, func(ctx context.Context, _ int) graphql.Marshaler {
		if ctx.Err() == nil {
			t.Error("an element's context is not cancelled with the list's")
		}
		return graphql.Null
	})
}

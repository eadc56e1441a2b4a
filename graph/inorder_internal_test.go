package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

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

// The tests below run the same cases through gqlgen's functions and
// through the copies the executor calls in their place (resolveField,
// marshalSliceInOrder), and compare what each gives: the marshaller, the
// errors reported, and the field contexts the resolvers see. They fail
// if a copy drifts from gqlgen, or gqlgen from the copy.

// fieldSeen is a field context as a resolver or a marshaller saw it:
// a copy, its Child (a function) left out, and its path.
type fieldSeen struct {
	fc   graphql.FieldContext
	path string
}

// MarshalJSON describes the field context for a test's failure.
func (s *fieldSeen) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"Object": s.fc.Object, "Field": s.fc.Field.Alias, "Args": s.fc.Args, "Index": s.fc.Index,
		"IsMethod": s.fc.IsMethod, "IsResolver": s.fc.IsResolver, "NonNull": s.fc.NonNull,
		"Result": fmt.Sprint(s.fc.Result), "Path": s.path,
	})
}

func seeField(ctx context.Context) *fieldSeen {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return nil
	}
	s := &fieldSeen{fc: *fc, path: fc.Path().String()}
	s.fc.Child = nil
	return s
}

// reported is an error as the response gives it.
type reported struct {
	Message    string
	Path       string
	Locations  []gqlerror.Location
	Extensions map[string]any
}

// reportedErrors returns the errors reported in ctx, ordered by path
// (gqlgen reports a list's elements' concurrently).
func reportedErrors(ctx context.Context) []reported {
	var out []reported
	for _, e := range graphql.GetErrors(ctx) {
		out = append(out, reported{e.Message, e.Path.String(), e.Locations, e.Extensions})
	}
	slices.SortStableFunc(out, func(a, b reported) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// written is what a marshaller is: one of gqlgen's nulls, or what it writes.
func written(m graphql.Marshaler) string {
	switch m {
	case nil:
		return "nil"
	case graphql.Null:
		return "Null"
	case graphql.RequiredNull:
		return "RequiredNull"
	}
	var b strings.Builder
	m.MarshalGQL(&b)
	return b.String()
}

// differentialContext returns a context of an operation whose errors are
// collected and panics recovered by oc's RecoverFunc, with the field context of a root field "workspace" (as
// gqlgen's root resolution puts it) or, below it, a frame of a field
// "owner" resolved by resolveField.
func differentialContext(oc *graphql.OperationContext, belowFrame bool) context.Context {
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, oc.RecoverFunc)
	ctx = graphql.WithOperationContext(ctx, oc)
	root := &graphql.FieldContext{Object: "Query", Field: graphql.CollectedField{Field: &ast.Field{Alias: "workspace", Name: "workspace"}}}
	ctx = graphql.WithFieldContext(ctx, root)
	if belowFrame {
		frame := &fieldFrame{Context: ctx}
		frame.fc = graphql.FieldContext{Parent: root, Object: "Workspace", Field: graphql.CollectedField{Field: &ast.Field{Alias: "owner", Name: "owner"}}}
		return frame
	}
	return ctx
}

// TestResolveFieldResolvesAsGqlgens resolves fields of Workspace through
// graphql.ResolveField and through resolveField, with the executor's own
// field context functions, below a root field and below a frame.
func TestResolveFieldResolvesAsGqlgens(t *testing.T) {
	def := parsedSchema.Types["Workspace"].Fields.ForName("prototypes")
	position := &ast.Position{Line: 1, Column: 30}
	viewerRole := &ast.Field{Alias: "role", Name: "viewerRole", Position: position, Definition: parsedSchema.Types["Workspace"].Fields.ForName("viewerRole")}
	prototypes := func(after string) *ast.Field {
		args := ast.ArgumentList{{Name: "first", Value: &ast.Value{Kind: ast.IntValue, Raw: "2"}}}
		if after != "" {
			args = append(args, &ast.Argument{Name: "after", Value: &ast.Value{Kind: ast.StringValue, Raw: after}})
		}
		return &ast.Field{Alias: "prototypes", Name: "prototypes", Position: position, Definition: def, Arguments: args}
	}
	// Errors are made per run: gqlgen sets the path and locations of the
	// errors it is given.
	failed := func() error { return errors.New("failed") }
	coded := func() error {
		return &gqlerror.Error{Message: "coded", Extensions: map[string]any{"code": "NOT_FOUND"}}
	}
	two := func() error { return gqlerror.List{coded().(*gqlerror.Error), gqlerror.Errorf("second")} }
	cases := []struct {
		name     string
		field    *ast.Field
		nonNull  bool
		markNull bool
		value    any
		err      func() error
		panics   bool
	}{
		{name: "a value is marshalled", field: viewerRole, value: "OWNER"},
		{name: "nil of a nullable field is null", field: viewerRole},
		{name: "nil of a non-null field is an error", field: viewerRole, nonNull: true},
		{name: "nil of a field marked non-null nulls its parent", field: viewerRole, markNull: true},
		{name: "an error is reported at the field", field: viewerRole, err: failed},
		{name: "a coded error keeps its extensions", field: viewerRole, err: coded, nonNull: true},
		{name: "an error of a field marked non-null nulls its parent", field: viewerRole, err: coded, markNull: true},
		{name: "a list of errors is reported error by error", field: viewerRole, err: two},
		{name: "a panic is reported at the field", field: viewerRole, panics: true, nonNull: true},
		{name: "arguments are parsed", field: prototypes(""), value: "page"},
		{name: "a bad argument is reported at the argument", field: prototypes("not-a-cursor"), nonNull: true},
	}
	type resolution struct {
		Result               string
		Errors               []reported
		Resolved, Marshalled *fieldSeen
	}
	type resolver func(ctx context.Context, oc *graphql.OperationContext, field graphql.CollectedField,
		fieldContext func(context.Context, graphql.CollectedField) (*graphql.FieldContext, error),
		resolve func(context.Context) (any, error),
		marshal func(context.Context, ast.SelectionSet, any) graphql.Marshaler, nonNull bool) graphql.Marshaler
	gqlgens := func(ctx context.Context, oc *graphql.OperationContext, field graphql.CollectedField,
		fieldContext func(context.Context, graphql.CollectedField) (*graphql.FieldContext, error),
		resolve func(context.Context) (any, error),
		marshal func(context.Context, ast.SelectionSet, any) graphql.Marshaler, nonNull bool,
	) graphql.Marshaler {
		return graphql.ResolveField(ctx, oc, field, fieldContext, resolve, nil, marshal, true, nonNull)
	}
	for _, c := range cases {
		for _, belowFrame := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s (below a frame: %v)", c.name, belowFrame), func(t *testing.T) {
				field := graphql.CollectedField{Field: c.field}
				if c.field.Name == "prototypes" {
					field.Selections = ast.SelectionSet{&ast.Field{Alias: "totalCount", Name: "totalCount"}}
				}
				run := func(resolve resolver) resolution {
					oc := &graphql.OperationContext{
						Variables:          map[string]any{},
						RecoverFunc:        func(_ context.Context, r any) error { return fmt.Errorf("recovered: %v", r) },
						ResolverMiddleware: func(ctx context.Context, next graphql.Resolver) (any, error) { return next(ctx) },
					}
					ec := newExecutionContext(oc, NewExecutableSchema(Config{Resolvers: &Resolver{}}).(*executableSchema), nil)
					fieldContext := ec.fieldContext_Workspace_viewerRole
					if c.field.Name == "prototypes" {
						fieldContext = ec.fieldContext_Workspace_prototypes
					}
					ctx := differentialContext(oc, belowFrame)
					var r resolution
					m := resolve(ctx, oc, field, fieldContext,
						func(ctx context.Context) (any, error) {
							r.Resolved = seeField(ctx)
							if c.markNull {
								graphql.MarkNonNull(ctx)
							}
							if c.panics {
								panic("resolver")
							}
							if c.err != nil {
								return nil, c.err()
							}
							return c.value, nil
						},
						func(ctx context.Context, _ ast.SelectionSet, v any) graphql.Marshaler {
							r.Marshalled = seeField(ctx)
							return graphql.MarshalString(fmt.Sprint(v))
						}, c.nonNull)
					r.Result = written(m)
					r.Errors = reportedErrors(ctx)
					return r
				}
				want, got := run(gqlgens), run(resolveField[any])
				if len(field.Selections) == 0 && want.Marshalled != nil {
					// Where resolveField differs: a leaf keeps no result in
					// its field context, which nothing below it reads.
					want.Marshalled.fc.Result = nil
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("resolveField gave\n%s\ngqlgen's\n%s", describe(got), describe(want))
				}
			})
		}
	}
}

// describe prints v with its pointers followed.
func describe(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

// TestMarshalSliceInOrderMarshalsAsGqlgens marshals lists of 0, 1 and 3
// elements through graphql.MarshalSliceConcurrently and through
// marshalSliceInOrder, with and without a panicking element, below a root
// field and below a frame: the same array, errors and element contexts.
func TestMarshalSliceInOrderMarshalsAsGqlgens(t *testing.T) {
	type marshalled struct {
		Result   string
		Errors   []reported
		Elements []*fieldSeen
	}
	type marshalSlice func(context.Context, int, int64, bool, func(context.Context, int) graphql.Marshaler) graphql.Array
	for _, n := range []int{0, 1, 3} {
		for _, panicAt := range []int{-1, 0, 2} {
			if panicAt >= n {
				continue
			}
			for _, belowFrame := range []bool{false, true} {
				t.Run(fmt.Sprintf("%d elements, a panic at %d, below a frame: %v", n, panicAt, belowFrame), func(t *testing.T) {
					run := func(marshal marshalSlice) marshalled {
						oc := &graphql.OperationContext{RecoverFunc: func(_ context.Context, r any) error { return fmt.Errorf("recovered: %v", r) }}
						ctx := differentialContext(oc, belowFrame)
						list := &graphql.FieldContext{Object: "Workspace", Field: graphql.CollectedField{Field: &ast.Field{Alias: "items", Name: "items"}}}
						ctx = graphql.WithFieldContext(ctx, list)
						m := marshalled{Elements: make([]*fieldSeen, n)}
						array := marshal(ctx, n, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
							m.Elements[i] = seeField(ctx) // each its own index: no race
							if i == panicAt {
								panic("element")
							}
							return graphql.MarshalInt(i)
						})
						m.Result = written(array)
						m.Errors = reportedErrors(ctx)
						return m
					}
					want, got := run(graphql.MarshalSliceConcurrently), run(marshalSliceInOrder)
					if !reflect.DeepEqual(got, want) {
						t.Errorf("marshalSliceInOrder gave\n%s\ngqlgen's\n%s", describe(got), describe(want))
					}
				})
			}
		}
	}
}

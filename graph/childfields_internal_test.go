package graph

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestFieldContextsGiveTheirChildren walks the field contexts a root field
// gives through their Child functions, as a field middleware looking
// ahead does: each child has its type's object name, its field and its
// parsed arguments, down to the scalars, whose Child fails as gqlgen's
// does. The operation's context is the one a middleware gets; a context
// that does not descend from it gets an error, not a panic.
func TestFieldContextsGiveTheirChildren(t *testing.T) {
	const doc = `query {
		workspace(slug: "w") { name prototypes(first: 2) { edges { node { title iterations(first: 3) { totalCount } } } } }
	}`
	var walked []string
	var failures []string
	exec := executor.New(NewExecutableSchema(Config{Resolvers: &Resolver{}}))
	exec.AroundFields(func(ctx context.Context, next graphql.Resolver) (any, error) {
		oc := graphql.GetOperationContext(ctx)
		var walk func(fc *graphql.FieldContext)
		walk = func(fc *graphql.FieldContext) {
			children := graphql.CollectFields(oc, fc.Field.Selections, nil)
			if len(children) == 0 {
				// A scalar: its Child fails whatever is asked.
				_, err := fc.Child(ctx, fc.Field)
				failures = append(failures, fmt.Sprintf("%s.%s: %v", fc.Object, fc.Field.Name, err))
				return
			}
			for _, f := range children {
				child, err := fc.Child(ctx, f)
				if err != nil {
					t.Fatalf("%s.%s: Child(%s): %v", fc.Object, fc.Field.Name, f.Name, err)
				}
				walked = append(walked, fmt.Sprintf("%s.%s%v", child.Object, child.Field.Name, args(child.Args)))
				walk(child)
			}
		}
		fc := graphql.GetFieldContext(ctx)
		walk(fc)
		if _, err := fc.Child(context.Background(), graphql.CollectFields(oc, fc.Field.Selections, nil)[1]); !errors.Is(err, errNoExecutionContext) {
			t.Errorf("Child with a context not of the operation: %v, want errNoExecutionContext", err)
		}
		return nil, nil // the workspace is not read: null
	})
	ctx := graphql.StartOperationTrace(context.Background())
	opCtx, errs := exec.CreateOperationContext(ctx, &graphql.RawParams{Query: doc})
	if errs != nil {
		t.Fatal(errs)
	}
	ctx = graphql.WithOperationContext(ctx, opCtx)
	handler, ctx := exec.DispatchOperation(ctx, opCtx)
	if resp := handler(ctx); len(resp.Errors) > 0 {
		t.Fatal(resp.Errors)
	}
	want := []string{
		"Workspace.name[]",
		"Workspace.prototypes[first=2]",
		"PrototypeConnection.edges[]",
		"PrototypeEdge.node[]",
		"Prototype.title[]",
		"Prototype.iterations[first=3]",
		"IterationConnection.totalCount[]",
	}
	if !slices.Equal(walked, want) {
		t.Errorf("walked\n%s\nwant\n%s", strings.Join(walked, "\n"), strings.Join(want, "\n"))
	}
	wantFailures := []string{
		"Workspace.name: field of type String does not have child fields",
		"Prototype.title: field of type String does not have child fields",
		"IterationConnection.totalCount: field of type Int does not have child fields",
	}
	if !slices.Equal(failures, wantFailures) {
		t.Errorf("failures\n%s\nwant\n%s", strings.Join(failures, "\n"), strings.Join(wantFailures, "\n"))
	}
}

// args lists the arguments given (non-nil), sorted.
func args(m map[string]any) []string {
	var out []string
	for k, v := range m {
		if p, ok := v.(*int); ok && p != nil {
			out = append(out, fmt.Sprintf("%s=%d", k, *p))
		}
	}
	slices.Sort(out)
	return out
}

// TestFieldContextsAllocateOnlyThemselves counts the allocations of the
// field contexts the dashboard builds per feedback: its edge's node, its
// author (objects) and the author's displayName (a scalar resolver).
// gqlgen's allocated a Child closure beside each.
func TestFieldContextsAllocateOnlyThemselves(t *testing.T) {
	ec := newExecutionContext(&graphql.OperationContext{}, NewExecutableSchema(Config{Resolvers: &Resolver{}}).(*executableSchema), nil)
	ctx := context.Background()
	field := graphql.CollectedField{Field: &ast.Field{Alias: "f", Name: "f"}}
	for name, fieldContext := range map[string]func(context.Context, graphql.CollectedField) (*graphql.FieldContext, error){
		"FeedbackEdge.node":       ec.fieldContext_FeedbackEdge_node,
		"Feedback.author":         ec.fieldContext_Feedback_author,
		"Participant.displayName": ec.fieldContext_Participant_displayName,
	} {
		var fc *graphql.FieldContext
		allocs := testing.AllocsPerRun(100, func() { fc, _ = fieldContext(ctx, field) })
		if allocs != 1 {
			t.Errorf("%s: %v allocations per field context, want 1", name, allocs)
		}
		if fc.Child == nil {
			t.Errorf("%s: no Child", name)
		}
	}
}

// TestScalarFieldContextsAreGqlgens builds the field context of a scalar
// field through graphql.NewScalarFieldContext and through the executor's
// newScalarFieldContext, from a context of its own and from a pending
// frame's (whose field context it fills): the same field context, and a
// Child that fails with the same error.
func TestScalarFieldContextsAreGqlgens(t *testing.T) {
	field := graphql.CollectedField{Field: &ast.Field{Alias: "role", Name: "viewerRole"}}
	for _, c := range []struct {
		name                 string
		ctx                  context.Context
		isMethod, isResolver bool
	}{
		{"a resolver's, from a context of its own", context.Background(), true, true},
		{"a struct field's, from a pending frame", &fieldFrame{Context: context.Background(), pending: true}, false, false},
		{"a method's, from a pending frame", &fieldFrame{Context: context.Background(), pending: true}, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			want, wantErr := graphql.NewScalarFieldContext("Workspace", field, c.isMethod, c.isResolver, "MembershipRole")
			got, err := newScalarFieldContext(c.ctx, "Workspace", field, c.isMethod, c.isResolver, noChildFields("MembershipRole"))
			if err != nil || wantErr != nil {
				t.Fatalf("errors %v, gqlgen's %v", err, wantErr)
			}
			_, wantChildErr := want.Child(c.ctx, field)
			_, childErr := got.Child(c.ctx, field)
			if fmt.Sprint(childErr) != fmt.Sprint(wantChildErr) {
				t.Errorf("Child: %v, gqlgen's %v", childErr, wantChildErr)
			}
			gotFC, wantFC := *got, *want
			gotFC.Child, wantFC.Child = nil, nil // compared by calling them
			if !reflect.DeepEqual(gotFC, wantFC) {
				t.Errorf("field context %+v, gqlgen's %+v", gotFC, wantFC)
			}
		})
	}
}

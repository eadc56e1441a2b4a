package main

import (
	"strings"
	"testing"
)

// executor is a piece of what gqlgen writes: a plain field, an edge's
// node, a method that can fail, a field with a directive, and an object.
const executor = `package graph

func (ec *executionContext) _Feedback_body(ctx context.Context, field graphql.CollectedField, obj *ent.Feedback) (ret graphql.Marshaler) {
	return graphql.ResolveField(
		ctx,
		ec.OperationContext,
		field,
		func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {
			return ec.fieldContext_Feedback_body(ctx, field)
		},
		func(ctx context.Context) (any, error) {
			return obj.Body, nil
		},
		nil,
		func(ctx context.Context, selections ast.SelectionSet, v string) graphql.Marshaler {
			return ec.marshalNString2string(ctx, selections, v)
		},
		true,
		true,
	)
}

func (ec *executionContext) _FeedbackEdge_node(ctx context.Context, field graphql.CollectedField, obj *ent.FeedbackEdge) (ret graphql.Marshaler) {
	return graphql.ResolveField(
		ctx,
		ec.OperationContext,
		field,
		func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {
			return ec.fieldContext_FeedbackEdge_node(ctx, field)
		},
		func(ctx context.Context) (any, error) {
			return obj.Node, nil
		},
		nil,
		func(ctx context.Context, selections ast.SelectionSet, v *ent.Feedback) graphql.Marshaler {
			return ec.marshalOFeedback2ᚖentᚐFeedback(ctx, selections, v)
		},
		true,
		false,
	)
}

func (ec *executionContext) _Feedback_author(ctx context.Context, field graphql.CollectedField, obj *ent.Feedback) (ret graphql.Marshaler) {
	return graphql.ResolveField(
		ctx,
		ec.OperationContext,
		field,
		func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {
			return ec.fieldContext_Feedback_author(ctx, field)
		},
		func(ctx context.Context) (any, error) {
			return obj.Author(ctx)
		},
		nil,
		func(ctx context.Context, selections ast.SelectionSet, v *ent.Participant) graphql.Marshaler {
			return ec.marshalNParticipant2ᚖentᚐParticipant(ctx, selections, v)
		},
		true,
		true,
	)
}

func (ec *executionContext) _Feedback_secret(ctx context.Context, field graphql.CollectedField, obj *ent.Feedback) (ret graphql.Marshaler) {
	return graphql.ResolveField(
		ctx,
		ec.OperationContext,
		field,
		func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {
			return ec.fieldContext_Feedback_secret(ctx, field)
		},
		func(ctx context.Context) (any, error) {
			return obj.Secret, nil
		},
		func(ctx context.Context, next graphql.Resolver) graphql.Resolver {
			return ec.directives.Hidden(ctx, obj, next)
		},
		func(ctx context.Context, selections ast.SelectionSet, v string) graphql.Marshaler {
			return ec.marshalNString2string(ctx, selections, v)
		},
		true,
		true,
	)
}

func (ec *executionContext) _Feedback(ctx context.Context, sel ast.SelectionSet, obj *ent.Feedback) graphql.Marshaler {
	fields := graphql.CollectFields(ec.OperationContext, sel, feedbackImplementors)

	out := graphql.NewFieldSet(fields)
	for i, field := range fields {
		switch field.Name {
		case "body":
			out.Values[i] = ec._Feedback_body(ctx, field, obj)
		}
	}
	out.Dispatch(ctx)
	if out.Invalids > 0 {
		return graphql.Null
	}
	return marshalObject(fields, out)
}

func (ec *executionContext) marshalNString2string(ctx context.Context, sel ast.SelectionSet, v string) graphql.Marshaler {
	_ = sel
	res := graphql.MarshalString(v)
	if res == graphql.Null {
		if !graphql.HasFieldError(ctx, graphql.GetFieldContext(ctx)) {
			graphql.AddErrorf(ctx, "the requested element is null which the schema does not allow")
		}
	}
	return res
}

func (ec *executionContext) marshalOFeedback2ᚖentᚐFeedback(ctx context.Context, sel ast.SelectionSet, v *ent.Feedback) graphql.Marshaler {
	if v == nil {
		return graphql.Null
	}
	return ec._Feedback(ctx, sel, v)
}

func (ec *executionContext) marshalNParticipant2ᚖentᚐParticipant(ctx context.Context, sel ast.SelectionSet, v *ent.Participant) graphql.Marshaler {
	if v == nil {
		if !graphql.HasFieldError(ctx, graphql.GetFieldContext(ctx)) {
			graphql.AddErrorf(ctx, "the requested element is null which the schema does not allow")
		}
		return graphql.Null
	}
	return ec._Participant(ctx, sel, v)
}
`

func TestFieldsAreRewrittenByWhatTheyRead(t *testing.T) {
	out, err := resolvePlainFields("generated.go", []byte(executor))
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, want := range []string{
		// A scalar read from a struct field: its marshaller, no field context.
		"{\n\treturn ec.marshalNString2string(ctx, field.Selections, obj.Body)\n}",
		// An edge's node: its field context kept, the read as the resolver.
		"return resolveField(ctx, ec.OperationContext, field, ec.fieldContext_FeedbackEdge_node,\n\t\tfunc(ctx context.Context) (*ent.Feedback, error) {\n\treturn obj.Node, nil\n},\n\t\tec.marshalOFeedback2ᚖentᚐFeedback, false)",
		// A method that can fail: gqlgen's resolver body, typed.
		"func(ctx context.Context) (*ent.Participant, error) {\n\treturn obj.Author(ctx)\n},\n\t\tec.marshalNParticipant2ᚖentᚐParticipant, true)",
		// A field with a directive is left to gqlgen.
		"return ec.directives.Hidden(ctx, obj, next)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rewritten executor lacks\n%s\n\ngot:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "graphql.ResolveField("); n != 1 {
		t.Errorf("%d fields left to graphql.ResolveField, want 1 (the one with a directive)", n)
	}
}

func TestObjectsFillObjectFields(t *testing.T) {
	out, err := fillObjectsInPlace("generated.go", []byte(executor))
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, gone := range []string{"graphql.NewFieldSet", "out.Dispatch", "marshalObject"} {
		if strings.Contains(got, gone) {
			t.Errorf("rewritten object still holds %s:\n%s", gone, got)
		}
	}
	if !strings.Contains(got, "out := newObjectFields(fields)") || !strings.Contains(got, "\treturn out\n}") {
		t.Errorf("object not rewritten to fill an objectFields:\n%s", got)
	}
}

// TestGenerationFailsWhenGqlgenChanges: an executor in which no pattern
// is found fails generation rather than silently keeping gqlgen's code.
func TestGenerationFailsWhenGqlgenChanges(t *testing.T) {
	changed := strings.ReplaceAll(executor, "graphql.ResolveField(", "graphql.ResolveFieldV2(")
	changed = strings.ReplaceAll(changed, "graphql.NewFieldSet(fields)", "graphql.NewFieldSetV2(fields)")
	if _, err := resolvePlainFields("generated.go", []byte(changed)); err == nil {
		t.Error("resolvePlainFields rewrote nothing and did not fail")
	}
	if _, err := fillObjectsInPlace("generated.go", []byte(changed)); err == nil {
		t.Error("fillObjectsInPlace rewrote nothing and did not fail")
	}
}

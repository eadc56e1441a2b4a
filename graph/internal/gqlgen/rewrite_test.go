package main

import (
	"fmt"
	"strings"
	"testing"
)

// gqlgenField is gqlgen's resolution of a field, as it writes it.
func gqlgenField(name, resolver, middleware, valueType, marshal, nonNull string) string {
	return fmt.Sprintf(`
func (ec *executionContext) _%[1]s(ctx context.Context, field graphql.CollectedField, obj *ent.Feedback) (ret graphql.Marshaler) {
	return graphql.ResolveField(
		ctx,
		ec.OperationContext,
		field,
		func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {
			return ec.fieldContext_%[1]s(ctx, field)
		},
		func(ctx context.Context) (any, error) {
			%[2]s
		},
		%[3]s,
		func(ctx context.Context, selections ast.SelectionSet, v %[4]s) graphql.Marshaler {
			return ec.%[5]s(ctx, selections, v)
		},
		true,
		%[6]s,
	)
}
`, name, resolver, middleware, valueType, marshal, nonNull)
}

// executor is a piece of what gqlgen writes: a plain field, a time, an
// edge's node, a method that can fail, a field with a directive, and an
// object; the time's marshaller as the executor's rewrites leave it.
var executor = "package graph\n" +
	gqlgenField("Feedback_body", "return obj.Body, nil", "nil", "string", "marshalNString2string", "true") +
	gqlgenField("Feedback_createdAt", "return obj.CreatedAt, nil", "nil", "time.Time", "marshalNTime2timeᚐTime", "true") +
	gqlgenField("FeedbackEdge_node", "return obj.Node, nil", "nil", "*ent.Feedback", "marshalOFeedback2ᚖentᚐFeedback", "false") +
	gqlgenField("Feedback_author", "return obj.Author(ctx)", "nil", "*ent.Participant", "marshalNParticipant2ᚖentᚐParticipant", "true") +
	gqlgenField("Feedback_secret", "return obj.Secret, nil",
		"func(ctx context.Context, next graphql.Resolver) graphql.Resolver {\n\t\t\treturn ec.directives.Hidden(ctx, obj, next)\n\t\t}",
		"string", "marshalNString2string", "true") + `
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

func (ec *executionContext) marshalNTime2timeᚐTime(ctx context.Context, sel ast.SelectionSet, v time.Time) graphql.Marshaler {
	_ = sel
	res := marshalTime(v)
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
		// A time: a plain field when it is set, else resolved with its
		// field context, which its null error needs.
		"{\n\tif !obj.CreatedAt.IsZero() {\n\t\treturn timeAt{&obj.CreatedAt}\n\t}\n\treturn resolveField(ctx, ec.OperationContext, field, ec.fieldContext_Feedback_createdAt,\n\t\tfunc(ctx context.Context) (time.Time, error) {\n\treturn obj.CreatedAt, nil\n},\n\t\tec.marshalNTime2timeᚐTime, true)\n}",
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
	if !strings.Contains(got, "out := newObjectFieldsIn(ctx, fields)") || !strings.Contains(got, "\treturn out\n}") {
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

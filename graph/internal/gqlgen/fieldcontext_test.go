package main

import (
	"strings"
	"testing"
)

// plainFields is a piece of the executor as resolvePlainFields leaves it:
// plain fields of an object held by pointer (a String, an enum, a
// nullable Int), one of an object held by value, and the marshallers as
// gqlgen writes them, one of them of a custom scalar.
const plainFields = `package graph

func (ec *executionContext) _Feedback_body(ctx context.Context, field graphql.CollectedField, obj *ent.Feedback) (ret graphql.Marshaler) {
	return ec.marshalNString2string(ctx, field.Selections, obj.Body)
}

func (ec *executionContext) _Feedback_kind(ctx context.Context, field graphql.CollectedField, obj *ent.Feedback) (ret graphql.Marshaler) {
	return ec.marshalNFeedbackKind2feedbackᚐKind(ctx, field.Selections, obj.Kind)
}

func (ec *executionContext) _Feedback_rating(ctx context.Context, field graphql.CollectedField, obj *ent.Feedback) (ret graphql.Marshaler) {
	return ec.marshalOInt2ᚖint(ctx, field.Selections, obj.Rating)
}

func (ec *executionContext) _Feedback_payload(ctx context.Context, field graphql.CollectedField, obj *ent.Feedback) (ret graphql.Marshaler) {
	return ec.marshalNMap2map(ctx, field.Selections, obj.Payload)
}

func (ec *executionContext) _Count_kind(ctx context.Context, field graphql.CollectedField, obj Count) (ret graphql.Marshaler) {
	return ec.marshalNString2string(ctx, field.Selections, obj.Kind)
}

func (ec *executionContext) marshalNString2string(ctx context.Context, sel ast.SelectionSet, v string) graphql.Marshaler {
	_ = sel
	res := graphql.MarshalString(v)
	if res == graphql.Null {
		graphql.AddInvalidNullFromMarshaler(ctx, "String!")
	}
	return res
}

func (ec *executionContext) marshalNFeedbackKind2feedbackᚐKind(ctx context.Context, sel ast.SelectionSet, v feedback.Kind) graphql.Marshaler {
	return v
}

func (ec *executionContext) marshalOInt2ᚖint(ctx context.Context, sel ast.SelectionSet, v *int) graphql.Marshaler {
	if v == nil {
		return graphql.Null
	}
	_ = sel
	_ = ctx
	res := graphql.MarshalInt(*v)
	return res
}

func (ec *executionContext) marshalNMap2map(ctx context.Context, sel ast.SelectionSet, v map[string]any) graphql.Marshaler {
	_ = sel
	res := graphql.MarshalMap(v)
	return res
}
`

func TestPlainFieldsAreMarshalledByPointer(t *testing.T) {
	out, err := marshalFieldsByPointer("generated.go", []byte(plainFields))
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, want := range []string{
		"{\n\treturn stringAt{&obj.Body}\n}",
		"{\n\treturn &obj.Kind\n}",
		"{\n\treturn marshalIntAt(obj.Rating)\n}",
		// Another marshaller, and an object held by value: as they were.
		"return ec.marshalNMap2map(ctx, field.Selections, obj.Payload)",
		"return ec.marshalNString2string(ctx, field.Selections, obj.Kind)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rewritten executor lacks\n%s\n\ngot:\n%s", want, got)
		}
	}
	// A marshaller is told by its syntax tree, as resolvePlainFields
	// tells it: laid out otherwise, with another never-taken null check
	// (an earlier gqlgen's), it is the same marshaller.
	relaid := strings.Replace(plainFields, `	res := graphql.MarshalString(v)
	if res == graphql.Null {
		graphql.AddInvalidNullFromMarshaler(ctx, "String!")
	}
	return res`, `	res := graphql.MarshalString(v)
	if res == graphql.Null {
		if !graphql.HasFieldError(ctx, graphql.GetFieldContext(ctx)) {
			graphql.AddErrorf(ctx, "the requested element is null which the schema does not allow")
		}
	}

	return res // the value`, 1)
	if relaid == plainFields {
		t.Fatal("no String marshaller to lay out otherwise")
	}
	if out, err := marshalFieldsByPointer("generated.go", []byte(relaid)); err != nil || !strings.Contains(string(out), "{\n\treturn stringAt{&obj.Body}\n}") {
		t.Errorf("a String marshaller laid out otherwise was not recognised (%v):\n%s", err, out)
	}
	// A String's marshaller that can return null (whose null check is
	// taken) is not one whose field can be written by pointer.
	nullable := strings.Replace(plainFields, "res := graphql.MarshalString(v)", "res := graphql.MarshalMap(v)", 1)
	if out, err := marshalFieldsByPointer("generated.go", []byte(nullable)); err != nil || strings.Contains(string(out), "stringAt{&obj.Body}") {
		t.Errorf("a marshaller that may return null was marshalled by pointer (%v):\n%s", err, out)
	}

	changed := strings.ReplaceAll(plainFields, "graphql.MarshalString(v)", "graphql.MarshalStringV2(v)")
	changed = strings.ReplaceAll(changed, "graphql.MarshalInt(*v)", "graphql.MarshalIntV2(*v)")
	if _, err := marshalFieldsByPointer("generated.go", []byte(changed)); err == nil {
		t.Error("marshalFieldsByPointer rewrote no String or Int field and did not fail")
	}
}

// fieldContexts is a piece of the executor as gqlgen writes it: the
// operations' runs of their root objects, and the field contexts of an
// object field and of a scalar field.
const fieldContexts = `package graph

func (e *executableSchema) Exec(ctx context.Context) graphql.ResponseHandler {
	switch opCtx.Operation.Operation {
	case ast.Query:
		return func(ctx context.Context) *graphql.Response {
			if first {
				data = ec._Query(ctx, opCtx.Operation.SelectionSet)
			}
		}
	case ast.Mutation:
		return func(ctx context.Context) *graphql.Response {
			data := ec._Mutation(ctx, opCtx.Operation.SelectionSet)
		}
	case ast.Subscription:
		next := ec._Subscription(ctx, opCtx.Operation.SelectionSet)
	default:
		return graphql.OneShot(graphql.ErrorResponse(ctx, "unsupported GraphQL operation"))
	}
}

func (ec *executionContext) fieldContext_FeedbackEdge_node(_ context.Context, field graphql.CollectedField) (fc *graphql.FieldContext, err error) {
	fc = &graphql.FieldContext{
		Object:     "FeedbackEdge",
		Field:      field,
		IsMethod:   false,
		IsResolver: false,
		Child: func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {
			return ec.childFields_Feedback(ctx, field)
		},
	}
	return fc, nil
}

func (ec *executionContext) fieldContext_Feedback_body(_ context.Context, field graphql.CollectedField) (fc *graphql.FieldContext, err error) {
	return graphql.NewScalarFieldContext("Feedback", field, false, false, "String")
}
`

func TestFieldContextsShareChildFunctionsAndFillFrames(t *testing.T) {
	out, err := shareChildFunctions("generated.go", []byte(fieldContexts))
	if err == nil {
		out, err = fillFieldContextsInFrames("generated.go", out)
	}
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, want := range []string{
		"data = ec._Query(withExecutionContext(ctx, ec), opCtx.Operation.SelectionSet)",
		"data := ec._Mutation(withExecutionContext(ctx, ec), opCtx.Operation.SelectionSet)",
		"next := ec._Subscription(withExecutionContext(ctx, ec), ",
		"fieldContext_FeedbackEdge_node(ctx context.Context, field",
		"\tfc = fieldContextIn(ctx)\n\t*fc = graphql.FieldContext{\n",
		"Child: childFieldsOf_Feedback,",
		"fieldContext_Feedback_body(ctx context.Context, field",
		`return newScalarFieldContext(ctx, "Feedback", field, false, false, noChildFieldsOf_String)`,
		"func childFieldsOf_Feedback(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {",
		"\treturn ec.childFields_Feedback(ctx, field)\n}",
		`noChildFieldsOf_String = noChildFields("String")`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rewritten executor lacks\n%s\n\ngot:\n%s", want, got)
		}
	}
	for _, change := range []struct{ name, from, to string }{
		{"a mutation run otherwise", "ec._Mutation(ctx, opCtx.Operation.SelectionSet)", "ec._Mutation(ctx, opCtx.Operation.SelectionSet, nil)"},
		{"a query run twice", "data = ec._Query(ctx, opCtx.Operation.SelectionSet)", "data = ec._Query(ctx, opCtx.Operation.SelectionSet)\n\t\t\tdata = ec._Query(ctx, opCtx.Operation.SelectionSet)"},
		{"no switch on the operation's type", "switch opCtx.Operation.Operation {", "switch opCtx.Operation.Kind {"},
	} {
		if !strings.Contains(fieldContexts, change.from) {
			t.Fatalf("%s: no %q to change", change.name, change.from)
		}
		if _, err := shareChildFunctions("generated.go", []byte(strings.Replace(fieldContexts, change.from, change.to, 1))); err == nil {
			t.Errorf("%s: shareChildFunctions did not fail", change.name)
		}
	}
	shared, err := shareChildFunctions("generated.go", []byte(fieldContexts))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fillFieldContextsInFrames("generated.go", []byte(strings.Replace(string(shared), "fc = &graphql.FieldContext{", "fc = graphql.NewFieldContext(", 1))); err == nil {
		t.Error("fillFieldContextsInFrames left a field context function allocating its own and did not fail")
	}
}

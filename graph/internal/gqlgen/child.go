package main

import (
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"slices"
)

// objectChild is the Child closure gqlgen writes in the field context of
// a field of an object type: it captures the executor, so each field
// context allocates it.
var objectChild = regexp.MustCompile(`Child: func\(ctx context\.Context, field graphql\.CollectedField\) \(\*graphql\.FieldContext, error\) \{\n\t*return ec\.childFields_(\w+)\(ctx, field\)\n\t*\},`)

// scalarFieldContext is gqlgen's field context of a scalar or enum
// field, whose Child closure captures the type's name.
var scalarFieldContext = regexp.MustCompile(`graphql\.NewScalarFieldContext\(("\w+"), field, (true|false), (true|false), "(\w+)"\)`)

// executorContexts put the executor into the context of every operation
// it runs, where the Child functions find it (graph/childfields.go): the
// query's and the mutation's (after the same line each), and the
// subscription's.
var executorContexts = []struct {
	from, to string
	n        int
}{
	{
		"ctx = graphql.WithLazyInputUnmarshalerIndex(ctx, inputUnmarshalers)\n",
		"ctx = graphql.WithLazyInputUnmarshalerIndex(ctx, inputUnmarshalers)\nctx = withExecutionContext(ctx, ec)\n",
		2,
	},
	{
		"next := ec._Subscription(ctx, opCtx.Operation.SelectionSet)",
		"next := ec._Subscription(withExecutionContext(ctx, ec), opCtx.Operation.SelectionSet)",
		1,
	},
}

// shareChildFunctions has the executor's field contexts take a Child
// function built once per type instead of a closure built per field
// context (see graph/childfields.go): for a field of an object type,
// childFieldsOf_T, which finds the executor in its context; for a scalar
// or an enum, noChildFieldsOf_T through newScalarFieldContext. Both are
// declared at the end of the executor. Rewriting none of either, or
// leaving one of gqlgen's closures over the executor, fails generation.
func shareChildFunctions(filename string, src []byte) ([]byte, error) {
	for _, r := range executorContexts {
		if n := bytes.Count(src, []byte(r.from)); n != r.n {
			return nil, fmt.Errorf("%s: %q appears %d times, not %d; has gqlgen changed?", filename, r.from, n, r.n)
		}
		src = bytes.ReplaceAll(src, []byte(r.from), []byte(r.to))
	}
	objects := map[string]bool{}
	src = objectChild.ReplaceAllFunc(src, func(m []byte) []byte {
		typ := string(objectChild.FindSubmatch(m)[1])
		objects[typ] = true
		return []byte("Child: childFieldsOf_" + typ + ",")
	})
	scalars := map[string]bool{}
	src = scalarFieldContext.ReplaceAllFunc(src, func(m []byte) []byte {
		sub := scalarFieldContext.FindSubmatch(m)
		typ := string(sub[4])
		scalars[typ] = true
		return fmt.Appendf(nil, "newScalarFieldContext(%s, field, %s, %s, noChildFieldsOf_%s)", sub[1], sub[2], sub[3], typ)
	})
	if len(objects) == 0 || len(scalars) == 0 {
		return nil, fmt.Errorf("%s: rewrote the Child closures of %d object and %d scalar types; has gqlgen changed?", filename, len(objects), len(scalars))
	}
	if bytes.Contains(src, []byte("return ec.childFields_")) || bytes.Contains(src, []byte("graphql.NewScalarFieldContext(")) {
		return nil, fmt.Errorf("%s: a field context still builds its Child closure; has gqlgen changed?", filename)
	}
	var b bytes.Buffer
	b.Write(src)
	// Functions rather than variables for object types: their
	// childFields_T refer to each other's through the field contexts,
	// which package variables may not (an initialization cycle).
	b.WriteString("\n// The Child functions of the field contexts, one per type (graph/childfields.go).\n")
	for _, typ := range slices.Sorted(maps.Keys(objects)) {
		fmt.Fprintf(&b, `
func childFieldsOf_%[1]s(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {
	ec, err := executionContextOf(ctx)
	if err != nil {
		return nil, err
	}
	return ec.childFields_%[1]s(ctx, field)
}
`, typ)
	}
	b.WriteString("\nvar (\n")
	for _, typ := range slices.Sorted(maps.Keys(scalars)) {
		fmt.Fprintf(&b, "\tnoChildFieldsOf_%[1]s = noChildFields(%[1]q)\n", typ)
	}
	b.WriteString(")\n")
	return b.Bytes(), nil
}

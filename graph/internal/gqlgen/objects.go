package main

import (
	"bytes"
	"fmt"
	"go/ast"
)

// objectRewrites turn an object's marshaller from a graphql.FieldSet to
// an objectFields (graph/inorder.go): at most one allocation per object,
// none when its field's frame has one to spare, instead of three (the
// FieldSet, its values and marshalObject's writer).
var objectRewrites = []struct{ from, to string }{
	{"out := graphql.NewFieldSet(fields)", "out := newObjectFieldsIn(ctx, fields)"},
	// Dispatch waits for the fields resolved concurrently: there are none.
	{"\n\tout.Dispatch(ctx)\n", "\n"},
	{"return marshalObject(fields, out)", "return out"},
}

// fillObjectsInPlace has the marshallers of the objects whose fields are
// resolved one after the other (every object but Query) fill an
// objectFields rather than a graphql.FieldSet. Query, whose fields run
// concurrently (ResolveRootConcurrently, atomic counts of invalid fields),
// keeps its FieldSet, which it waits for. Each rewritten marshaller must
// hold every pattern once; rewriting none fails generation.
func fillObjectsInPlace(filename string, src []byte) ([]byte, error) {
	fset, methods, err := parseMethods(filename, src)
	if err != nil {
		return nil, err
	}
	var edits []edit
	for name, fn := range methods {
		from := fset.Position(fn.Body.Lbrace).Offset
		to := fset.Position(fn.Body.Rbrace).Offset + 1
		body := src[from:to]
		if !bytes.Contains(body, []byte(objectRewrites[0].from)) || concurrent(fn) {
			continue
		}
		for _, r := range objectRewrites {
			if n := bytes.Count(body, []byte(r.from)); n != 1 {
				return nil, fmt.Errorf("%s: %s holds %q %d times, not once; has gqlgen changed?", filename, name, r.from, n)
			}
			body = bytes.Replace(body, []byte(r.from), []byte(r.to), 1)
		}
		edits = append(edits, edit{from: from, to: to, text: string(body)})
	}
	if len(edits) == 0 {
		return nil, fmt.Errorf("%s: no object marshaller to fill an objectFields; has gqlgen changed?", filename)
	}
	return applyEdits(src, edits), nil
}

// concurrent reports whether a marshaller resolves fields concurrently or
// counts invalid fields atomically, as the root objects' do.
func concurrent(fn *ast.FuncDecl) bool {
	found := false
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if s, ok := n.(*ast.SelectorExpr); ok && (isIdent(s.X, "atomic") && s.Sel.Name == "AddUint32" || s.Sel.Name == "ResolveRootConcurrently") {
			found = true
		}
		return !found
	})
	return found
}

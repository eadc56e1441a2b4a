package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/printer"
	"strings"
	"unicode"
)

// pointerMarshallers are the bodies (spaces removed) of the executor's
// marshallers of Strings and Ints, and what a plain field that reads a
// struct field F of its parent returns instead of calling them: a
// pointer to the field, in a marshaller that holds only the pointer
// (graph/scalarat.go).
var pointerMarshallers = []struct{ body, to string }{
	{`{_=selres:=graphql.MarshalString(v)ifres==graphql.Null{graphql.AddInvalidNullFromMarshaler(ctx,"String!")}returnres}`, "stringAt{&%s}"},
	{`{_=selres:=graphql.MarshalInt(v)ifres==graphql.Null{graphql.AddInvalidNullFromMarshaler(ctx,"Int!")}returnres}`, "intAt{&%s}"},
	{`{ifv==nil{returngraphql.Null}_=sel_=ctxres:=graphql.MarshalString(*v)returnres}`, "marshalStringAt(%s)"},
	{`{ifv==nil{returngraphql.Null}_=sel_=ctxres:=graphql.MarshalInt(*v)returnres}`, "marshalIntAt(%s)"},
}

// marshalFieldsByPointer has the plain fields (resolvePlainFields) of
// objects held by pointer return a pointer to their struct field rather
// than their marshaller's value, which allocated once per field (see
// graph/scalarat.go): for a marshaller that returns its value as it is
// (`return v`, an enum's or an ID's, whose MarshalGQL has a value
// receiver), the field's address itself; for a String or an Int, one of
// pointerMarshallers. Other plain fields keep their marshaller. Rewriting
// none of either kind fails generation.
func marshalFieldsByPointer(filename string, src []byte) ([]byte, error) {
	fset, methods, err := parseMethods(filename, src)
	if err != nil {
		return nil, err
	}
	source := func(n ast.Node) string {
		var b bytes.Buffer
		if err := printer.Fprint(&b, fset, n); err != nil {
			panic(err) // printing a parsed tree into a buffer does not fail
		}
		return b.String()
	}
	var edits []edit
	values, scalars := 0, 0
	for _, fn := range methods {
		marshal, read, ok := plainFieldOfPointer(fn)
		if !ok || methods[marshal] == nil {
			continue
		}
		m := methods[marshal]
		body := strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, source(m.Body))
		var to string
		switch {
		case body == "{returnv}" && namedValue(m):
			values++
			to = "&" + source(read)
		default:
			for _, p := range pointerMarshallers {
				if body == p.body {
					scalars++
					to = fmt.Sprintf(p.to, source(read))
				}
			}
		}
		if to == "" {
			continue
		}
		edits = append(edits, edit{
			from: fset.Position(fn.Body.Lbrace).Offset,
			to:   fset.Position(fn.Body.Rbrace).Offset + 1,
			text: "{\n\treturn " + to + "\n}",
		})
	}
	if values == 0 || scalars == 0 {
		return nil, fmt.Errorf("%s: %d plain fields of enums or IDs and %d of Strings or Ints to marshal by pointer; has gqlgen changed?", filename, values, scalars)
	}
	return applyEdits(src, edits), nil
}

// plainFieldOfPointer reports whether fn is a plain field as
// resolvePlainFields writes it, of an object held by pointer:
//
//	func (ec *executionContext) _T_f(ctx context.Context, field graphql.CollectedField, obj *T) (ret graphql.Marshaler) {
//		return ec.marshalX(ctx, field.Selections, obj.F)
//	}
//
// and returns marshalX and obj.F.
func plainFieldOfPointer(fn *ast.FuncDecl) (marshal string, read *ast.SelectorExpr, ok bool) {
	if !strings.HasPrefix(fn.Name.Name, "_") || len(fn.Body.List) != 1 ||
		len(fn.Type.Params.List) != 3 || !paramNamed(fn, 2, "obj") {
		return "", nil, false
	}
	if _, ok := fn.Type.Params.List[2].Type.(*ast.StarExpr); !ok {
		return "", nil, false
	}
	ret, ok := fn.Body.List[0].(*ast.ReturnStmt)
	if !ok || len(ret.Results) != 1 {
		return "", nil, false
	}
	call, ok := ret.Results[0].(*ast.CallExpr)
	if !ok || len(call.Args) != 3 || !isIdent(call.Args[0], "ctx") || !isSelector(call.Args[1], "field", "Selections") {
		return "", nil, false
	}
	m, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || !isIdent(m.X, "ec") {
		return "", nil, false
	}
	read, ok = call.Args[2].(*ast.SelectorExpr)
	if !ok || !isIdent(read.X, "obj") {
		return "", nil, false
	}
	return m.Sel.Name, read, true
}

// namedValue reports whether a marshaller's value v is of a named type
// that is neither a pointer nor an interface nor a built-in: one whose
// own MarshalGQL it returns, so that a pointer to it is a marshaller too.
func namedValue(fn *ast.FuncDecl) bool {
	if !paramNamed(fn, 2, "v") {
		return false
	}
	switch t := fn.Type.Params.List[2].Type.(type) {
	case *ast.SelectorExpr:
		return true // pkg.T
	case *ast.Ident:
		// T of this package: parseMethods resolves no identifiers
		// (parser.SkipObjectResolution), so a built-in is told by name.
		return !builtin[t.Name]
	}
	return false
}

// builtin are the predeclared types a marshaller's value may have.
var builtin = map[string]bool{
	"any": true, "bool": true, "string": true, "int": true, "int32": true, "int64": true,
	"uint": true, "uint32": true, "uint64": true, "float32": true, "float64": true, "error": true,
}

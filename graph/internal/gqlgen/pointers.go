package main

import (
	"fmt"
	"go/ast"
	"go/token"
	"strings"
)

// byPointer maps gqlgen's marshallers of Strings and Ints to what a plain
// field that reads a struct field F of its parent returns instead of
// calling the executor's marshaller around them: a pointer to the field,
// in a marshaller that holds only the pointer (graph/scalarat.go), for
// a non-null scalar (F is a T) and a nullable one (F is a *T).
var byPointer = map[string]struct{ nonNull, nullable string }{
	"MarshalString": {"stringAt{&%s}", "marshalStringAt(%s)"},
	"MarshalInt":    {"intAt{&%s}", "marshalIntAt(%s)"},
	"MarshalInt64":  {"int64At{&%s}", "marshalInt64At(%s)"},
}

// marshalFieldsByPointer has the plain fields (resolvePlainFields) of
// objects held by pointer return a pointer to their struct field rather
// than their marshaller's value, which allocated once per field (see
// graph/scalarat.go): for a marshaller that returns its value as it is
// (`return v`, an enum's or an ID's, whose MarshalGQL has a value
// receiver), the field's address itself; for a cursor's (`return
// cursorMarshaler(v)`), that address as a *cursorMarshaler; for a String
// or an Int, what byPointer says. Marshallers are recognised by their
// syntax tree, as resolvePlainFields recognises them (contextFree). Other
// plain fields keep their marshaller. Rewriting none of either kind fails
// generation.
func marshalFieldsByPointer(filename string, src []byte) ([]byte, error) {
	fset, methods, err := parseMethods(filename, src)
	if err != nil {
		return nil, err
	}
	var edits []edit
	values, scalars := 0, 0
	for _, fn := range methods {
		marshal, read, ok := plainFieldOfPointer(fn)
		if !ok || methods[marshal] == nil {
			continue
		}
		m := methods[marshal]
		field, err := source(fset, read)
		if err != nil {
			return nil, err
		}
		var to string
		if returnsItsValue(m) && namedValue(m) {
			values++
			to = "&" + field
		} else if returnsCursorOfValue(m) {
			values++
			to = "(*cursorMarshaler)(&" + field + ")"
		} else if name, nullable, ok := scalarMarshaller(m); ok {
			if p, ok := byPointer[name]; ok {
				scalars++
				to = fmt.Sprintf(p.nonNull, field)
				if nullable {
					to = fmt.Sprintf(p.nullable, field)
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

// returnsCursorOfValue reports whether a marshaller's body is `return
// cursorMarshaler(v)`, as rewriteCursorMarshallers writes a cursor's:
// cursorMarshaler's MarshalGQL has a value receiver, so a pointer to the
// field, converted, marshals it too.
func returnsCursorOfValue(fn *ast.FuncDecl) bool {
	if !paramNamed(fn, 2, "v") || len(fn.Body.List) != 1 {
		return false
	}
	r, ok := fn.Body.List[0].(*ast.ReturnStmt)
	if !ok || len(r.Results) != 1 {
		return false
	}
	call, ok := r.Results[0].(*ast.CallExpr)
	return ok && isIdent(call.Fun, "cursorMarshaler") && len(call.Args) == 1 && isIdent(call.Args[0], "v")
}

// returnsItsValue reports whether a marshaller's body is `return v`.
func returnsItsValue(fn *ast.FuncDecl) bool {
	if !paramNamed(fn, 2, "v") || len(fn.Body.List) != 1 {
		return false
	}
	r, ok := fn.Body.List[0].(*ast.ReturnStmt)
	return ok && len(r.Results) == 1 && isIdent(r.Results[0], "v")
}

// scalarMarshaller reports whether fn is a marshaller that returns what a
// function of gqlgen's graphql package makes of its value and nothing
// else, as gqlgen writes one for a non-null scalar:
//
//	_ = sel
//	res := graphql.MarshalString(v)
//	if res == graphql.Null { … } // never taken: see contextFree
//	return res
//
// or for a nullable one (nullable is then true):
//
//	if v == nil {
//		return graphql.Null
//	}
//	_ = sel
//	_ = ctx
//	res := graphql.MarshalString(*v)
//	return res
//
// and returns the function's name (MarshalString).
func scalarMarshaller(fn *ast.FuncDecl) (name string, nullable, ok bool) {
	if !paramNamed(fn, 2, "v") || !contextFree(fn) {
		return "", false, false
	}
	stmts := fn.Body.List
	if len(stmts) > 0 && returnsNullOnNil(stmts[0]) {
		nullable, stmts = true, stmts[1:]
	}
	for len(stmts) > 0 && assignsToBlank(stmts[0]) {
		stmts = stmts[1:]
	}
	if len(stmts) < 2 {
		return "", false, false
	}
	def, ok := stmts[0].(*ast.AssignStmt)
	if !ok || def.Tok != token.DEFINE || len(def.Lhs) != 1 || !isIdent(def.Lhs[0], "res") || len(def.Rhs) != 1 {
		return "", false, false
	}
	call, ok := def.Rhs[0].(*ast.CallExpr)
	if !ok || len(call.Args) != 1 {
		return "", false, false
	}
	f, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || !isIdent(f.X, "graphql") {
		return "", false, false
	}
	arg := call.Args[0]
	if nullable {
		star, ok := arg.(*ast.StarExpr)
		if !ok {
			return "", false, false
		}
		arg = star.X
	}
	if !isIdent(arg, "v") {
		return "", false, false
	}
	stmts = stmts[1:]
	if check, ok := stmts[0].(*ast.IfStmt); ok && comparesToNull(check.Cond, "res") && check.Else == nil {
		stmts = stmts[1:] // contextFree checked that it is never taken
	}
	if len(stmts) != 1 {
		return "", false, false
	}
	r, ok := stmts[0].(*ast.ReturnStmt)
	if !ok || len(r.Results) != 1 || !isIdent(r.Results[0], "res") {
		return "", false, false
	}
	return f.Sel.Name, nullable, true
}

// returnsNullOnNil reports whether stmt is `if v == nil { return graphql.Null }`.
func returnsNullOnNil(stmt ast.Stmt) bool {
	s, ok := stmt.(*ast.IfStmt)
	if !ok || s.Init != nil || s.Else != nil || len(s.Body.List) != 1 {
		return false
	}
	b, ok := s.Cond.(*ast.BinaryExpr)
	if !ok || b.Op != token.EQL || !isIdent(b.X, "v") || !isIdent(b.Y, "nil") {
		return false
	}
	r, ok := s.Body.List[0].(*ast.ReturnStmt)
	return ok && len(r.Results) == 1 && isSelector(r.Results[0], "graphql", "Null")
}

// assignsToBlank reports whether stmt is `_ = x`.
func assignsToBlank(stmt ast.Stmt) bool {
	s, ok := stmt.(*ast.AssignStmt)
	return ok && s.Tok == token.ASSIGN && len(s.Lhs) == 1 && isIdent(s.Lhs[0], "_") && len(s.Rhs) == 1
}

// comparesToNull reports whether cond is `name == graphql.Null`.
func comparesToNull(cond ast.Expr, name string) bool {
	b, ok := cond.(*ast.BinaryExpr)
	return ok && b.Op == token.EQL && isIdent(b.X, name) && isSelector(b.Y, "graphql", "Null")
}

// builtin are the predeclared types a marshaller's value may have.
var builtin = map[string]bool{
	"any": true, "bool": true, "string": true, "int": true, "int32": true, "int64": true,
	"uint": true, "uint32": true, "uint64": true, "float32": true, "float64": true, "error": true,
}

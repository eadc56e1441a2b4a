package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"slices"
	"strings"
)

// neverNull are gqlgen's scalar marshallers that never return
// graphql.Null: the null check the executor writes after them, the only
// place a marshaller of a non-null scalar reads its context, never runs.
var neverNull = map[string]bool{
	"MarshalString": true, "MarshalID": true, "MarshalBoolean": true,
	"MarshalInt": true, "MarshalInt32": true, "MarshalInt64": true,
	"MarshalFloat": true,
}

// resolvePlainFields rewrites the executor's resolution of plain fields:
// fields that read a struct field of their parent object, with no
// arguments, no resolver, no directive or field middleware, and a scalar
// or enum type whose marshaller never uses its context. gqlgen resolves
// every field through graphql.ResolveField, which allocates a field
// context with a closure, a context.WithValue, three closures, and boxes
// the value into an interface, for each of them: a scalar of the
// dashboard costs 8 allocations that way, for a struct field read that
// cannot fail. Rewritten, such a field calls its marshaller directly:
//
//	func (ec *executionContext) _Feedback_body(ctx context.Context, field graphql.CollectedField, obj *ent.Feedback) (ret graphql.Marshaler) {
//		return ec.marshalNString2string(ctx, field.Selections, obj.Body)
//	}
//
// What is given up, and why it is safe for these fields only:
//   - the field context: the marshaller never reads it (checked here on
//     its code), and neither does a struct field read;
//   - the panic recovery: reading a field of a non-nil object (the
//     parent's marshaller checked it) cannot panic;
//   - the field middleware (gqlgen's FieldInterceptor extensions, the
//     executor's ResolverMiddleware): the server installs none (see
//     server/graphql.go). One added later would not see these fields.
//
// The shape of each rewritten function is checked on its syntax tree:
// anything else (a method call, a conversion, middleware) is left to
// gqlgen. Rewriting no field at all fails generation: gqlgen has changed
// what it writes, and this needs looking at.
func resolvePlainFields(filename string, src []byte) ([]byte, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, filename, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	methods := make(map[string]*ast.FuncDecl)
	for _, d := range file.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv != nil {
			methods[fn.Name.Name] = fn
		}
	}
	type edit struct {
		from, to int
		text     string
	}
	var edits []edit
	for _, fn := range methods {
		if !strings.HasPrefix(fn.Name.Name, "_") {
			continue
		}
		read, marshal, ok := plainField(fn)
		if !ok || methods[marshal] == nil || !contextFree(methods[marshal]) {
			continue
		}
		var expr bytes.Buffer
		if err := printer.Fprint(&expr, fset, read); err != nil {
			return nil, err
		}
		edits = append(edits, edit{
			from: fset.Position(fn.Body.Lbrace).Offset,
			to:   fset.Position(fn.Body.Rbrace).Offset + 1,
			text: fmt.Sprintf("{\n\treturn ec.%s(ctx, field.Selections, %s)\n}", marshal, expr.String()),
		})
	}
	if len(edits) == 0 {
		return nil, fmt.Errorf("%s: no plain field to resolve without graphql.ResolveField; has gqlgen changed?", filename)
	}
	slices.SortFunc(edits, func(a, b edit) int { return b.from - a.from })
	out := slices.Clone(src)
	for _, e := range edits {
		out = slices.Concat(out[:e.from], []byte(e.text), out[e.to:])
	}
	return out, nil
}

// plainField reports whether fn is gqlgen's resolution of a plain field:
//
//	return graphql.ResolveField(ctx, ec.OperationContext, field,
//		func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) { … },
//		func(ctx context.Context) (any, error) { return obj.F, nil },
//		nil,
//		func(ctx context.Context, selections ast.SelectionSet, v T) graphql.Marshaler {
//			return ec.marshalX(ctx, selections, v)
//		},
//		true, nonNull)
//
// and returns obj.F and marshalX.
func plainField(fn *ast.FuncDecl) (read ast.Expr, marshal string, ok bool) {
	if len(fn.Body.List) != 1 || len(fn.Type.Params.List) != 3 || !paramNamed(fn, 2, "obj") {
		return nil, "", false
	}
	ret, ok := fn.Body.List[0].(*ast.ReturnStmt)
	if !ok || len(ret.Results) != 1 {
		return nil, "", false
	}
	call, ok := ret.Results[0].(*ast.CallExpr)
	if !ok || !isSelector(call.Fun, "graphql", "ResolveField") || len(call.Args) != 9 {
		return nil, "", false
	}
	// The resolver: `return obj.F, nil`, a struct field read.
	resolver, ok := call.Args[4].(*ast.FuncLit)
	if !ok || len(resolver.Body.List) != 1 {
		return nil, "", false
	}
	rr, ok := resolver.Body.List[0].(*ast.ReturnStmt)
	if !ok || len(rr.Results) != 2 || !isIdent(rr.Results[1], "nil") {
		return nil, "", false
	}
	sel, ok := rr.Results[0].(*ast.SelectorExpr)
	if !ok || !isIdent(sel.X, "obj") {
		return nil, "", false
	}
	// No middleware or directives.
	if !isIdent(call.Args[5], "nil") {
		return nil, "", false
	}
	// The marshaller: `return ec.marshalX(ctx, selections, v)`.
	m, ok := call.Args[6].(*ast.FuncLit)
	if !ok || len(m.Body.List) != 1 {
		return nil, "", false
	}
	mr, ok := m.Body.List[0].(*ast.ReturnStmt)
	if !ok || len(mr.Results) != 1 {
		return nil, "", false
	}
	mc, ok := mr.Results[0].(*ast.CallExpr)
	if !ok || len(mc.Args) != 3 || !isIdent(mc.Args[0], "ctx") || !isIdent(mc.Args[1], "selections") || !isIdent(mc.Args[2], "v") {
		return nil, "", false
	}
	ms, ok := mc.Fun.(*ast.SelectorExpr)
	if !ok || !isIdent(ms.X, "ec") {
		return nil, "", false
	}
	return sel, ms.Sel.Name, true
}

// contextFree reports whether a marshaller's result does not depend on
// its context: it mentions ctx only in `_ = ctx`, or in the null check
// after a marshaller that never returns graphql.Null:
//
//	res := graphql.MarshalString(v)
//	if res == graphql.Null { graphql.AddInvalidNullFromMarshaler(ctx, "String!") }
//
// A marshaller of an object or a list, or one that may add an error (a
// non-null time, a custom scalar that reports errors), mentions ctx
// elsewhere and keeps its field context.
func contextFree(fn *ast.FuncDecl) bool {
	if !paramNamed(fn, 0, "ctx") {
		return false
	}
	safeRes := false
	for _, stmt := range fn.Body.List {
		switch s := stmt.(type) {
		case *ast.AssignStmt:
			if len(s.Lhs) == 1 && isIdent(s.Lhs[0], "_") {
				continue // `_ = ctx`, `_ = sel`
			}
			if len(s.Lhs) == 1 && isIdent(s.Lhs[0], "res") && len(s.Rhs) == 1 {
				if c, ok := s.Rhs[0].(*ast.CallExpr); ok {
					if f, ok := c.Fun.(*ast.SelectorExpr); ok && isIdent(f.X, "graphql") && neverNull[f.Sel.Name] {
						safeRes = true
					}
				}
			}
		case *ast.IfStmt:
			if b, ok := s.Cond.(*ast.BinaryExpr); ok && safeRes && b.Op == token.EQL &&
				isIdent(b.X, "res") && isSelector(b.Y, "graphql", "Null") {
				continue // never taken
			}
		}
		if mentions(stmt, "ctx") {
			return false
		}
	}
	return true
}

func paramNamed(fn *ast.FuncDecl, i int, name string) bool {
	params := fn.Type.Params.List
	return i < len(params) && len(params[i].Names) == 1 && params[i].Names[0].Name == name
}

func mentions(n ast.Node, name string) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if isIdent(n, name) {
			found = true
		}
		return !found
	})
	return found
}

func isIdent(n ast.Node, name string) bool {
	id, ok := n.(*ast.Ident)
	return ok && id.Name == name
}

func isSelector(e ast.Expr, x, sel string) bool {
	s, ok := e.(*ast.SelectorExpr)
	return ok && isIdent(s.X, x) && s.Sel.Name == sel
}

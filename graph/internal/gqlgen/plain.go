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

// resolvePlainFields rewrites the executor's resolution of the fields of
// objects that have no directive or field middleware. gqlgen resolves
// every field through graphql.ResolveField, which allocates a field
// context with a closure, a context.WithValue, three closures, and boxes
// the value into an interface, for each of them: a scalar of the
// dashboard costs 8 allocations that way.
//
// A plain field, one that reads a struct field of its parent (no
// arguments, no resolver) and whose marshaller never uses its context (a
// scalar or an enum: checked on the marshaller's code), calls its
// marshaller directly:
//
//	func (ec *executionContext) _Feedback_body(ctx context.Context, field graphql.CollectedField, obj *ent.Feedback) (ret graphql.Marshaler) {
//		return ec.marshalNString2string(ctx, field.Selections, obj.Body)
//	}
//
// What is given up, and why it is safe for these fields only:
//   - the field context: the marshaller never reads it, and neither does
//     a struct field read;
//   - the panic recovery: reading a field of a non-nil object (the
//     parent's marshaller checked it) cannot panic;
//   - the field middleware (gqlgen's FieldInterceptor extensions, the
//     executor's ResolverMiddleware): the server installs none (see
//     server/graphql.go). One added later would not see these fields.
//
// Every other such field (an object or a list: a connection's edges, an
// edge's node, an eager-loaded edge; a resolver; a method) is resolved by
// resolveField (graph/inorder.go), which keeps its field context, with the
// path of errors below it, the arguments and the result the loaders look
// for, its error reporting and panic recovery, and leaves out only the
// middleware and the closures around the resolver:
//
//	return resolveField(ctx, ec.OperationContext, field, ec.fieldContext_FeedbackEdge_node,
//		func(ctx context.Context) (*ent.Feedback, error) {
//			return obj.Node, nil
//		},
//		ec.marshalOFeedback2ᚖ…, false)
//
// A read of a non-null Time (an event's occurredAt) is resolved so too,
// but for a time that is set, which it returns as a plain field would
// (marshalsTime): only a zero time, reported as a null error at the
// field's path, needs the field context.
//
// The resolver's body is gqlgen's, unchanged; only its result is typed.
// The shape of each rewritten function is checked on its syntax tree:
// anything else is left to gqlgen. Rewriting no field of either kind
// fails generation: gqlgen has changed what it writes, and this needs
// looking at.
func resolvePlainFields(filename string, src []byte) ([]byte, error) {
	fset, methods, err := parseMethods(filename, src)
	if err != nil {
		return nil, err
	}
	var edits []edit
	plain, other, times := 0, 0, 0
	for _, fn := range methods {
		if !strings.HasPrefix(fn.Name.Name, "_") {
			continue
		}
		f, ok := fieldResolution(fn)
		if !ok || methods[f.marshal] == nil {
			continue
		}
		var body string
		if read := structFieldRead(f.resolver); read != nil && contextFree(methods[f.marshal]) {
			plain++
			r, err := source(fset, read)
			if err != nil {
				return nil, err
			}
			body = fmt.Sprintf("return ec.%s(ctx, field.Selections, %s)", f.marshal, r)
		} else {
			other++
			typ, err := source(fset, f.valueType)
			if err != nil {
				return nil, err
			}
			resolver, err := source(fset, f.resolver.Body)
			if err != nil {
				return nil, err
			}
			body = fmt.Sprintf("return resolveField(ctx, ec.OperationContext, field, ec.%s,\n\t\tfunc(ctx context.Context) (%s, error) %s,\n\t\tec.%s, %s)",
				f.fieldContext, typ, resolver, f.marshal, f.nonNull)
			if read != nil && marshalsTime(methods[f.marshal]) {
				times++
				r, err := source(fset, read)
				if err != nil {
					return nil, err
				}
				body = fmt.Sprintf("if !%s.IsZero() {\n\t\treturn timeAt{&%s}\n\t}\n\t", r, r) + body
			}
		}
		edits = append(edits, edit{
			from: fset.Position(fn.Body.Lbrace).Offset,
			to:   fset.Position(fn.Body.Rbrace).Offset + 1,
			text: "{\n\t" + body + "\n}",
		})
	}
	if plain == 0 || other == 0 || times == 0 {
		return nil, fmt.Errorf("%s: %d plain fields, %d other fields and %d times of them to resolve without graphql.ResolveField; has gqlgen changed?", filename, plain, other, times)
	}
	return applyEdits(src, edits), nil
}

// marshalsTime reports whether fn is the executor's marshaller of a
// non-null Time, as the rewrites leave it: `res := marshalTime(v)`, then
// the null check that reports a zero time as a null error at the field's
// path. A plain read of a Time resolves a time that is set as a plain
// field does (timeAt at the struct field, which is what marshalTime
// returns for it), and a zero time as before, with its error.
func marshalsTime(fn *ast.FuncDecl) bool {
	if fn == nil || !paramNamed(fn, 2, "v") {
		return false
	}
	for _, stmt := range fn.Body.List {
		s, ok := stmt.(*ast.AssignStmt)
		if !ok || len(s.Lhs) != 1 || !isIdent(s.Lhs[0], "res") || len(s.Rhs) != 1 {
			continue
		}
		c, ok := s.Rhs[0].(*ast.CallExpr)
		if ok && isIdent(c.Fun, "marshalTime") && len(c.Args) == 1 && isIdent(c.Args[0], "v") {
			return true
		}
	}
	return false
}

// source returns the Go source of n, a node of a file parsed into fset.
func source(fset *token.FileSet, n ast.Node) (string, error) {
	var b bytes.Buffer
	err := printer.Fprint(&b, fset, n)
	return b.String(), err
}

// edit replaces src[from:to] with text.
type edit struct {
	from, to int
	text     string
}

// applyEdits makes edits, which do not overlap, to a copy of src.
func applyEdits(src []byte, edits []edit) []byte {
	slices.SortFunc(edits, func(a, b edit) int { return b.from - a.from })
	out := slices.Clone(src)
	for _, e := range edits {
		out = slices.Concat(out[:e.from], []byte(e.text), out[e.to:])
	}
	return out
}

// parseMethods parses the executor and returns its methods by name.
func parseMethods(filename string, src []byte) (*token.FileSet, map[string]*ast.FuncDecl, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, filename, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, nil, err
	}
	methods := make(map[string]*ast.FuncDecl)
	for _, d := range file.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv != nil {
			methods[fn.Name.Name] = fn
		}
	}
	return fset, methods, nil
}

// resolution is what fieldResolution finds in gqlgen's resolution of a
// field.
type resolution struct {
	fieldContext string       // the field context's method name
	resolver     *ast.FuncLit // func(ctx context.Context) (any, error) {…}
	marshal      string       // the marshaller's method name
	valueType    ast.Expr     // the type the resolver returns
	nonNull      string       // "true" or "false"
}

// fieldResolution reports whether fn is gqlgen's resolution of a field of
// an object without middleware or directives:
//
//	return graphql.ResolveField(ctx, ec.OperationContext, field,
//		func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {
//			return ec.fieldContext_T_f(ctx, field)
//		},
//		func(ctx context.Context) (any, error) { … },
//		nil,
//		func(ctx context.Context, selections ast.SelectionSet, v T) graphql.Marshaler {
//			return ec.marshalX(ctx, selections, v)
//		},
//		true, nonNull)
func fieldResolution(fn *ast.FuncDecl) (f resolution, ok bool) {
	if len(fn.Body.List) != 1 || len(fn.Type.Params.List) != 3 || !paramNamed(fn, 2, "obj") {
		return f, false
	}
	ret, ok := fn.Body.List[0].(*ast.ReturnStmt)
	if !ok || len(ret.Results) != 1 {
		return f, false
	}
	call, ok := ret.Results[0].(*ast.CallExpr)
	if !ok || !isSelector(call.Fun, "graphql", "ResolveField") || len(call.Args) != 9 ||
		!isIdent(call.Args[0], "ctx") || !isSelector(call.Args[1], "ec", "OperationContext") || !isIdent(call.Args[2], "field") {
		return f, false
	}
	if f.fieldContext, ok = forwardingCall(call.Args[3], "ctx", "field"); !ok {
		return f, false
	}
	// The resolver: func(ctx context.Context) (any, error).
	if f.resolver, ok = call.Args[4].(*ast.FuncLit); !ok || !resultsAre(f.resolver.Type, "any", "error") {
		return f, false
	}
	// No middleware or directives.
	if !isIdent(call.Args[5], "nil") {
		return f, false
	}
	if f.marshal, ok = forwardingCall(call.Args[6], "ctx", "selections", "v"); !ok {
		return f, false
	}
	marshal := call.Args[6].(*ast.FuncLit).Type.Params.List
	if len(marshal) != 3 || len(marshal[2].Names) != 1 || marshal[2].Names[0].Name != "v" {
		return f, false
	}
	f.valueType = marshal[2].Type
	// Panics recovered (gqlgen's default); nonNull true or false.
	if !isIdent(call.Args[7], "true") {
		return f, false
	}
	nonNull, ok := call.Args[8].(*ast.Ident)
	if !ok || (nonNull.Name != "true" && nonNull.Name != "false") {
		return f, false
	}
	f.nonNull = nonNull.Name
	return f, true
}

// structFieldRead returns obj.F if the resolver is `return obj.F, nil`, a
// read of a struct field of the parent, and nil otherwise.
func structFieldRead(resolver *ast.FuncLit) ast.Expr {
	if len(resolver.Body.List) != 1 {
		return nil
	}
	r, ok := resolver.Body.List[0].(*ast.ReturnStmt)
	if !ok || len(r.Results) != 2 || !isIdent(r.Results[1], "nil") {
		return nil
	}
	sel, ok := r.Results[0].(*ast.SelectorExpr)
	if !ok || !isIdent(sel.X, "obj") {
		return nil
	}
	return sel
}

// resultsAre reports whether a function type's results are the named
// types, unnamed.
func resultsAre(t *ast.FuncType, names ...string) bool {
	if t.Results == nil || len(t.Results.List) != len(names) {
		return false
	}
	for i, r := range t.Results.List {
		if len(r.Names) != 0 || !isIdent(r.Type, names[i]) {
			return false
		}
	}
	return true
}

// forwardingCall reports whether e is a function literal whose body is
// `return ec.m(args…)` and returns m.
func forwardingCall(e ast.Expr, args ...string) (string, bool) {
	lit, ok := e.(*ast.FuncLit)
	if !ok || len(lit.Body.List) != 1 {
		return "", false
	}
	r, ok := lit.Body.List[0].(*ast.ReturnStmt)
	if !ok || len(r.Results) != 1 {
		return "", false
	}
	c, ok := r.Results[0].(*ast.CallExpr)
	if !ok || len(c.Args) != len(args) {
		return "", false
	}
	for i, a := range args {
		if !isIdent(c.Args[i], a) {
			return "", false
		}
	}
	m, ok := c.Fun.(*ast.SelectorExpr)
	if !ok || !isIdent(m.X, "ec") {
		return "", false
	}
	return m.Sel.Name, true
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
			if safeRes && comparesToNull(s.Cond, "res") {
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

package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// objectChild is the Child closure gqlgen writes in the field context of
// a field of an object type: it captures the executor, so each field
// context allocates it.
var objectChild = regexp.MustCompile(`Child: func\(ctx context\.Context, field graphql\.CollectedField\) \(\*graphql\.FieldContext, error\) \{\n\t*return ec\.childFields_(\w+)\(ctx, field\)\n\t*\},`)

// scalarFieldContext is gqlgen's field context of a scalar or enum
// field, whose Child closure captures the type's name.
var scalarFieldContext = regexp.MustCompile(`graphql\.NewScalarFieldContext\(("\w+"), field, (true|false), (true|false), "(\w+)"\)`)

// putExecutorInContexts has every operation the executor runs start
// with the executor in its context, where the Child functions find it
// (graph/childfields.go): in Exec, the call of the root object's
// marshaller in each operation's case,
//
//	data = ec._Query(ctx, opCtx.Operation.SelectionSet)
//
// is given withExecutionContext(ctx, ec) instead of ctx. Every case of
// Exec's switch on the operation's type (but its default, which runs
// nothing) must hold one such call, or
// generation fails: an operation run without the executor in its context
// would fail its first field of an object type.
func putExecutorInContexts(filename string, src []byte) ([]byte, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, filename, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var exec *ast.FuncDecl
	for _, d := range file.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "Exec" && fn.Recv != nil && receiverNamed(fn, "executableSchema") {
			exec = fn
		}
	}
	if exec == nil {
		return nil, fmt.Errorf("%s: no executableSchema.Exec; has gqlgen changed?", filename)
	}
	var (
		edits []edit
		cases int
		errs  []error
	)
	ast.Inspect(exec.Body, func(n ast.Node) bool {
		sw, ok := n.(*ast.SwitchStmt)
		if !ok || !isOperationType(sw.Tag) {
			return true
		}
		for _, c := range sw.Body.List {
			clause := c.(*ast.CaseClause)
			if clause.List == nil {
				continue // default: an operation type the schema does not have
			}
			cases++
			var roots []*ast.CallExpr
			ast.Inspect(clause, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok && runsOperation(call) {
					roots = append(roots, call)
				}
				return true
			})
			if len(roots) != 1 {
				errs = append(errs, fmt.Errorf("%s: the case %s of Exec runs its operation's selection set %d times, not once; has gqlgen changed?",
					filename, fset.Position(clause.Case), len(roots)))
				continue
			}
			ctx := roots[0].Args[0]
			edits = append(edits, edit{
				from: fset.Position(ctx.Pos()).Offset,
				to:   fset.Position(ctx.End()).Offset,
				text: "withExecutionContext(ctx, ec)",
			})
		}
		return false
	})
	if cases == 0 {
		errs = append(errs, fmt.Errorf("%s: Exec has no switch on the operation's type; has gqlgen changed?", filename))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return applyEdits(src, edits), nil
}

// receiverNamed reports whether fn is a method of *name or name.
func receiverNamed(fn *ast.FuncDecl, name string) bool {
	t := fn.Recv.List[0].Type
	if star, ok := t.(*ast.StarExpr); ok {
		t = star.X
	}
	return isIdent(t, name)
}

// isOperationType reports whether e is opCtx.Operation.Operation.
func isOperationType(e ast.Expr) bool {
	s, ok := e.(*ast.SelectorExpr)
	return ok && s.Sel.Name == "Operation" && isSelector(s.X, "opCtx", "Operation")
}

// runsOperation reports whether call is a root object's marshaller run on
// the operation's selection set: ec._T(ctx, opCtx.Operation.SelectionSet).
func runsOperation(call *ast.CallExpr) bool {
	f, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || !isIdent(f.X, "ec") || !strings.HasPrefix(f.Sel.Name, "_") || len(call.Args) != 2 || !isIdent(call.Args[0], "ctx") {
		return false
	}
	set, ok := call.Args[1].(*ast.SelectorExpr)
	return ok && set.Sel.Name == "SelectionSet" && isSelector(set.X, "opCtx", "Operation")
}

// shareChildFunctions has the executor's field contexts take a Child
// function built once per type instead of a closure built per field
// context (see graph/childfields.go): for a field of an object type,
// childFieldsOf_T, which finds the executor in its context; for a scalar
// or an enum, noChildFieldsOf_T through newScalarFieldContext. Both are
// declared at the end of the executor. Rewriting none of either, or
// leaving one of gqlgen's closures over the executor, fails generation.
func shareChildFunctions(filename string, src []byte) ([]byte, error) {
	src, err := putExecutorInContexts(filename, src)
	if err != nil {
		return nil, err
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

package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/protoloop/protoloop/ent"
)

// CursorGuard rejects an operation whose after/before cursors cannot be
// decoded, before any resolver runs. entgql's field collection decodes
// the cursors of nested connections itself and does not expect a bad one
// (it would panic), so they are checked here, once, for the whole document.
type CursorGuard struct{}

var (
	_ graphql.HandlerExtension        = CursorGuard{}
	_ graphql.OperationContextMutator = CursorGuard{}
)

// ExtensionName implements graphql.HandlerExtension.
func (CursorGuard) ExtensionName() string { return "CursorGuard" }

// Validate implements graphql.HandlerExtension.
func (CursorGuard) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext implements graphql.OperationContextMutator.
func (CursorGuard) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	seen := map[string]bool{}
	return checkCursors(oc, oc.Operation.SelectionSet, seen)
}

func checkCursors(oc *graphql.OperationContext, set ast.SelectionSet, seenFragments map[string]bool) *gqlerror.Error {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			for _, arg := range sel.Arguments {
				if sel.Definition == nil || arg.Value == nil {
					continue
				}
				if def := sel.Definition.Arguments.ForName(arg.Name); def == nil || def.Type.Name() != "Cursor" {
					continue
				}
				v, err := arg.Value.Value(oc.Variables)
				if err != nil || v == nil {
					continue
				}
				if new(ent.Cursor).UnmarshalGQL(v) != nil {
					e := gqlerror.Errorf("%s: not a cursor this API issued", arg.Name)
					e.Extensions = map[string]any{"code": string(CodeBadUserInput), "field": arg.Name}
					return e
				}
			}
			if err := checkCursors(oc, sel.SelectionSet, seenFragments); err != nil {
				return err
			}
		case *ast.InlineFragment:
			if err := checkCursors(oc, sel.SelectionSet, seenFragments); err != nil {
				return err
			}
		case *ast.FragmentSpread:
			if seenFragments[sel.Name] {
				continue
			}
			seenFragments[sel.Name] = true
			if frag := oc.Doc.Fragments.ForName(sel.Name); frag != nil {
				if err := checkCursors(oc, frag.SelectionSet, seenFragments); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

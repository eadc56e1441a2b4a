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
	return walkArguments(oc, oc.Operation.SelectionSet, map[string]bool{}, func(arg *ast.Argument, def *ast.ArgumentDefinition) *gqlerror.Error {
		if def.Type.Name() != "Cursor" {
			return nil
		}
		v, err := arg.Value.Value(oc.Variables)
		if err != nil || v == nil || new(ent.Cursor).UnmarshalGQL(v) == nil {
			return nil
		}
		e := gqlerror.Errorf("%s: not a cursor this API issued", arg.Name)
		e.Extensions = map[string]any{"code": string(CodeBadUserInput), "field": arg.Name}
		return e
	})
}

// walkArguments calls check for every argument of every field the
// operation selects, through fragments, until check returns an error.
func walkArguments(oc *graphql.OperationContext, set ast.SelectionSet, seenFragments map[string]bool,
	check func(*ast.Argument, *ast.ArgumentDefinition) *gqlerror.Error) *gqlerror.Error {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			for _, arg := range sel.Arguments {
				if sel.Definition == nil || arg.Value == nil {
					continue
				}
				if def := sel.Definition.Arguments.ForName(arg.Name); def != nil {
					if err := check(arg, def); err != nil {
						return err
					}
				}
			}
			if err := walkArguments(oc, sel.SelectionSet, seenFragments, check); err != nil {
				return err
			}
		case *ast.InlineFragment:
			if err := walkArguments(oc, sel.SelectionSet, seenFragments, check); err != nil {
				return err
			}
		case *ast.FragmentSpread:
			if seenFragments[sel.Name] {
				continue
			}
			seenFragments[sel.Name] = true
			if frag := oc.Doc.Fragments.ForName(sel.Name); frag != nil {
				if err := walkArguments(oc, frag.SelectionSet, seenFragments, check); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

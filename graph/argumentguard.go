package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// ArgumentGuard refuses, before any resolver runs, an operation with an
// argument that would otherwise fail deep in ent or entgql, fail as the
// server's fault, or reach what the caller may not: a bad cursor
// (badCursor), a null where the schema takes none (nullForNonNull), a
// tester's filter through related objects (edgeFilter). It walks the
// document's arguments once for all three; the first refusal, as
// BAD_USER_INPUT with extensions.field, is the operation's error.
type ArgumentGuard struct{}

var (
	_ graphql.HandlerExtension        = ArgumentGuard{}
	_ graphql.OperationContextMutator = ArgumentGuard{}
)

// ExtensionName implements graphql.HandlerExtension.
func (ArgumentGuard) ExtensionName() string { return "ArgumentGuard" }

// Validate implements graphql.HandlerExtension.
func (ArgumentGuard) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext implements graphql.OperationContextMutator.
func (ArgumentGuard) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	tester := onlyTests(viewer.FromContext(ctx))
	return walkArguments(oc, oc.Operation.SelectionSet, map[string]bool{}, func(f *ast.Field, arg *ast.Argument, def *ast.ArgumentDefinition) *gqlerror.Error {
		if err := badCursor(oc, f, arg, def); err != nil {
			return err
		}
		if err := nullForNonNull(arg.Name, arg.Value, oc.Variables); err != nil {
			return err
		}
		if tester {
			return edgeFilter(oc, arg, def)
		}
		return nil
	})
}

// walkArguments calls check for every argument of every field the
// operation selects, through fragments, until check returns an error.
func walkArguments(oc *graphql.OperationContext, set ast.SelectionSet, seenFragments map[string]bool,
	check func(*ast.Field, *ast.Argument, *ast.ArgumentDefinition) *gqlerror.Error) *gqlerror.Error {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			for _, arg := range sel.Arguments {
				if sel.Definition == nil || arg.Value == nil {
					continue
				}
				if def := sel.Definition.Arguments.ForName(arg.Name); def != nil {
					if err := check(sel, arg, def); err != nil {
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

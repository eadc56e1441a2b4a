package graph

import (
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// nullForNonNull refuses null, passed through a variable, where the
// schema takes no null: an argument or input field of a non-null type
// that has a default, such as every order's
// `direction: OrderDirection! = ASC` (see ArgumentGuard).
//
// Validation lets a nullable variable stand there, so that the default
// applies when the variable is left out; a variable given as null is
// an error (GraphQL spec, "Coercing Input Objects" and "Coercing Field
// Arguments": a null runtime value for a non-null type raises an
// error). Neither gqlparser nor gqlgen checks that: the generated
// unmarshaller hands the null to OrderDirection.UnmarshalGQL, whose
// error ErrorPresenter cannot tell from a fault of the server's
// (INTERNAL), and entgql's field collection, reading the same argument
// for a nested connection, drops the order without a word. So the
// operation is refused before any resolver or loader reads it.
//
// The spec makes it an error of the field; refused here, it is the whole
// operation's, as bad cursors are, and, like those, also for a field
// @skip leaves out. Either way the caller sent a null the schema's type
// forbids.
//
// It looks in an argument's value at path for a variable given as null
// where validation set a non-null type.
func nullForNonNull(path string, v *ast.Value, vars map[string]any) *gqlerror.Error {
	switch v.Kind {
	case ast.Variable:
		if v.ExpectedType == nil || !v.ExpectedType.NonNull {
			return nil
		}
		// A variable left out is not in vars (or holds its own default),
		// and the field's default applies.
		if value, given := vars[v.Raw]; !given || value != nil {
			return nil
		}
		e := gqlerror.Errorf("%s: $%s is null, and %s takes no null; leave the variable out for the default", path, v.Raw, v.ExpectedType)
		e.Extensions = map[string]any{"code": string(CodeBadUserInput), "field": path}
		return e
	case ast.ObjectValue:
		for _, child := range v.Children {
			if err := nullForNonNull(path+"."+child.Name, child.Value, vars); err != nil {
				return err
			}
		}
	case ast.ListValue:
		for i, child := range v.Children {
			if err := nullForNonNull(path+"["+strconv.Itoa(i)+"]", child.Value, vars); err != nil {
				return err
			}
		}
	}
	return nil
}

package graph

import (
	"io"

	"github.com/99designs/gqlgen/graphql"
)

// A plain field (graph/internal/gqlgen/plain.go) returned its marshaller's
// value: for a String or an Int, gqlgen's MarshalString or MarshalInt,
// a closure over a copy of the value, one allocation per field; for an
// enum or an ID, the value itself in an interface, one allocation too.
// The executor now returns a pointer to the object's field instead
// (graph/internal/gqlgen/pointers.go): &obj.Kind for the types whose
// MarshalGQL has a value receiver (a pointer implements it too), and
// stringAt or intAt, which hold only the pointer, for strings and ints.
// An interface holds a pointer-shaped value without allocating.
//
// The field is read when the response is written rather than when it is
// resolved. That is the same for an object of the request (ent's nodes,
// which nothing changes once loaded) and, as before, a data race for one
// that is changed while it is read, which no object the executor writes
// may be.

// stringAt writes the String at p as graphql.MarshalString does.
type stringAt struct{ p *string }

func (s stringAt) MarshalGQL(w io.Writer) { graphql.MarshalString(*s.p).MarshalGQL(w) }

// intAt writes the Int at p as graphql.MarshalInt does.
type intAt struct{ p *int }

func (i intAt) MarshalGQL(w io.Writer) { graphql.MarshalInt(*i.p).MarshalGQL(w) }

// marshalStringAt is the marshaller of a nullable String held by
// pointer: graphql.Null for nil, as the executor's marshalOString2ᚖstring.
func marshalStringAt(p *string) graphql.Marshaler {
	if p == nil {
		return graphql.Null
	}
	return stringAt{p}
}

// marshalIntAt is the marshaller of a nullable Int held by pointer:
// graphql.Null for nil, as the executor's marshalOInt2ᚖint.
func marshalIntAt(p *int) graphql.Marshaler {
	if p == nil {
		return graphql.Null
	}
	return intAt{p}
}

package graph

import (
	"bytes"
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
)

// A plain field (graph/internal/gqlgen/plain.go) returned its marshaller's
// value: for a String or an Int, gqlgen's MarshalString or MarshalInt,
// a closure over a copy of the value, one allocation per field; for an
// enum or an ID, the value itself in an interface, one allocation too.
// The executor now returns a pointer to the object's field instead
// (graph/internal/gqlgen/pointers.go): &obj.Kind for the types whose
// MarshalGQL has a value receiver (a pointer implements it too), and
// stringAt, intAt or int64At, which hold only the pointer, for strings
// and ints.
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

// intAt writes the Int at p as graphql.MarshalInt does (writeInt).
type intAt struct{ p *int }

func (i intAt) MarshalGQL(w io.Writer) { writeInt(w, int64(*i.p)) }

// int64At writes the Int held in an int64 at p (an event's seq, say) as
// graphql.MarshalInt64 does (writeInt).
type int64At struct{ p *int64 }

func (i int64At) MarshalGQL(w io.Writer) { writeInt(w, *i.p) }

// writeInt writes n in decimal, as graphql.MarshalInt and MarshalInt64
// do: into the executor's buffer without strconv's string, which a number
// of three digits or more allocates; to another writer through gqlgen's.
func writeInt(w io.Writer, n int64) {
	b, ok := w.(*bytes.Buffer)
	if !ok {
		graphql.MarshalInt64(n).MarshalGQL(w)
		return
	}
	b.Write(strconv.AppendInt(b.AvailableBuffer(), n, 10))
}

// marshalStringAt is the marshaller of a nullable String held by
// pointer: graphql.Null for nil, as the executor's marshalOString2ᚖstring.
func marshalStringAt(p *string) graphql.Marshaler {
	if p == nil {
		return graphql.Null
	}
	return stringAt{p}
}

// marshalInt64At is marshalIntAt for an Int held in an int64.
func marshalInt64At(p *int64) graphql.Marshaler {
	if p == nil {
		return graphql.Null
	}
	return int64At{p}
}

// marshalIntAt is the marshaller of a nullable Int held by pointer:
// graphql.Null for nil, as the executor's marshalOInt2ᚖint.
func marshalIntAt(p *int) graphql.Marshaler {
	if p == nil {
		return graphql.Null
	}
	return intAt{p}
}

// gqlgen's MarshalTime returns a closure over the time, which writes
// strconv.Quote(t.Format(time.RFC3339Nano)): four allocations per time
// (the closure, the formatted string, Quote's buffer and its string), on
// every event's occurredAt of a timeline page. The executor's Time
// marshallers call marshalTime and marshalTimeAt instead
// (graph/internal/gqlgen/main.go), which write the same bytes into the
// executor's buffer directly: RFC 3339 is digits, '-', '+', ':', '.', 'T'
// and 'Z', none of which Quote escapes.

// timeAt writes the Time at p as graphql.MarshalTime does.
type timeAt struct{ p *time.Time }

func (t timeAt) MarshalGQL(w io.Writer) {
	b, ok := w.(*bytes.Buffer)
	if !ok {
		graphql.MarshalTime(*t.p).MarshalGQL(w)
		return
	}
	out := append(b.AvailableBuffer(), '"')
	out = t.p.AppendFormat(out, time.RFC3339Nano)
	b.Write(append(out, '"'))
}

// marshalTime is graphql.MarshalTime with one allocation (the time
// itself): graphql.Null for the zero time, which the executor reports
// for a non-null field.
func marshalTime(t time.Time) graphql.Marshaler {
	if t.IsZero() {
		return graphql.Null
	}
	return timeAt{&t}
}

// marshalTimeAt is graphql.MarshalTime of the Time at p (not nil), without
// allocating; the time is read when the response is written.
func marshalTimeAt(p *time.Time) graphql.Marshaler {
	if p.IsZero() {
		return graphql.Null
	}
	return timeAt{p}
}

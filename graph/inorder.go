package graph

import (
	"context"
	"io"

	"github.com/99designs/gqlgen/graphql"
)

// marshalSliceInOrder marshals the elements of a list one after the other
// in the calling goroutine. The executor calls it where gqlgen would call
// graphql.MarshalSliceConcurrently (see graph/internal/gqlgen), and it keeps
// that function's contract: each element gets its own field context with
// its index, and an element whose marshalling panics is reported as an
// error and holds null (unless omitPanicHandler). workerLimit is unused:
// there are no workers.
func marshalSliceInOrder(
	ctx context.Context,
	length int,
	_ int64,
	omitPanicHandler bool,
	marshalElement func(ctx context.Context, i int) graphql.Marshaler,
) graphql.Array {
	ret := make(graphql.Array, length)
	if length == 0 {
		return ret
	}
	// One allocation for all the elements' field contexts and indexes,
	// instead of two per element.
	fcs := make([]graphql.FieldContext, length)
	idx := make([]int, length)
	for i := range length {
		idx[i] = i
		fcs[i].Index = &idx[i]
		childCtx := graphql.WithFieldContext(ctx, &fcs[i])
		if omitPanicHandler {
			ret[i] = marshalElement(childCtx, i)
			continue
		}
		ret[i] = marshalElementRecovering(childCtx, i, marshalElement)
	}
	return ret
}

func marshalElementRecovering(
	ctx context.Context,
	i int,
	marshalElement func(ctx context.Context, i int) graphql.Marshaler,
) (m graphql.Marshaler) {
	defer func() {
		if r := recover(); r != nil {
			graphql.AddError(ctx, graphql.Recover(ctx, r))
			m = graphql.Null
		}
	}()
	return marshalElement(ctx, i)
}

// objectFields writes an object's fields as graphql.FieldSet's MarshalGQL
// does: in order, a field whose alias was written already skipped. The
// executor returns it instead of the FieldSet (see graph/internal/gqlgen):
// FieldSet's MarshalGQL allocates a map of the aliases written for every
// object and a copy of every field's CollectedField, a fifth of the bytes
// a large query allocated. A few fields are compared faster than a map is
// made.
type objectFields struct {
	fields []graphql.CollectedField
	values []graphql.Marshaler
}

// marshalObject returns the marshaller of the object whose fields out
// holds, once they are all resolved.
func marshalObject(fields []graphql.CollectedField, out *graphql.FieldSet) graphql.Marshaler {
	return &objectFields{fields: fields, values: out.Values}
}

// MarshalGQL implements graphql.Marshaler. Aliases are GraphQL names,
// which need no escaping in a JSON string.
func (o *objectFields) MarshalGQL(w io.Writer) {
	_, _ = io.WriteString(w, "{")
	first := true
fields:
	for i := range o.fields {
		alias := o.fields[i].Alias
		for j := range i {
			if o.fields[j].Alias == alias {
				continue fields
			}
		}
		if !first {
			_, _ = io.WriteString(w, ",")
		}
		first = false
		_, _ = io.WriteString(w, `"`)
		_, _ = io.WriteString(w, alias)
		_, _ = io.WriteString(w, `":`)
		o.values[i].MarshalGQL(w)
	}
	_, _ = io.WriteString(w, "}")
}

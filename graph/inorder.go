package graph

import (
	"context"

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

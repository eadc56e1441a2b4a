package graph

import (
	"context"
	"io"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// marshalSliceInOrder marshals the elements of a list one after the other
// in the calling goroutine. The executor calls it where gqlgen would call
// graphql.MarshalSliceConcurrently (see graph/internal/gqlgen), and it keeps
// that function's contract: each element gets its own field context with
// its index (and the list's as its parent), and an element whose
// marshalling panics is reported as an error and holds null (unless
// omitPanicHandler). workerLimit is unused: there are no workers.
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
	// One allocation for all the elements' field contexts with the
	// contexts holding them (fieldFrame) and the objects they are
	// (objectFrame; the elements of the few lists of enums waste theirs),
	// and one for their indexes, where graphql.WithFieldContext (which
	// also sets the Parent) took a context.WithValue per element.
	parent := graphql.GetFieldContext(ctx)
	frames := make([]objectFrame, length)
	idx := make([]int, length)
	for i := range length {
		idx[i] = i
		childCtx := &frames[i].fieldFrame
		childCtx.Context = ctx
		childCtx.fc.Index = &idx[i]
		childCtx.fc.Parent = parent
		childCtx.spare = &frames[i].object
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

// objectFields is an object's resolved fields, written as
// graphql.FieldSet's MarshalGQL writes them: in order, a field whose alias
// was written already skipped. The executor's marshallers of objects
// fill it in place of a FieldSet (newObjectFieldsIn, see
// graph/internal/gqlgen), but Query's, which resolves its fields
// concurrently and so needs FieldSet's Dispatch, returns it around its
// FieldSet's values (marshalObject). FieldSet's MarshalGQL allocates
// a map of the aliases written for every object and a copy of every
// field's CollectedField, a fifth of the bytes a large query allocated. A
// few fields are compared faster than a map is made.
//
// Values and Invalids are named as FieldSet's are because the executor
// gqlgen writes sets them.
type objectFields struct {
	fields []graphql.CollectedField
	// Values holds each field's marshaller, in the order of fields.
	Values []graphql.Marshaler
	// Invalids counts the non-null fields that resolved to null: the
	// object is then null itself.
	Invalids uint32
	// small holds Values for an object of few fields, so that the object
	// costs one allocation rather than two.
	small [smallObject]graphql.Marshaler
}

// smallObject is how many fields an object may have for its values to be
// allocated with it: the objects of a page (edges, nodes, authors) select
// a handful.
const smallObject = 6

// newObjectFieldsIn returns the fields of an object to be resolved under
// ctx: those allocated with ctx's frame (objectFrame), the first time an
// object is marshalled under it, else new ones. The executor's
// marshallers of objects get their fields here (see graph/internal/gqlgen).
func newObjectFieldsIn(ctx context.Context, fields []graphql.CollectedField) *objectFields {
	var o *objectFields
	if f, ok := ctx.(*fieldFrame); ok && f.spare != nil {
		o, f.spare = f.spare, nil
	} else {
		o = new(objectFields)
	}
	o.fields = fields
	if len(fields) <= smallObject {
		o.Values = o.small[:len(fields):len(fields)]
	} else {
		o.Values = make([]graphql.Marshaler, len(fields))
	}
	return o
}

// marshalObject returns the marshaller of the Query object whose fields out
// holds, once they are all resolved.
func marshalObject(fields []graphql.CollectedField, out *graphql.FieldSet) graphql.Marshaler {
	return &objectFields{fields: fields, Values: out.Values}
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
		o.Values[i].MarshalGQL(w)
	}
	_, _ = io.WriteString(w, "}")
}

// resolveField resolves a field of an object below the root as
// graphql.ResolveField does, with less: the executor calls it for every
// field below the root of an object without directives that is not a
// plain read of a struct field with a context-free marshaller (objects,
// lists, resolvers, methods; see graph/internal/gqlgen): those are
// written without a field context at all.
//
// The field keeps its field context (its arguments, and the result of an
// object or a list, which the loaders look for above them in
// graph/loader.go), so errors at it or below carry their full path; an
// error or a panic is reported at the field and nulls it, and a null in
// a non-null field is reported, as gqlgen's does, including a field a
// resolver marked non-null (graphql.MarkNonNull), whose null makes its
// parent null. What it leaves out: the resolver middleware, and the
// closures gqlgen builds around the resolver for it, which put the
// resolver on the heap; the server installs no field middleware, and may
// not (server/graphql.go).
//
// A null value of a pointer or a slice is checked by the marshaller, as in
// gqlgen's executor; only a value of an interface type is nil as such,
// and is reported here if the field is non-null.
func resolveField[T any](
	ctx context.Context,
	oc *graphql.OperationContext,
	field graphql.CollectedField,
	fieldContext func(context.Context, graphql.CollectedField) (*graphql.FieldContext, error),
	resolve func(context.Context) (T, error),
	marshal func(context.Context, ast.SelectionSet, T) graphql.Marshaler,
	nonNull bool,
) (ret graphql.Marshaler) {
	// The field context and the context holding it in one allocation
	// (fieldFrame), the function filling the frame's field context; with
	// the fields of the object the field resolves to, if it has fields
	// below it.
	frame := newFrame(ctx, len(field.Selections) > 0)
	fc, err := fieldContext(frame, field)
	if err != nil {
		return graphql.Null // reported by fieldContext
	}
	var fieldCtx context.Context = frame
	if fc == &frame.fc {
		fc.Parent = graphql.GetFieldContext(ctx)
		frame.pending = false
	} else {
		fieldCtx = graphql.WithFieldContext(ctx, fc) // one of its own
	}
	defer func() {
		if r := recover(); r != nil {
			oc.Error(fieldCtx, oc.Recover(fieldCtx, r))
			ret = graphql.Null
		}
	}()
	v, err := resolve(fieldCtx)
	if err != nil {
		oc.Error(fieldCtx, graphql.AddFieldLocationToError(fieldCtx, err))
		return nullOf(fc, nonNull)
	}
	if len(field.Selections) > 0 {
		// The loaders below look for it (graph/loader.go). A leaf has
		// nothing below, and boxing its value (a string) allocates.
		fc.Result = v
	}
	if any(v) == nil { // only a value of an interface type can be nil as such
		if nonNull || fc.NonNull {
			graphql.AddInvalidNullError(fieldCtx, "")
		}
		return nullOf(fc, nonNull)
	}
	return marshal(fieldCtx, field.Selections, v)
}

// nullOf is the null a field resolved to: graphql.RequiredNull, which
// makes its parent null, for a nullable field that its resolver marked
// non-null, as gqlgen's executor does; else graphql.Null, which the
// parent counts as invalid if the schema makes the field non-null.
func nullOf(fc *graphql.FieldContext, nonNull bool) graphql.Marshaler {
	if fc.NonNull && !nonNull {
		return graphql.RequiredNull
	}
	return graphql.Null
}

// Command gqlgen runs gqlgen's generator on gqlgen.yml, as `gqlgen
// generate` does, with one change to the executor it writes: fields below
// the root operation are resolved in the goroutine of their parent, one
// after the other, instead of one goroutine per list element and per
// field that takes a context.
//
// gqlgen starts a goroutine for every element of a list of objects
// (graphql.MarshalSliceConcurrently, whatever exec.worker_limit says) and
// for every resolver field of every object (FieldSet.ResolveConcurrently).
// protoloop's resolvers below the root do not wait on the database per
// row: entgql's field collection loads a connection's edges for all
// parents at once, and the loaders in graph/loader.go and the request
// cache batch the rest by page. So those goroutines only cost: the
// dashboard query started over 1,000 per request, half its CPU in the
// scheduler, stack growth and the garbage collector. A resolver that did
// query per row would now do so serially, which the statement-count tests
// (graph/loading_test.go, graph/queries_test.go) already forbid.
//
// The root fields of an operation stay concurrent (gqlgen's default for
// queries), and mutations stay serial as the spec wants. Fields below the
// root ignore @defer, which the spec allows (the server may deliver a
// deferred fragment with the initial payload).
//
// Three changes do it: a plugin marks every non-root object as not
// concurrent (gqlgen does the same for the Mutation type); the executor's
// calls of graphql.MarshalSliceConcurrently are pointed at
// marshalSliceInOrder (graph/inorder.go), which has the same contract
// without goroutines, gqlgen having no option for that; and the @defer
// group every object's marshaller starts, empty now, is not built.
//
// More cut what each field costs: objects are written by objectFields
// (graph/inorder.go) rather than FieldSet.MarshalGQL, which allocates a
// map and copies every field, and those of all objects but Query are
// filled in it directly (objects.go); objects collect their fields
// through the operation's fieldsCache (graph/collect.go), not gqlgen's
// cache with its hashed key; cursors are written by cursorMarshaler
// and read by unmarshalCursor (graph/cursor.go) rather than with entgql's
// encoder or decoder per cursor; and fields
// that only read a struct field of their parent (no resolver, no
// middleware) and whose marshaller never reads its context (a scalar or
// an enum) skip gqlgen's per-field machinery and call their marshaller
// directly, and the other fields of objects without directives keep their
// field context but are resolved without gqlgen's closures and
// middleware (plain.go). Field contexts take a Child function built once
// per type instead of a closure built with each (child.go). Plain fields
// of Strings, Ints, enums and IDs return a pointer to their struct field
// rather than a boxed value or a closure (pointers.go). And a field
// resolved by resolveField gets its field context and the context holding
// it in one allocation (frames.go).
package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"regexp"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gqlgen:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.LoadConfigFromDefaultLocations()
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("no gqlgen.yml found above the working directory")
	}
	if err != nil {
		return err
	}
	if err := api.Generate(cfg, api.AddPlugin(inOrder{})); err != nil {
		return err
	}
	return rewriteExecutor(cfg.Exec.Filename)
}

// inOrder marks the objects below the root as not concurrent before the
// executor is written.
type inOrder struct{}

func (inOrder) Name() string { return "protoloop-in-order" }

func (inOrder) GenerateCode(data *codegen.Data) error {
	for _, o := range data.Objects {
		if !o.Root {
			o.DisableConcurrency = true
		}
	}
	return nil
}

// rewrites are the textual changes made to the executor gqlgen wrote.
var rewrites = []struct{ from, to, why string }{
	{
		"graphql.MarshalSliceConcurrently(", "marshalSliceInOrder(",
		"list elements in order",
	},
	{
		// Every object's marshaller starts a group for its @defer'd
		// fields, which computes the object's whole path (an allocation
		// per path element, a fifth of the dashboard's CPU). Only
		// FieldSet.ResolveConcurrently adds to the group, and no object
		// calls it any more (checked below), so the group stays empty:
		// its zero value does.
		"deferred := graphql.NewDeferredGroup(ctx)", "var deferred graphql.DeferredGroup",
		"no @defer groups",
	},
	{
		// Each object's marshaller collects its fields through the
		// operation's fieldsCache (graph/collect.go), which gqlgen's
		// CollectFields keys by hashing on every call.
		"type executionContext struct {\n\t*graphql.ExecutionContextState[ResolverRoot, DirectiveRoot, ComplexityRoot]\n",
		"type executionContext struct {\n\t*graphql.ExecutionContextState[ResolverRoot, DirectiveRoot, ComplexityRoot]\n\tfields fieldsCache\n",
		"a fields cache per operation",
	},
	{
		"graphql.CollectFields(ec.OperationContext, sel, ", "ec.fields.collect(ec.OperationContext, sel, ",
		"fields collected through the cache",
	},
	{
		// Without @defer views, an object's marshaller is its fields in
		// order: marshalObject (graph/inorder.go) writes them without the
		// map and copies FieldSet.MarshalGQL allocates per object.
		"\n\treturn out\n}", "\n\treturn marshalObject(fields, out)\n}",
		"objects written by marshalObject",
	},
	{
		// Times are written by marshalTime and marshalTimeAt
		// (graph/scalarat.go), gqlgen's bytes without its closure and
		// strconv.Quote's copies; the null checks around them stay.
		"res := graphql.MarshalTime(v)\n", "res := marshalTime(v)\n",
		"non-null times without gqlgen's closure",
	},
	{
		"res := graphql.MarshalTime(*v)\n", "res := marshalTimeAt(v)\n",
		"nullable times by pointer",
	},
	{
		// A query's data goes into a buffer sized by the operation's
		// last data (graph/databuffer.go) instead of one that doubles
		// from empty.
		"\t\t\tvar buf bytes.Buffer\n\t\t\tdata.MarshalGQL(&buf)\n\t\t\tresponse.Data = buf.Bytes()\n",
		"\t\t\tbuf := newDataBuffer(opCtx.Operation)\n\t\t\tdata.MarshalGQL(buf)\n\t\t\trememberDataSize(opCtx.Operation, buf.Len())\n\t\t\tresponse.Data = buf.Bytes()\n",
		"query data in a buffer of the operation's size",
	},
}

func rewriteExecutor(filename string) error {
	src, err := os.ReadFile(filename)
	if err != nil {
		return err
	}
	if bytes.Contains(src, []byte("out.ResolveConcurrently(")) {
		return fmt.Errorf("%s: an object still resolves fields concurrently; its @defer group is needed", filename)
	}
	// The steps run in this order because some rewrite what an earlier
	// one wrote, and fail when they do not find it:
	//   - fillObjectsInPlace rewrites the `return marshalObject(fields, out)`
	//     that rewrites puts at the end of every object's marshaller;
	//   - marshalFieldsByPointer rewrites the plain fields that
	//     resolvePlainFields wrote;
	//   - fillFieldContextsInFrames gives the context to the calls of
	//     newScalarFieldContext( that shareChildFunctions wrote, and counts
	//     them among the field context functions.
	for _, r := range rewrites {
		if !bytes.Contains(src, []byte(r.from)) {
			return fmt.Errorf("%s: no %q to rewrite (%s); has gqlgen changed?", filename, r.from, r.why)
		}
		src = bytes.ReplaceAll(src, []byte(r.from), []byte(r.to))
	}
	if src, err = rewriteCursorMarshallers(filename, src); err != nil {
		return err
	}
	if src, err = rewriteCursorUnmarshallers(filename, src); err != nil {
		return err
	}
	if src, err = resolvePlainFields(filename, src); err != nil {
		return err
	}
	if src, err = marshalFieldsByPointer(filename, src); err != nil {
		return err
	}
	if src, err = fillObjectsInPlace(filename, src); err != nil {
		return err
	}
	if src, err = shareChildFunctions(filename, src); err != nil {
		return err
	}
	if src, err = fillFieldContextsInFrames(filename, src); err != nil {
		return err
	}
	// The rewrites leave resolvers' bodies indented as they were.
	if src, err = format.Source(src); err != nil {
		return err
	}
	return os.WriteFile(filename, src, 0o644)
}

// cursorUnmarshaller is the body of the executor's unmarshallers of the
// Cursor scalar, which decode with entgql's Cursor.UnmarshalGQL.
var cursorUnmarshaller = regexp.MustCompile(`(v any\) \(\*?entgql\.Cursor\[gid\.ID\], error\) \{\n(?:\tif v == nil \{\n\t\treturn nil, nil\n\t\}\n)?\tvar res (= new\()?entgql\.Cursor\[gid\.ID\]\)?\n\terr := )res\.UnmarshalGQL\(v\)`)

var cursorUnmarshallerDecl = regexp.MustCompile(`(?m)^func \(ec \*executionContext\) unmarshal\S+\(ctx context\.Context, v any\) \(\*?entgql\.Cursor\[gid\.ID\], error\) \{`)

// rewriteCursorUnmarshallers has the executor read cursors with
// unmarshalCursor (graph/cursor.go), entgql's Cursor.UnmarshalGQL with
// msgpack's pooled decoder instead of a decoder and a bufio.Reader per
// cursor. Every unmarshaller of a cursor must be rewritten.
func rewriteCursorUnmarshallers(filename string, src []byte) ([]byte, error) {
	n := 0
	src = cursorUnmarshaller.ReplaceAllFunc(src, func(m []byte) []byte {
		n++
		sub := cursorUnmarshaller.FindSubmatch(m)
		res := "&res"
		if len(sub[2]) > 0 { // res is a pointer already
			res = "res"
		}
		return fmt.Appendf(nil, "%sunmarshalCursor(%s, v)", sub[1], res)
	})
	all := len(cursorUnmarshallerDecl.FindAll(src, -1))
	if n == 0 || n != all {
		return nil, fmt.Errorf("%s: rewrote %d of %d cursor unmarshallers to unmarshalCursor; has gqlgen changed?", filename, n, all)
	}
	return src, nil
}

// cursorMarshaller is the body of the executor's marshallers of the Cursor
// scalar, which return the entgql cursor as its own graphql.Marshaler.
var cursorMarshaller = regexp.MustCompile(`(v (\*?)entgql\.Cursor\[gid\.ID\]\) graphql\.Marshaler \{\n(?:\tif v == nil \{\n(?:\t\t[^\n]*\n)+\t\}\n)?)\treturn v\n\}`)

var cursorMarshallerDecl = regexp.MustCompile(`(?m)^func \(ec \*executionContext\) marshal\S+\(ctx context\.Context, sel ast\.SelectionSet, v \*?entgql\.Cursor\[gid\.ID\]\) graphql\.Marshaler \{`)

// rewriteCursorMarshallers has the executor write cursors with
// cursorMarshaler (graph/cursor.go), the same bytes as entgql's
// Cursor.MarshalGQL without its encoder per cursor; a cursor held by
// pointer (a page's end cursor) as the pointer, converted, which an
// interface holds without allocating. Every marshaller of a cursor must be
// rewritten.
func rewriteCursorMarshallers(filename string, src []byte) ([]byte, error) {
	n := 0
	src = cursorMarshaller.ReplaceAllFunc(src, func(m []byte) []byte {
		n++
		sub := cursorMarshaller.FindSubmatch(m)
		if len(sub[2]) > 0 { // v is a pointer: convert it, not what it points at
			return fmt.Appendf(nil, "%s\treturn (*cursorMarshaler)(v)\n}", sub[1])
		}
		return fmt.Appendf(nil, "%s\treturn cursorMarshaler(v)\n}", sub[1])
	})
	all := len(cursorMarshallerDecl.FindAll(src, -1))
	if n == 0 || n != all {
		return nil, fmt.Errorf("%s: rewrote %d of %d cursor marshallers to cursorMarshaler; has gqlgen changed?", filename, n, all)
	}
	return src, nil
}

package main

import (
	"bytes"
	"fmt"
	"regexp"
)

// fieldContextParam is the signature of a field context function of the
// executor that does not name its context.
var fieldContextParam = regexp.MustCompile(`(?m)^(func \(ec \*executionContext\) fieldContext_\w+)\(_ context\.Context, `)

// fillFieldContextsInFrames has every field context function of the
// executor take its field context from fieldContextIn (graph/fieldframe.go),
// which lends the one of the frame resolveField allocates, rather than
// allocate it: gqlgen's object fields' `fc = &graphql.FieldContext{…}`
// become `fc = fieldContextIn(ctx); *fc = graphql.FieldContext{…}`, and
// the scalar fields' newScalarFieldContext (already ours, child.go) is
// given the context. Every function must be rewritten: one that allocated
// its own would only cost its allocation, but a count that does not add
// up means gqlgen writes them otherwise now.
func fillFieldContextsInFrames(filename string, src []byte) ([]byte, error) {
	all := bytes.Count(src, []byte("\nfunc (ec *executionContext) fieldContext_"))
	src = fieldContextParam.ReplaceAll(src, []byte("${1}(ctx context.Context, "))
	objects := bytes.Count(src, []byte("\tfc = &graphql.FieldContext{\n"))
	src = bytes.ReplaceAll(src, []byte("\tfc = &graphql.FieldContext{\n"), []byte("\tfc = fieldContextIn(ctx)\n\t*fc = graphql.FieldContext{\n"))
	scalars := bytes.Count(src, []byte("\treturn newScalarFieldContext("))
	src = bytes.ReplaceAll(src, []byte("\treturn newScalarFieldContext("), []byte("\treturn newScalarFieldContext(ctx, "))
	if objects == 0 || scalars == 0 || objects+scalars != all {
		return nil, fmt.Errorf("%s: %d object and %d scalar field contexts of %d take theirs from fieldContextIn; has gqlgen changed?", filename, objects, scalars, all)
	}
	return src, nil
}

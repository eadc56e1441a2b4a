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
// Two changes do it: a plugin marks every non-root object as not
// concurrent (gqlgen does the same for the Mutation type), and the
// executor's calls of graphql.MarshalSliceConcurrently are pointed at
// marshalSliceInOrder (graph/inorder.go), which has the same contract
// without goroutines; gqlgen has no option for that.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

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
	return rewriteSliceMarshalling(cfg.Exec.Filename)
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

const (
	concurrentSlice = "graphql.MarshalSliceConcurrently("
	inOrderSlice    = "marshalSliceInOrder("
)

func rewriteSliceMarshalling(filename string) error {
	src, err := os.ReadFile(filename)
	if err != nil {
		return err
	}
	if !bytes.Contains(src, []byte(concurrentSlice)) {
		return fmt.Errorf("%s: no call of %s to rewrite; has gqlgen changed?", filename, concurrentSlice)
	}
	out := bytes.ReplaceAll(src, []byte(concurrentSlice), []byte(inOrderSlice))
	return os.WriteFile(filename, out, 0o644)
}

// Package graph is protoloop's GraphQL layer: thin resolvers that
// validate input, call ent and map errors. gqlgen generates the executor
// (generated.go, models_gen.go) and the resolver stubs from schema/.
package graph

// gqlgen finds gqlgen.yml at the repository root and runs from there.
// graph/internal/gqlgen is `gqlgen generate` with fields below the root
// resolved in order rather than one goroutine each (see its doc).
//go:generate go run ./internal/gqlgen

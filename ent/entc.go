//go:build ignore

// entc generates the ent client and, through entgql, the GraphQL schema
// for it (schema/ent.graphqls). It runs by
// `go generate ./...`, before gqlgen.
package main

import (
	"log"
	"os"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

func main() {
	// Work from the repository root, where gqlgen.yml's paths start: entgql
	// tells its own output from hand-written SDL by comparing those paths.
	if err := os.Chdir(".."); err != nil {
		log.Fatalf("entering the repository root: %v", err)
	}
	ex, err := entgql.NewExtension(
		entgql.WithTemplates(templates()...),
		entgql.WithConfigPath("gqlgen.yml"),
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("schema/ent.graphqls"),
		entgql.WithWhereInputs(true),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	err = entc.Generate("./ent/schema", &gen.Config{
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureEntQL,
			gen.FeatureUpsert,
			gen.FeatureLock,
			gen.FeatureExecQuery,
			gen.FeatureModifier,
			gen.FeatureVersionedMigration,
		},
	}, entc.Extensions(ex))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}

// templates are entgql's, with its field collection replaced by
// ent/template/gql_collection.tmpl: entgql's own, which also selects the
// columns that hand-written resolvers read (schema.ResolverColumns), and
// counts a nested connection's rows for totalCount only, not pageInfo.
func templates() []*gen.Template {
	collection := gen.MustParse(gen.NewTemplate("gql_collection").
		Funcs(entgql.TemplateFuncs).
		ParseFiles("ent/template/gql_collection.tmpl"))
	var ts []*gen.Template
	for _, t := range entgql.AllTemplates {
		if t == entgql.CollectionTemplate {
			t = collection
		}
		ts = append(ts, t)
	}
	return ts
}

package graph

import (
	"log/slog"

	"github.com/99designs/gqlgen/graphql"

	"github.com/protoloop/protoloop/ent"
)

// Resolver holds what the resolvers share. Mutations read the transaction
// client from their context (ent.FromContext), set by the Transactioner;
// queries use client.
type Resolver struct {
	client  *ent.Client
	dialect string // ent's dialect name: where SQLite and PostgreSQL differ
	log     *slog.Logger
}

// NewSchema returns protoloop's executable GraphQL schema over client,
// whose database speaks the given ent dialect.
func NewSchema(client *ent.Client, dialect string, log *slog.Logger) graphql.ExecutableSchema {
	return NewExecutableSchema(Config{Resolvers: &Resolver{client: client, dialect: dialect, log: log}})
}

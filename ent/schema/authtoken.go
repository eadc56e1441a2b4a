package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

// AuthToken is a bearer credential. Only the SHA-256 of the token is
// stored: a leaked database does not leak working tokens.
type AuthToken struct{ ent.Schema }

func (AuthToken) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{typ: gid.AuthToken}, timeMixin{}}
}

func (AuthToken) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("user_id").GoType(gid.ID(0)).Optional().Nillable().Immutable(),
		field.Int64("participant_id").GoType(gid.ID(0)).Optional().Nillable().Immutable(),
		field.Bytes("token_hash").Unique().Sensitive().Immutable(),
		field.Strings("scopes").Default([]string{}),
		field.Time("last_used_at").Optional().Nillable(),
		field.Time("expires_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
	}
}

func (AuthToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Immutable(),
		edge.To("participant", Participant.Type).Field("participant_id").Unique().Immutable(),
	}
}

func (AuthToken) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id"), index.Fields("participant_id")}
}

// Tokens are listed and revoked through their own API in the access-control
// work; until then they are not part of the GraphQL schema.
func (AuthToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

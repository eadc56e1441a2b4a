package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/protoloop/protoloop/ent/schema/bytea"
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
		field.Int64("user_id").GoType(gid.ID(0)).Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int64("participant_id").GoType(gid.ID(0)).Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("Set for a guest's token: the participant it acts as."),
		field.Bytes("token_hash").GoType(bytea.Bytes(nil)).Unique().Sensitive().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("label").Default("").MaxRuneLen(maxName).
			Comment("What the token is for, as its owner named it (\"laptop\", \"CI\")."),
		field.Strings("scopes").Default([]string{}),
		field.Time("last_used_at").Optional().Nillable(),
		field.Time("expires_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
	}
}

func (AuthToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		// A guest's token is its participation: it goes when that does.
		edge.To("participant", Participant.Type).Field("participant_id").Unique().
			Annotations(entgql.Skip(entgql.SkipAll), entsql.OnDelete(entsql.Cascade)),
	}
}

func (AuthToken) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id"), index.Fields("participant_id")}
}

func (AuthToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}

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

// Invite is a link that lets guests try a prototype and give feedback
// without an account. Only a hash of its secret token is stored.
type Invite struct{ ent.Schema }

func (Invite) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{typ: gid.Invite}, timeMixin{}, workspaceMixin{}}
}

func (Invite) Fields() []ent.Field {
	return []ent.Field{
		prototypeField(),
		field.Int64("created_by_id").GoType(gid.ID(0)).Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("role").Values("TESTER").Default("TESTER").Immutable(),
		field.Bytes("token_hash").GoType(bytea.Bytes(nil)).Unique().Sensitive().Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("expires_at").Optional().Nillable().Immutable(),
		field.Int("max_uses").Optional().Nillable().Positive().Immutable(),
		field.Int("uses").Default(0).NonNegative(),
		field.Time("revoked_at").Optional().Nillable(),
	}
}

func (Invite) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("prototype", Prototype.Type).Field("prototype_id").Unique().Required().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("created_by", User.Type).Field("created_by_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

func (Invite) Indexes() []ent.Index {
	return []ent.Index{index.Fields("prototype_id"), index.Fields("created_by_id")}
}

func (Invite) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.Skip(entgql.SkipWhereInput)}
}

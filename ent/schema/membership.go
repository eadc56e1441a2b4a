package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// Membership puts a user in a workspace with a role.
type Membership struct{ ent.Schema }

func (Membership) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{typ: gid.Membership}, timeMixin{}}
}

func (Membership) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("workspace_id").GoType(gid.ID(0)).Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int64("user_id").GoType(gid.ID(0)).Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("role").GoType(viewer.Role("")),
	}
}

func (Membership) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("workspace", Workspace.Type).Ref("memberships").Field("workspace_id").Unique().Required().Immutable(),
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable(),
	}
}

func (Membership) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("workspace_id", "user_id").Unique(),
		index.Fields("user_id"),
	}
}

func (Membership) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput)}
}

package schema

import (
	"regexp"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

// slugPattern is the form of workspace and prototype slugs: they appear in
// URLs, so only lowercase letters, digits and dashes.
var slugPattern = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// Workspace is a team or organisation: the unit of membership and of
// access control.
type Workspace struct{ ent.Schema }

func (Workspace) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{typ: gid.Workspace}, timeMixin{}}
}

func (Workspace) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").
			NotEmpty().
			MaxRuneLen(maxTitle).
			Annotations(entgql.OrderField("NAME")),
		field.String("slug").
			Unique().
			Match(slugPattern).
			Annotations(entgql.OrderField("SLUG")),
		field.Text("mission").
			Default("").
			MaxRuneLen(maxBody).
			Comment("What the team exists to do; every prototype says how it serves this."),
		field.Int("headcount").
			Default(0).
			Range(0, 10_000_000).
			Comment("People whose time the workspace's prototypes could save, for impact projections."),
	}
}

func (Workspace) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("memberships", Membership.Type).
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.To("prototypes", Prototype.Type).
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

func (Workspace) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
		entgql.Skip(entgql.SkipWhereInput),
	}
}

package schema

import (
	"fmt"
	"strings"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

// Prototype is a rough thing a team is trying out with its users.
type Prototype struct{ ent.Schema }

func (Prototype) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{typ: gid.Prototype}, timeMixin{}}
}

func (Prototype) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("workspace_id").
			GoType(gid.ID(0)).
			Immutable().
			Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput, entgql.SkipMutationUpdateInput)),
		field.Int64("owner_id").
			GoType(gid.ID(0)).
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("title").
			NotEmpty().
			MaxRuneLen(maxTitle).
			Annotations(entgql.OrderField("TITLE")),
		field.String("slug").
			Match(slugPattern).
			Annotations(entgql.OrderField("SLUG")),
		field.Text("problem").
			Default("").
			MaxRuneLen(maxBody).
			Comment("What slows the prototype's users down today."),
		field.Text("mission_link").
			Default("").
			MaxRuneLen(maxBody).
			Comment("How solving the problem serves the workspace's mission."),
		field.Enum("status").
			Values("DRAFT", "TESTING", "ADOPTED", "SHELVED").
			Default("DRAFT").
			Annotations(entgql.OrderField("STATUS"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Bool("open_feedback").
			Default(false).
			Comment("Whether testers may see each other's names; otherwise they see only their own."),
		field.Strings("tags").
			Default([]string{}).
			Validate(validateTags),
	}
}

func (Prototype) Edges() []ent.Edge {
	noInput := entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)
	return []ent.Edge{
		edge.From("workspace", Workspace.Type).
			Ref("prototypes").
			Field("workspace_id").
			Unique().
			Required().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.To("owner", User.Type).
			Field("owner_id").
			Unique().
			Required().
			Annotations(noInput, entgql.Skip(entgql.SkipWhereInput)),
		edge.To("iterations", Iteration.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.RelayConnection(), noInput),
		edge.To("feedback", Feedback.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.RelayConnection(), noInput),
		edge.To("participants", Participant.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.RelayConnection(), noInput),
		// Everything that belongs to a prototype goes when it is deleted, in
		// the delete's own statement (ON DELETE CASCADE on each prototype_id).
		edge.From("invites", Invite.Type).
			Ref("prototype").
			Annotations(entgql.RelayConnection(), noInput),
		edge.To("timeline", Event.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.RelayConnection(), noInput),
	}
}

func (Prototype) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("workspace_id", "slug").Unique(),
		index.Fields("workspace_id", "created_at"),
		index.Fields("owner_id"),
	}
}

func (Prototype) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}

const (
	maxTags   = 20
	maxTagLen = 40
)

func validateTags(tags []string) error {
	if len(tags) > maxTags {
		return fmt.Errorf("at most %d tags", maxTags)
	}
	for _, t := range tags {
		if t == "" || len(t) > maxTagLen || strings.TrimSpace(t) != t {
			return fmt.Errorf("tag %q must be 1 to %d characters without surrounding spaces", t, maxTagLen)
		}
	}
	return nil
}

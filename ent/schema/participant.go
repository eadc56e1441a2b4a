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

// Participant is someone who takes part in a prototype's tests: a user
// with an account, or a guest admitted through an invite. Everything a
// person does on a prototype (trials, feedback, comments, votes) is
// attributed to their participant, so guests and users are handled alike.
type Participant struct{ ent.Schema }

func (Participant) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{typ: gid.Participant}, timeMixin{}, workspaceMixin{}}
}

func (Participant) Fields() []ent.Field {
	return []ent.Field{
		prototypeField(),
		field.Int64("user_id").
			GoType(gid.ID(0)).
			Optional().
			Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int64("invite_id").
			GoType(gid.ID(0)).
			Optional().
			Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("The invite the participant came through; set later when a member redeems one."),
		field.String("display_name").
			NotEmpty().
			MaxRuneLen(maxName).
			// Not filterable or sortable: testers see other testers' names
			// masked, and a filter would test the real one (filters run in
			// subqueries that privacy rules do not reach).
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.String("email").
			Optional().
			Nillable().
			MaxLen(254).
			Validate(validateEmail).
			Annotations(entgql.Skip(entgql.SkipWhereInput)).
			Comment("A guest's contact address, if they chose to give one."),
	}
}

func (Participant) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("prototype", Prototype.Type).
			Ref("participants").
			Field("prototype_id").
			Unique().
			Required().
			Immutable(),
		edge.To("user", User.Type).
			Field("user_id").
			Unique().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.To("invite", Invite.Type).
			Field("invite_id").
			Unique().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.From("trials", Trial.Type).Ref("participant").Annotations(entgql.Skip(entgql.SkipAll)),
		edge.From("feedback", Feedback.Type).Ref("author").Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Participant) Indexes() []ent.Index {
	return []ent.Index{
		// A user takes part in a prototype once; guests (no user) any number of times.
		index.Fields("prototype_id", "user_id").Unique(),
		index.Fields("user_id"),
		index.Fields("invite_id"),
	}
}

func (Participant) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.Implements("Actor")}
}

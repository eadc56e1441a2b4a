package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

// Vote is a participant's "me too" on feedback; one per participant.
type Vote struct{ ent.Schema }

func (Vote) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{typ: gid.Vote}, timeMixin{}, workspaceMixin{}}
}

func (Vote) Fields() []ent.Field {
	return []ent.Field{
		prototypeField(),
		// Not immutable: mergeFeedback moves a duplicate's votes and comments
		// onto the original.
		field.Int64("feedback_id").GoType(gid.ID(0)).Annotations(entgql.Skip(entgql.SkipType)),
		field.Int64("participant_id").GoType(gid.ID(0)).Immutable().Annotations(entgql.Skip(entgql.SkipType)),
	}
}

func (Vote) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("feedback", Feedback.Type).Ref("votes").Field("feedback_id").Unique().Required(),
		edge.To("participant", Participant.Type).Field("participant_id").Unique().Required().Immutable(),
		edge.To("prototype", Prototype.Type).Field("prototype_id").Unique().Required().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipAll)),
	}
}

func (Vote) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("feedback_id", "participant_id").Unique(),
		index.Fields("participant_id"),
		index.Fields("prototype_id"),
	}
}

func (Vote) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}

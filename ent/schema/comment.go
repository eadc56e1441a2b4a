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

// Comment is a threaded reply on feedback.
type Comment struct{ ent.Schema }

func (Comment) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{typ: gid.Comment}, timeMixin{}, workspaceMixin{}}
}

func (Comment) Fields() []ent.Field {
	return []ent.Field{
		prototypeField(),
		// Not immutable: mergeFeedback moves a duplicate's votes and comments
		// onto the original.
		field.Int64("feedback_id").GoType(gid.ID(0)).Annotations(entgql.Skip(entgql.SkipType)),
		field.Int64("author_id").GoType(gid.ID(0)).Immutable().Annotations(entgql.Skip(entgql.SkipType)),
		field.Int64("parent_id").GoType(gid.ID(0)).Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipType)),
		field.Text("body").NotEmpty().MaxRuneLen(maxBody),
	}
}

func (Comment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("feedback", Feedback.Type).Ref("comments").Field("feedback_id").Unique().Required(),
		edge.To("author", Participant.Type).Field("author_id").Unique().Required().Immutable(),
		edge.To("prototype", Prototype.Type).Field("prototype_id").Unique().Required().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipAll)),
		edge.To("replies", Comment.Type).
			From("parent").
			Field("parent_id").
			Unique().
			Immutable(),
	}
}

func (Comment) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("feedback_id", "created_at"),
		index.Fields("author_id"),
		index.Fields("parent_id"),
		index.Fields("prototype_id"),
	}
}

func (Comment) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}

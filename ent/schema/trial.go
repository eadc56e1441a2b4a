package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

// Trial is one person trying one iteration, from start to outcome.
type Trial struct{ ent.Schema }

func (Trial) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{typ: gid.Trial}, timeMixin{}, workspaceMixin{}}
}

func (Trial) Fields() []ent.Field {
	return []ent.Field{
		prototypeField(),
		field.Int64("iteration_id").GoType(gid.ID(0)).Immutable().Annotations(entgql.Skip(entgql.SkipType)),
		field.Int64("participant_id").GoType(gid.ID(0)).Immutable().Annotations(entgql.Skip(entgql.SkipType)),
		field.Time("started_at").
			Default(time.Now).
			Immutable().
			Annotations(entgql.OrderField("STARTED_AT")),
		field.Time("ended_at").
			Optional().
			Nillable().
			Annotations(entgql.OrderField("ENDED_AT")),
		field.Enum("outcome").
			Values("COMPLETED", "ABANDONED", "BLOCKED").
			Optional().
			Nillable(),
		field.Text("task").
			Optional().
			Nillable().
			MaxRuneLen(maxShort).
			Annotations(entgql.Skip(entgql.SkipWhereInput)). // testers may not read others' trials
			Comment("What the tester set out to do."),
		field.String("device").
			Optional().
			Nillable().
			MaxRuneLen(maxShort).
			Annotations(entgql.Skip(entgql.SkipWhereInput)).
			Comment("Device or context of the trial, as the tester describes it."),
	}
}

func (Trial) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("iteration", Iteration.Type).Ref("trials").Field("iteration_id").Unique().Required().Immutable(),
		edge.To("participant", Participant.Type).Field("participant_id").Unique().Required().Immutable(),
		edge.To("prototype", Prototype.Type).Field("prototype_id").Unique().Required().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipAll)),
		edge.From("feedback", Feedback.Type).Ref("trial").Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

func (Trial) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("iteration_id", "started_at"),
		index.Fields("participant_id"),
		index.Fields("prototype_id"),
	}
}

func (Trial) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}

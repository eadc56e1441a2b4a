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

// AlertRule watches one figure of a prototype and records an ALERT event
// when it crosses the rule's threshold: a feedback reaching N votes, N
// testers abandoning a trial of one iteration, or the average rating of
// the latest published iteration dropping below X. It fires once per
// crossing: again only after the figure went back and crossed again.
type AlertRule struct{ ent.Schema }

// AlertRuleKinds are the figures a rule can watch.
var AlertRuleKinds = []string{"FEEDBACK_VOTES", "TRIALS_ABANDONED", "RATING_BELOW"}

func (AlertRule) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{typ: gid.AlertRule}, timeMixin{}, workspaceMixin{}}
}

func (AlertRule) Fields() []ent.Field {
	return []ent.Field{
		prototypeField(),
		field.Enum("kind").
			Values(AlertRuleKinds...).
			Immutable().
			Comment("What the rule watches; a rule that watches something else is another rule."),
		field.Float("threshold").
			Comment("N votes or abandoned trials (a whole number, at least 1), or the rating X (1 to 5) for RATING_BELOW."),
		field.Bool("enabled").
			Default(true),
		field.Int64("crossed_for").
			GoType(gid.ID(0)).
			Optional().
			Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("RATING_BELOW: the iteration whose average is below the threshold now, if any. " +
				"Counting rules need no state: their figures move one at a time, so the step onto N is the crossing."),
		field.Int("fired_count").
			Default(0).
			NonNegative().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)).
			Comment("How many ALERT events the rule has recorded."),
		field.Time("last_fired_at").
			Optional().
			Nillable().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

func (AlertRule) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("prototype", Prototype.Type).Field("prototype_id").Unique().Required().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipAll)),
	}
}

func (AlertRule) Indexes() []ent.Index {
	// Evaluating a change reads the enabled rules of one kind of one
	// prototype.
	return []ent.Index{index.Fields("prototype_id", "kind")}
}

func (AlertRule) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipWhereInput),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}

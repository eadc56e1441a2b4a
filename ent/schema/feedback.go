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

// Feedback is what someone said about an iteration.
type Feedback struct{ ent.Schema }

func (Feedback) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{typ: gid.Feedback}, timeMixin{}, workspaceMixin{}}
}

func (Feedback) Fields() []ent.Field {
	return []ent.Field{
		prototypeField(),
		field.Int64("iteration_id").GoType(gid.ID(0)).Immutable().Annotations(entgql.Skip(entgql.SkipType)),
		field.Int64("author_id").GoType(gid.ID(0)).Immutable().Annotations(entgql.Skip(entgql.SkipType)),
		field.Int64("trial_id").GoType(gid.ID(0)).Optional().Nillable().Immutable().Annotations(entgql.Skip(entgql.SkipType)),
		field.Int64("addressed_in_id").GoType(gid.ID(0)).Optional().Nillable().Annotations(entgql.Skip(entgql.SkipType)),
		field.Enum("kind").
			Values("BUG", "IDEA", "QUESTION", "PRAISE", "CONFUSION", "WORKAROUND").
			Annotations(entgql.OrderField("KIND")),
		field.Text("body").
			NotEmpty().
			MaxRuneLen(maxBody),
		field.Int("rating").
			Optional().
			Nillable().
			Range(1, 5).
			Annotations(entgql.OrderField("RATING")),
		field.Int("minutes_saved_per_day").
			Optional().
			Nillable().
			Range(0, 480).
			Annotations(entgql.OrderField("MINUTES_SAVED_PER_DAY")).
			Comment("The tester's estimate of the time this would save them each day."),
		field.Enum("status").
			Values("OPEN", "ACKNOWLEDGED", "PLANNED", "ADDRESSED", "VERIFIED", "DECLINED", "RETRACTED", "MERGED").
			Default("OPEN").
			Annotations(entgql.OrderField("STATUS")),
		field.Enum("verdict").
			Values("FIXED", "PARTLY", "NOT_FIXED").
			Optional().
			Nillable().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)).
			Comment("What the author said of the fix when last asked to check it (verifyFix)."),
		field.Time("verified_at").
			Optional().
			Nillable().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)).
			Comment("When the author last gave a verdict on a fix."),
		// entgql's edge-count orderings (VOTES_COUNT on the edge) are not
		// used: they sort by a count from a LEFT JOIN that is NULL, not 0, for
		// feedback without votes, which PostgreSQL sorts first when descending.
		field.Int64("merged_into_id").
			GoType(gid.ID(0)).
			Optional().
			Nillable().
			Annotations(entgql.Skip(entgql.SkipType)).
			Comment("The feedback this duplicate was merged into (its status is then MERGED)."),
		field.Int("vote_count").
			Default(0).
			NonNegative().
			Annotations(entgql.OrderField("VOTE_COUNT"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)).
			Comment("How many participants said \"me too\"; kept with each vote, so ordering by it is an index scan."),
		field.String("idempotency_key").
			Optional().
			Nillable().
			Immutable().
			NotEmpty().
			MaxRuneLen(128).
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("Set by a retrying client: the same key from the same author is the same feedback."),
	}
}

func (Feedback) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("prototype", Prototype.Type).Ref("feedback").Field("prototype_id").Unique().Required().Immutable(),
		edge.From("iteration", Iteration.Type).Ref("feedback").Field("iteration_id").Unique().Required().Immutable(),
		edge.To("author", Participant.Type).Field("author_id").Unique().Required().Immutable(),
		edge.To("trial", Trial.Type).Field("trial_id").Unique().Immutable(),
		edge.From("addressed_in", Iteration.Type).Ref("addresses").Field("addressed_in_id").Unique(),
		edge.To("comments", Comment.Type).
			Annotations(entgql.RelayConnection()),
		edge.To("votes", Vote.Type).
			Annotations(entgql.RelayConnection()),
		// mergedFrom lists the duplicates merged into this feedback: their
		// authors are credited as its contributors.
		edge.To("merged_from", Feedback.Type).
			From("merged_into").
			Field("merged_into_id").
			Unique(),
	}
}

func (Feedback) Indexes() []ent.Index {
	return []ent.Index{
		// An iteration's feedback is paged by ID (the default order, the
		// dashboard's nested page): each parent's page of a LATERAL step
		// is read in index order and stops after the page. It serves the
		// iteration foreign key too; ordering by CREATED_AT within an
		// iteration sorts its rows instead.
		index.Fields("iteration_id", "id"),
		// A prototype's feedback in time, with the ID that orders rows of one
		// time: pages by CREATED_AT and the export's pages stop in the
		// index, however many rows share a time.
		index.Fields("prototype_id", "created_at", "id"),
		index.Fields("prototype_id", "status"),
		index.Fields("prototype_id", "vote_count"),
		index.Fields("author_id", "idempotency_key").Unique(),
		index.Fields("trial_id"),
		index.Fields("addressed_in_id"),
		index.Fields("merged_into_id"),
	}
}

func (Feedback) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}

package schema

import (
	"fmt"
	"net/url"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

// Iteration is one version of a prototype. Drafts have no number; the
// server numbers an iteration 1, 2, 3… when it is published.
type Iteration struct{ ent.Schema }

func (Iteration) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{typ: gid.Iteration}, timeMixin{}, workspaceMixin{}}
}

func (Iteration) Fields() []ent.Field {
	return []ent.Field{
		prototypeField(),
		field.Int("number").
			Optional().
			Nillable().
			Positive().
			Annotations(entgql.OrderField("NUMBER"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.String("title").
			NotEmpty().
			MaxRuneLen(maxTitle).
			Annotations(entgql.OrderField("TITLE")),
		field.Text("changelog").
			Default("").
			MaxRuneLen(maxBody),
		field.String("url").
			Optional().
			Nillable().
			MaxLen(2048).
			Validate(validateURL).
			Comment("Where testers can try this iteration."),
		field.Enum("status").
			Values("DRAFT", "PUBLISHED", "RETIRED").
			Default("DRAFT").
			Annotations(entgql.OrderField("STATUS"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Time("published_at").
			Optional().
			Nillable().
			Annotations(entgql.OrderField("PUBLISHED_AT"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

func (Iteration) Edges() []ent.Edge {
	noInput := entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)
	return []ent.Edge{
		edge.From("prototype", Prototype.Type).
			Ref("iterations").
			Field("prototype_id").
			Unique().
			Required().
			Immutable().
			Annotations(noInput),
		edge.To("feedback", Feedback.Type).
			Annotations(entgql.RelayConnection(), noInput),
		edge.To("trials", Trial.Type).
			Annotations(entgql.RelayConnection(), noInput),
		edge.To("addresses", Feedback.Type).
			Comment("The feedback this iteration answers: \"you said, we did\".").
			Annotations(entgql.RelayConnection(), noInput),
	}
}

func (Iteration) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("prototype_id", "number").Unique(),
		// A prototype's iterations paged by ID (the default order) are read
		// in index order, as feedback by (iteration_id, id). It replaced
		// (prototype_id, created_at): ordered by CREATED_AT, a prototype's
		// iterations (tens, not thousands) are read and sorted, and since
		// IDs are given in creation order the default order is that order.
		index.Fields("prototype_id", "id"),
	}
}

func (Iteration) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}

func validateURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http or https URL", s)
	}
	return nil
}

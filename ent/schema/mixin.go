package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"entgo.io/ent/schema/mixin"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

// idMixin gives an entity a random, typed 63-bit primary key (see gid).
type idMixin struct {
	mixin.Schema
	typ gid.Type
}

func (m idMixin) Fields() []ent.Field {
	incremental := false
	return []ent.Field{
		field.Int64("id").
			GoType(gid.ID(0)).
			DefaultFunc(gid.Generator(m.typ)).
			Immutable().
			Annotations(entsql.Annotation{Incremental: &incremental}),
	}
}

// timeMixin records when a row was created and last changed, and offers
// both as orderings in the API.
type timeMixin struct{ mixin.Schema }

func (timeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").
			Default(time.Now).
			Immutable().
			Annotations(entgql.OrderField("CREATED_AT"), entgql.Skip(entgql.SkipMutationCreateInput)),
		field.Time("updated_at").
			Default(time.Now).
			UpdateDefault(time.Now).
			Annotations(entgql.OrderField("UPDATED_AT"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// workspaceMixin stores the workspace a row belongs to on the row itself.
// Authorization filters on this column (and prototype_id where a row has
// one) alone, so checking access never needs a join, whatever path a query
// took to reach the row.
type workspaceMixin struct {
	mixin.Schema
	// covered is set on schemas with an index of their own that starts
	// with workspace_id, which serves every lookup the mixin's index
	// would: a second one would only cost every write its upkeep.
	covered bool
}

func (workspaceMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("workspace_id").
			GoType(gid.ID(0)).
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (workspaceMixin) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("workspace", Workspace.Type).
			Field("workspace_id").
			Unique().
			Required().
			Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (m workspaceMixin) Indexes() []ent.Index {
	if m.covered {
		return nil
	}
	return []ent.Index{index.Fields("workspace_id")}
}

// prototypeField is the prototype_id column of prototype-level rows. The
// API shows the prototype edge instead, and filters may name the column.
func prototypeField() ent.Field {
	return field.Int64("prototype_id").
		GoType(gid.ID(0)).
		Immutable().
		Annotations(entgql.Skip(entgql.SkipType, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput))
}

// Limits shared by the schemas, in characters (runes), as the API states them.
const (
	maxTitle = 200
	maxBody  = 10_000
	maxName  = 200
	maxShort = 500
)

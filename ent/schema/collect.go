package schema

// ResolverColumns names, for each GraphQL field that a hand-written
// resolver adds to a type (an `extend type` in schema/*.graphqls), the
// columns of the type's table that resolver reads. Keys are GraphQL field
// names; values are ent field names (the template in ent/entc.go matches
// them against the type's fields, not its storage columns).
//
// entgql's field collection selects only the columns of the fields a
// query asks for. A field it does not know falls to its default case,
// which selects every column: a hand-written field left out of this map
// is safe, only slower. A listed field selects exactly the columns listed
// here instead, so the hazard is a listed field whose resolver (or what it
// calls, such as graph's loadEventRefs or actorID) starts reading a column
// not listed: it reads that column's zero value, silently. Whoever changes
// such a resolver must update its entry.
type ResolverColumns map[string][]string

// Name implements schema.Annotation.
func (ResolverColumns) Name() string { return "ResolverColumns" }

// ResolverJoins names, for fields listed in ResolverColumns, a function of
// package ent/schema/joins that field collection calls with the field:
// it returns a modifier that reads, in the page's own statement, what the
// field's resolver would read with another one, or nil when it cannot
// answer the field's selection. The resolver must use what the join read
// when it is there and load as before when it is not (graph/event.go's
// actor, for ActorNames).
type ResolverJoins map[string]string

// Name implements schema.Annotation.
func (ResolverJoins) Name() string { return "ResolverJoins" }

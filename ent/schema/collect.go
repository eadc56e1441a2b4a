package schema

// ResolverColumns names, for each GraphQL field that a hand-written
// resolver adds to a type (an `extend type` in schema/*.graphqls), the
// columns of the type's table that resolver reads. entgql's field
// collection selects only the columns of the fields a query asks for, but
// it cannot tell what a resolver of its own reads, so one field it does
// not know makes it select every column. Collection (entgql's template
// as ent/entc.go patches it) selects these instead; a field with no
// columns reads none. Every hand-written field of the type must be
// listed, with every column its resolver (and what it calls) reads: a
// column left out is read as its zero value.
type ResolverColumns map[string][]string

// Name implements schema.Annotation.
func (ResolverColumns) Name() string { return "ResolverColumns" }

package graph

import (
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// fieldsCache keeps graphql.CollectFields' results for one operation: the
// executor's marshaller of every object asks for its fields (see
// graph/internal/gqlgen), once per object of a page. gqlgen caches them
// per operation too, but computes its key on every call by hashing the
// type's names with a new FNV hasher, 4% of the dashboard's CPU. Here
// the key is the selection set's and the implementors' addresses: the
// selection sets are the parsed document's, and the implementors
// gqlgen's package variables, fixed for the operation, as are its
// variables, on which @skip and @include depend.
type fieldsCache struct {
	mu     sync.Mutex
	fields map[fieldsKey][]graphql.CollectedField
}

type fieldsKey struct {
	sel       *ast.Selection
	selLen    int
	satisfies *string
	satLen    int
}

// collect returns graphql.CollectFields(oc, sel, satisfies), computed once
// per operation (twice at most for root fields that miss at the same
// moment: Query's fields run concurrently, hence the lock; both compute
// the same fields). sel and satisfies must be the document's and the
// executor's own slices, whose addresses are the key: a slice built per
// call would add an entry per call for the operation's life.
func (c *fieldsCache) collect(oc *graphql.OperationContext, sel ast.SelectionSet, satisfies []string) []graphql.CollectedField {
	if len(sel) == 0 || len(satisfies) == 0 {
		return graphql.CollectFields(oc, sel, satisfies)
	}
	key := fieldsKey{sel: &sel[0], selLen: len(sel), satisfies: &satisfies[0], satLen: len(satisfies)}
	c.mu.Lock()
	fields, ok := c.fields[key]
	c.mu.Unlock()
	if ok {
		return fields
	}
	fields = graphql.CollectFields(oc, sel, satisfies)
	c.mu.Lock()
	if c.fields == nil {
		c.fields = make(map[fieldsKey][]graphql.CollectedField)
	}
	c.fields[key] = fields
	c.mu.Unlock()
	return fields
}

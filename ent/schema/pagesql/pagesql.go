// Package pagesql holds the SQL that ent's eager loading and entgql's
// nested connection pages use on PostgreSQL instead of their portable
// forms. The generated code in ent/ calls it through the templates that
// ent/entc.go patches; SQLite keeps ent's and entgql's own SQL.
package pagesql

import (
	"context"
	"database/sql/driver"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/lib/pq"
)

// parentKeysKey carries the parentKeys of the query an eager loader is
// running: the loader knows the keys; the per-parent limit, built when
// the fields were collected, runs later as a modifier of the same query
// and finds them here.
type parentKeysKey struct{}

// parentKeys is what the loader's predicate (ParentIn) and the per-parent
// limit (LimitPerParent) of one query share.
type parentKeys struct {
	column string // the children's column that points at the parents
	keys   []driver.Value
	// filtered is set when ParentIn has filtered the query by the keys,
	// lateral when LimitPerParent has made the query a LATERAL join over
	// them: ParentIn then compares with each key in turn instead.
	filtered, lateral bool
}

// WithParentKeys returns ctx telling ParentIn and LimitPerParent that the
// query run with it loads the children of keys through column.
func WithParentKeys(ctx context.Context, column string, keys []driver.Value) context.Context {
	return context.WithValue(ctx, parentKeysKey{}, &parentKeys{column: column, keys: keys})
}

func parentKeysOf(s *sql.Selector, column string) *parentKeys {
	if s.Context() == nil {
		return nil
	}
	p, _ := s.Context().Value(parentKeysKey{}).(*parentKeys)
	if p == nil || p.column != column {
		return nil
	}
	return p
}

// ParentIn filters s to the children of keys, through column: In, or,
// once LimitPerParent has made s a LATERAL join over the same keys, a
// comparison with the key of the join's current row, so that the keys
// are not sent and matched twice.
func ParentIn(s *sql.Selector, column string, keys []driver.Value) *sql.Predicate {
	c := s.C(column) // now: LimitPerParent replaces s
	in := In(s, c, keys)
	p := parentKeysOf(s, column)
	if p == nil {
		return in
	}
	p.filtered = true
	return sql.P(func(b *sql.Builder) {
		if p.lateral {
			b.Ident(c).WriteOp(sql.OpEQ).WriteString("parent.key")
			return
		}
		b.Join(in)
	})
}

// LimitPerParent keeps the first limit children of each parent, in the
// order of orderBy. On PostgreSQL, when the eager loader has filtered the
// query by its parents' keys (WithParentKeys, ParentIn), it reads each
// parent's children through a LATERAL subquery, which stops after limit
// rows (for a single parent, the query itself stops there):
//
//	SELECT t.cols FROM unnest($1::bigint[]) AS parent(key)
//	CROSS JOIN LATERAL (SELECT … WHERE t.col = parent.key AND <the query's other filters> ORDER BY … LIMIT n) AS t
//
// entgql's window form (entgql.LimitPerRow, used otherwise) reads and
// sorts every child of every parent to keep the first few of each.
// Each parent's children come out in order, one parent after the other:
// a property of the plan (a nested loop over the keys, the only plan
// PostgreSQL has for a correlated subquery with a LIMIT), as the window
// form's order is one of its plan; the outer query has no ORDER BY.
func LimitPerParent(column string, limit int, orderBy ...sql.Querier) func(*sql.Selector) {
	window := entgql.LimitPerRow(column, limit, orderBy...)
	return func(s *sql.Selector) {
		p := parentKeysOf(s, column)
		if p == nil || !p.filtered || s.Dialect() != dialect.Postgres {
			window(s)
			return
		}
		keys, ok := asInt64s(p.keys)
		if !ok {
			window(s)
			return
		}
		if len(keys) == 1 {
			// One parent (a workspace's prototypes, a prototype's
			// iterations): its page is the query itself, ParentIn's
			// column = $1 ordered and limited. PostgreSQL keeps one
			// generic plan for a prepared statement unless it looks
			// dearer than planning for the values given, and for
			// unnest($1) it assumes ten keys: with one, it planned the
			// LATERAL form anew at every execution, 0.07–0.13 ms of its
			// CPU for 0.02 of reading.
			s.SetDistinct(false)
			s.OrderExpr(orderBy...).Limit(limit)
			return
		}
		// One lateral page per key: a key given twice would read its
		// parent's children twice, where IN and the window form read them
		// once.
		keys = uniqueKeys(keys)
		p.lateral = true
		inner := s.Clone()
		inner.SetDistinct(false)
		inner.OrderExpr(orderBy...).Limit(limit)
		name := s.TableName()
		t := sql.Table(name)
		columns := s.UnqualifiedColumns()
		for i := range columns {
			columns[i] = t.C(columns[i])
		}
		*s = *sql.Dialect(dialect.Postgres).Select(columns...).
			FromExpr(sql.ExprFunc(func(b *sql.Builder) {
				b.WriteString("unnest(").Arg(pq.Int64Array(keys)).WriteString("::bigint[]) AS parent(key) CROSS JOIN LATERAL (").
					Join(inner).
					WriteString(") AS ").Ident(name)
			}))
	}
}

// In is column IN (keys…). On PostgreSQL, when there are several keys
// and every one is an integer, it is column = ANY($1::bigint[]): one
// parameter however many keys, where the IN list has one each, and eager
// loading sends hundreds (every author of a page of feedback), each
// sent, parsed and bound as text. One key stays column = $1: PostgreSQL
// 15 reads an index in order for that, not for = ANY, so a single
// parent's page (a prototype's timeline, ORDER BY seq LIMIT 31) would
// sort all its rows instead.
func In[T any](s *sql.Selector, column string, keys []T) *sql.Predicate {
	values := make([]any, len(keys))
	for i := range keys {
		values[i] = keys[i]
	}
	if len(values) == 1 {
		return sql.EQ(column, values[0])
	}
	if s.Dialect() == dialect.Postgres {
		if ints, ok := asInt64s(values); ok {
			return sql.P(func(b *sql.Builder) {
				b.Ident(column).WriteOp(sql.OpEQ).WriteString("ANY(").Arg(pq.Int64Array(ints)).WriteString("::bigint[])")
			})
		}
	}
	return sql.In(column, values...)
}

// uniqueKeys returns keys without repeats, each where it first appears.
func uniqueKeys(keys []int64) []int64 {
	seen := make(map[int64]struct{}, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}

// asInt64s returns values as integers, if each is one or a driver.Valuer
// of one (gid.ID).
func asInt64s[T any](values []T) ([]int64, bool) {
	ints := make([]int64, len(values))
	for i, v := range values {
		var x any = v
		if valuer, ok := x.(driver.Valuer); ok {
			var err error
			if x, err = valuer.Value(); err != nil {
				return nil, false
			}
		}
		n, ok := x.(int64)
		if !ok {
			return nil, false
		}
		ints[i] = n
	}
	return ints, true
}

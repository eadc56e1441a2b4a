package graph

import (
	"context"
	"fmt"
	"sync"

	"github.com/99designs/gqlgen/graphql"
)

// requestCache keeps what several fields of one response compute alike,
// such as the scorecards of a prototype, which a page of iterations asks
// for once per iteration, or the actors of a page of events (loader.go):
// the first field to ask computes it, the others wait for it and share
// it. It lives as long as one response (see perResponse): the one of a
// query, or one event of a subscription. A mutation's root fields run one
// after the other, each seeing the writes of those before it, so in a
// mutation each root field has a cache of its own.
type requestCache struct {
	mutation bool
	mu       sync.Mutex
	entries  map[any]*cacheEntry
}

type cacheEntry struct {
	once sync.Once
	val  any
	err  error
}

type requestCacheKey struct{}

// cacheScope is the part of a response's cache a field reads and fills.
type cacheScope struct {
	c    *requestCache
	root string // in a mutation, the root field (by alias) the field is under
}

// scopedKey is a key of a mutation's cache, under one root field.
type scopedKey struct {
	root string
	key  any
}

// cacheFrom returns the cache of the response ctx belongs to; outside a
// response, a scope that caches nothing.
func cacheFrom(ctx context.Context) cacheScope {
	c, _ := ctx.Value(requestCacheKey{}).(*requestCache)
	if c == nil || !c.mutation {
		return cacheScope{c: c}
	}
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		if fc.Object == "Mutation" && fc.Field.Field != nil {
			return cacheScope{c: c, root: fc.Field.Alias}
		}
	}
	return cacheScope{} // not under a root field: nothing to share with
}

// cached returns the value of key in s, computing it with load the first
// time. An error is kept too: the response does not retry. Without a cache
// it just loads.
func cached[T any](s cacheScope, key any, load func() (T, error)) (T, error) {
	if s.c == nil {
		return load()
	}
	if s.c.mutation {
		key = scopedKey{root: s.root, key: key}
	}
	s.c.mu.Lock()
	e := s.c.entries[key]
	if e == nil {
		e = &cacheEntry{}
		s.c.entries[key] = e
	}
	s.c.mu.Unlock()
	e.once.Do(func() { e.val, e.err = load() })
	var zero T
	if e.err != nil {
		return zero, e.err
	}
	v, ok := e.val.(T)
	if !ok {
		return zero, fmt.Errorf("request cache: %v holds a %T", key, e.val)
	}
	return v, nil
}

package graph

import (
	"context"
	"fmt"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// requestCache keeps what several fields of one operation compute alike,
// such as the scorecards of a prototype, which a page of iterations asks
// for once per iteration: the first field to ask computes it, the others
// (gqlgen resolves them concurrently) wait for it and share it. It lives
// as long as one query or mutation; subscriptions get none, since their
// results are resolved again for every event and must not go stale.
type requestCache struct {
	mu      sync.Mutex
	entries map[any]*cacheEntry
}

type cacheEntry struct {
	once sync.Once
	val  any
	err  error
}

type requestCacheKey struct{}

// cacheFrom returns the operation's cache, or nil outside one.
func cacheFrom(ctx context.Context) *requestCache {
	c, _ := ctx.Value(requestCacheKey{}).(*requestCache)
	return c
}

// cached returns the value of key in c, computing it with load the first
// time. An error is kept too: the operation does not retry.
func cached[T any](c *requestCache, key any, load func() (T, error)) (T, error) {
	c.mu.Lock()
	e := c.entries[key]
	if e == nil {
		e = &cacheEntry{}
		c.entries[key] = e
	}
	c.mu.Unlock()
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

// cachingSchema gives every query and mutation a requestCache.
type cachingSchema struct{ graphql.ExecutableSchema }

// Exec implements graphql.ExecutableSchema.
func (s cachingSchema) Exec(ctx context.Context) graphql.ResponseHandler {
	next := s.ExecutableSchema.Exec(ctx)
	if op := graphql.GetOperationContext(ctx).Operation; op == nil || op.Operation == ast.Subscription {
		return next
	}
	// The executor calls the handler with its own context, not the one
	// given to Exec: the cache goes into that one.
	c := &requestCache{entries: map[any]*cacheEntry{}}
	return func(ctx context.Context) *graphql.Response {
		return next(context.WithValue(ctx, requestCacheKey{}, c))
	}
}

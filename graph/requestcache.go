package graph

import (
	"context"
	"fmt"
	"sync"
)

// requestCache keeps what several fields of one operation compute alike,
// such as the scorecards of a prototype, which a page of iterations asks
// for once per iteration: the first field to ask computes it, the others
// wait for it and share it. It lives as long as one response (see
// perResponse): the one of a query or mutation, or one event of a
// subscription, so that nothing goes stale.
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

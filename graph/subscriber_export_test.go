package graph

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/graphql"
)

var (
	subscriberHooksOnce sync.Once
	subscriberHooks     sync.Map // marker → func(context.Context)
)

// OnCachedSubscriber calls f, until the test ends, between the cache hit
// of every subscription whose document contains marker and its
// registration with the broker (subscriberHook). Tests running in
// parallel tell their subscriptions apart by the marker.
func OnCachedSubscriber(t testing.TB, marker string, f func(ctx context.Context)) {
	subscriberHooksOnce.Do(func() {
		hook := func(ctx context.Context) {
			op := graphql.GetOperationContext(ctx)
			subscriberHooks.Range(func(k, v any) bool {
				if strings.Contains(op.RawQuery, k.(string)) {
					v.(func(context.Context))(ctx)
				}
				return true
			})
		}
		subscriberHook.Store(&hook)
	})
	subscriberHooks.Store(marker, f)
	t.Cleanup(func() { subscriberHooks.Delete(marker) })
}

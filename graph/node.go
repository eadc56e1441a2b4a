package graph

import (
	"context"
	"fmt"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/schema/gid"
)

// maxNodes bounds nodes(ids:): one request should not turn into an
// arbitrarily long IN list.
const maxNodes = 100

// readClient is the client for reads: the mutation's transaction when
// there is one, so that a mutation's answer shows what it did, and the
// shared client otherwise.
func (r *Resolver) readClient(ctx context.Context) *ent.Client {
	if c := ent.FromContext(ctx); c != nil {
		return c
	}
	return r.client
}

// byIDType tells ent's Noder which table to read: an ID carries its type.
// Types that are not nodes (invites, auth tokens) have no case in the
// Noder and so are simply not found, like IDs nobody issued.
var byIDType = ent.WithNodeType(func(_ context.Context, id gid.ID) (string, error) {
	if table := id.Table(); table != "" {
		return table, nil
	}
	return "", notFound("node " + id.String())
})

// node reads one node with what the operation selects of it eager-loaded.
// An ID that does not exist and one in a workspace the viewer is not in
// are both NOT_FOUND, so that existence does not leak.
func node(ctx context.Context, c *ent.Client, id gid.ID) (ent.Noder, error) {
	return c.Noder(ctx, id, byIDType)
}

// nodeList reads nodes for nodes(ids:), one query per type: the list has
// one entry per ID, and each one that cannot be read is null with an
// error at its index.
func nodeList(ctx context.Context, c *ent.Client, ids []gid.ID) ([]ent.Noder, error) {
	if len(ids) > maxNodes {
		return nil, badInput("ids", "at most %d IDs at a time", maxNodes)
	}
	return c.Noders(ctx, ids, byIDType)
}

// reload reads back an object the current mutation wrote, in its
// transaction, with everything the operation selects of it eager-loaded,
// so that its fields need no queries of their own.
func reload[T ent.Noder](ctx context.Context, c *ent.Client, id gid.ID) (T, error) {
	var zero T
	n, err := c.Noder(ctx, id, byIDType)
	if err != nil {
		return zero, fmt.Errorf("read back %s: %w", id, err)
	}
	t, ok := n.(T)
	if !ok {
		return zero, fmt.Errorf("read back %s: got a %T", id, n)
	}
	return t, nil
}

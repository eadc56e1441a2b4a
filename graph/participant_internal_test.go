package graph

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// keysAsked is a context that records the type of every key it is asked
// for, the way a lookup walks through it to the root.
type keysAsked struct {
	context.Context
	types []string
}

func (c *keysAsked) Value(key any) any {
	c.types = append(c.types, fmt.Sprintf("%T", key))
	return c.Context.Value(key)
}

// A member's displayName needs no client: looking for a mutation's
// transaction walks every field context to the root, per participant, and
// finds none in a query.
func TestAMembersDisplayNameDoesNotLookForATransaction(t *testing.T) {
	member := viewer.NewIdentity(gid.New(gid.User), gid.New(gid.AuthToken), map[gid.ID]viewer.Role{gid.New(gid.Workspace): viewer.Maker})
	ctx := &keysAsked{Context: viewer.NewContext(context.Background(), member)}
	r := &participantResolver{&Resolver{}}
	p := &ent.Participant{ID: gid.New(gid.Participant), DisplayName: "Tess"}

	name, err := r.DisplayName(ctx, p)
	if err != nil || name != "Tess" {
		t.Fatalf("DisplayName = %q, %v; want Tess", name, err)
	}
	if _, err := r.Email(ctx, p); err != nil {
		t.Fatalf("Email: %v", err)
	}
	for _, typ := range ctx.types {
		if strings.HasPrefix(typ, "ent.") {
			t.Errorf("the context was asked for %s; want only the viewer and the field context (asked: %v)", typ, ctx.types)
		}
	}
}

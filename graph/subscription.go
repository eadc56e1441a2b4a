package graph

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"entgo.io/contrib/entgql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/authtoken"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/predicate"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/rule"
	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/server/broker"
)

// A subscription is validated here and then handed to the broker, which
// owns everything after: it registers the subscription first, replays the
// stored events after the cursor from the table (as the caller, so the
// privacy policies apply), then streams live ones, de-duplicated by seq at
// the seam, and closes the channel when the subscription's context ends.

// The broker is the Transactioner's Publisher: a commit wakes it.
var _ Publisher = (*broker.Broker)(nil)

// prototypeEvents subscribes to the events of a prototype: its members'
// and its testers' view of its timeline.
func (r *Resolver) prototypeEvents(ctx context.Context, id gid.ID, after *entgql.Cursor[gid.ID], kinds []event.Kind) (<-chan *ent.Event, error) {
	ctx, err := r.subscriber(ctx)
	if err != nil {
		return nil, err
	}
	if id.Type() != gid.Prototype {
		return nil, notFound("prototype")
	}
	p, err := r.client.Prototype.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("prototype events: %w", err) // NOT_FOUND when it cannot be seen
	}
	req := broker.Request{Prototype: id}
	if err := subscriptionArgs(ctx, r.client, after, kinds, &req); err != nil {
		return nil, err
	}
	req.Workspace = p.WorkspaceID
	return r.subscribe(ctx, req)
}

// workspaceEvents subscribes to the events of a workspace and all its
// prototypes: the members' view.
func (r *Resolver) workspaceEvents(ctx context.Context, id gid.ID, after *entgql.Cursor[gid.ID], kinds []event.Kind) (<-chan *ent.Event, error) {
	ctx, err := r.subscriber(ctx)
	if err != nil {
		return nil, err
	}
	if id.Type() != gid.Workspace {
		return nil, notFound("workspace")
	}
	if _, err := r.client.Workspace.Get(ctx, id); err != nil {
		return nil, fmt.Errorf("workspace events: %w", err) // NOT_FOUND when it cannot be seen
	}
	// A tester sees the workspace (its name and mission) but watches the
	// prototype it tests, not the workspace's stream: the broker would
	// send it nothing else anyway, and saying so helps the frontend.
	if _, member := viewer.FromContext(ctx).RoleIn(id); !member {
		return nil, forbidden("testers can watch only the prototype they test: subscribe to prototypeEvents")
	}
	req := broker.Request{Workspace: id}
	if err := subscriptionArgs(ctx, r.client, after, kinds, &req); err != nil {
		return nil, err
	}
	return r.subscribe(ctx, req)
}

// subscriber returns ctx with the caller's identity as it is now. A
// websocket connection authenticates once, at connection_init, and may
// live for hours; re-reading the token and memberships for each
// subscription keeps a revoked token or a removed member from starting
// new ones on an old connection.
func (r *Resolver) subscriber(ctx context.Context) (context.Context, error) {
	id := viewer.FromContext(ctx)
	if id == nil {
		return nil, rule.ErrUnauthenticated
	}
	if r.broker == nil {
		return nil, errors.New("subscribe: the server runs no broker")
	}
	if id.TokenID == 0 {
		return ctx, nil // not from a token: nothing to re-read
	}
	fresh, err := NewReauthenticator(r.client).Reload(ctx, id)
	switch {
	case err != nil:
		return nil, fmt.Errorf("subscribe: %w", err)
	case fresh == nil:
		return nil, rule.ErrUnauthenticated
	}
	return viewer.NewContext(ctx, fresh), nil
}

// subscriptionArgs checks the arguments every subscription takes and puts
// them into req.
func subscriptionArgs(ctx context.Context, client *ent.Client, after *entgql.Cursor[gid.ID], kinds []event.Kind, req *broker.Request) error {
	if kinds != nil && len(kinds) == 0 {
		return badInput("kinds", "kinds: name at least one kind of event, or leave it out for all of them")
	}
	for _, k := range kinds {
		if !slices.Contains(req.Kinds, k) {
			req.Kinds = append(req.Kinds, k)
		}
	}
	seq, err := afterPosition(ctx, client, after)
	if err != nil {
		return err
	}
	req.After = seq
	return nil
}

// afterPosition returns the stream position of an after cursor: the seq
// of the event it points at. Events' cursors, and the cursors of timeline
// edges ordered by SEQ, carry it; the cursor of a timeline edge in
// another order carries the event's ID only, and its seq is looked up.
func afterPosition(ctx context.Context, client *ent.Client, after *entgql.Cursor[gid.ID]) (int64, error) {
	if after == nil {
		return 0, nil
	}
	if after.ID.Type() != gid.Event {
		return 0, badInput("after", "after: not an event's cursor; pass the cursor of the last event you received, or of a timeline edge")
	}
	if seq, ok := position(after.Value); ok {
		return seq, nil
	}
	e, err := client.Event.Query().Where(event.ID(after.ID)).Select(event.FieldSeq).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return 0, badInput("after", "after: no event you can see has this cursor")
	case err != nil:
		return 0, fmt.Errorf("read the event of a cursor: %w", err)
	}
	return e.Seq, nil
}

// position reads a cursor's value as a stream position. Cursors travel
// as MessagePack, which hands an integer back as the smallest type that
// holds it, signed or not.
func position(v any) (int64, bool) {
	var n int64
	switch v := v.(type) {
	case int8:
		n = int64(v)
	case int16:
		n = int64(v)
	case int32:
		n = int64(v)
	case int64:
		n = v
	case int:
		n = int64(v)
	case uint8:
		n = int64(v)
	case uint16:
		n = int64(v)
	case uint32:
		n = int64(v)
	case uint64:
		if v > math.MaxInt64 {
			return 0, false
		}
		n = int64(v)
	case uint:
		if uint64(v) > math.MaxInt64 {
			return 0, false
		}
		n = int64(v)
	case float64:
		if v != math.Trunc(v) || v > math.MaxInt64 || v < 0 {
			return 0, false
		}
		n = int64(v)
	default:
		return 0, false
	}
	return n, n >= 0
}

// subscribe hands a checked subscription to the broker.
func (r *Resolver) subscribe(ctx context.Context, req broker.Request) (<-chan *ent.Event, error) {
	events, err := r.broker.Subscribe(ctx, req)
	if errors.Is(err, broker.ErrClosed) {
		return nil, &Error{Code: CodeInternal, Message: "the server is shutting down: subscribe again, after the last cursor you received"}
	}
	if err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	return events, nil
}

// Reauthenticator re-reads what a bearer token allows now: the broker
// uses it to end subscriptions whose access was revoked after they began
// (broker.Identities), and subscriptions to start from a fresh identity.
type Reauthenticator struct{ client *ent.Client }

var _ broker.Identities = (*Reauthenticator)(nil)

// NewReauthenticator returns a Reauthenticator over client.
func NewReauthenticator(client *ent.Client) *Reauthenticator {
	return &Reauthenticator{client: client}
}

// revokedBatch bounds the IN list of one token check.
const revokedBatch = 500

// tokenWorks is the condition of a token that still works, as
// Authenticate checks it.
func tokenWorks() predicate.AuthToken {
	return authtoken.And(
		authtoken.RevokedAtIsNil(),
		authtoken.Or(authtoken.ExpiresAtIsNil(), authtoken.ExpiresAtGT(time.Now())),
	)
}

// Reload implements broker.Identities: the identity the token of id gives
// now, as Authenticate would build it, or nil if the token no longer works.
func (a *Reauthenticator) Reload(ctx context.Context, id *viewer.Identity) (*viewer.Identity, error) {
	if id == nil || id.TokenID == 0 {
		return id, nil
	}
	fresh, err := loadIdentity(ctx, a.client, authtoken.ID(id.TokenID), tokenWorks())
	switch {
	case errors.Is(err, ErrInvalidToken):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reload identity: %w", err)
	}
	return fresh, nil
}

// Revoked implements broker.Identities, with a query per 500 tokens.
func (a *Reauthenticator) Revoked(ctx context.Context, tokens []gid.ID) ([]gid.ID, error) {
	ctx = system(ctx)
	var revoked []gid.ID
	for chunk := range slices.Chunk(tokens, revokedBatch) {
		valid, err := a.client.AuthToken.Query().
			Where(authtoken.IDIn(chunk...), tokenWorks()).
			IDs(ctx)
		if err != nil {
			return nil, fmt.Errorf("check tokens: %w", err)
		}
		works := make(map[gid.ID]bool, len(valid))
		for _, tok := range valid {
			works[tok] = true
		}
		for _, tok := range chunk {
			if !works[tok] {
				revoked = append(revoked, tok)
			}
		}
	}
	return revoked, nil
}

package graph

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"entgo.io/contrib/entgql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/authtoken"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/predicate"
	"github.com/protoloop/protoloop/ent/prototype"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/rule"
	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/ent/workspace"
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
	if events := heldEvent(ctx); events != nil {
		return events, nil // an event of a detached feed, to encode (EventFeed.Next)
	}
	ctx, cached, err := r.subscriber(ctx)
	if err != nil {
		return nil, err
	}
	if id.Type() != gid.Prototype {
		return nil, notFound("prototype")
	}
	// Its workspace is all the subscription needs of it: a prototype's
	// every column, scanned (its tags decoded from JSON) and dropped, was
	// a third of what Get cost each subscribe of a connect burst.
	p, err := r.client.Prototype.Query().Where(prototype.ID(id)).Select(prototype.FieldWorkspaceID).Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("prototype events: %w", err) // NOT_FOUND when it cannot be seen
	}
	req := broker.Request{Prototype: id, Cached: cached}
	if err := subscriptionArgs(ctx, r.client, after, kinds, &req); err != nil {
		return nil, err
	}
	req.Workspace = p.WorkspaceID
	return r.subscribe(ctx, req)
}

// workspaceEvents subscribes to the events of a workspace and all its
// prototypes: the members' view.
func (r *Resolver) workspaceEvents(ctx context.Context, id gid.ID, after *entgql.Cursor[gid.ID], kinds []event.Kind) (<-chan *ent.Event, error) {
	if events := heldEvent(ctx); events != nil {
		return events, nil // an event of a detached feed, to encode (EventFeed.Next)
	}
	ctx, cached, err := r.subscriber(ctx)
	if err != nil {
		return nil, err
	}
	if id.Type() != gid.Workspace {
		return nil, notFound("workspace")
	}
	if _, err := r.client.Workspace.Query().Where(workspace.ID(id)).OnlyID(ctx); err != nil {
		return nil, fmt.Errorf("workspace events: %w", err) // NOT_FOUND when it cannot be seen
	}
	// A tester sees the workspace (its name and mission) but watches the
	// prototype it tests, not the workspace's stream: the broker would
	// send it nothing else anyway, and saying so helps the frontend.
	if _, member := viewer.FromContext(ctx).RoleIn(id); !member {
		return nil, forbidden("testers can watch only the prototype they test: subscribe to prototypeEvents")
	}
	req := broker.Request{Workspace: id, Cached: cached}
	if err := subscriptionArgs(ctx, r.client, after, kinds, &req); err != nil {
		return nil, err
	}
	return r.subscribe(ctx, req)
}

// subscriber returns ctx with the caller's identity as it is now. A
// websocket connection authenticates once, at connection_init, and may
// live for hours; taking the token's identity afresh for each
// subscription keeps a revoked token or a removed member from starting
// new ones on an old connection.
//
// It comes from the identity cache when the cache holds it (the
// connection_init has usually just put it there), shared with the token's
// other subscriptions (IdentityCache.Cached), and cached is then for
// broker.Request.Cached: the cache is exact only once a change's
// announcement has been heard, so the broker rechecks the subscription
// from the database if an invalidation came between this and its
// registration, or names it after. Otherwise it is read from the
// database, one statement, whose garbage (~57 KiB of it) used to leave
// ~8 KiB per idle subscriber of heap pinned.
func (r *Resolver) subscriber(ctx context.Context) (_ context.Context, cached func() bool, _ error) {
	id := viewer.FromContext(ctx)
	if id == nil {
		return nil, nil, rule.ErrUnauthenticated
	}
	if r.broker == nil {
		return nil, nil, errors.New("subscribe: the server runs no broker")
	}
	if id.TokenID == 0 {
		// Not from a token: nothing to re-read. The broker keeps the rights
		// it reads from the identity, so it gets a copy: a mutation on the
		// same connection may change the connection's own (Join, AddTester).
		return viewer.NewContext(ctx, id.Clone()), nil, nil
	}
	if fresh, gen, ok := r.identities.Cached(id.TokenID); ok {
		if hook := subscriberHook.Load(); hook != nil {
			(*hook)(ctx)
		}
		return viewer.NewContext(ctx, fresh), func() bool { return r.identities.Moved(gen) }, nil
	}
	fresh, err := NewReauthenticator(r.client).Reload(ctx, id)
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("subscribe: %w", err)
	case fresh == nil:
		return nil, nil, rule.ErrUnauthenticated
	}
	return viewer.NewContext(ctx, fresh), nil, nil
}

// subscriberHook, if set (by tests only), is called between a
// subscription's cache hit and its registration with the broker.
var subscriberHook atomic.Pointer[func(ctx context.Context)]

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
	slot := sharedSlot(ctx)
	feed, _ := ctx.Value(eventFeedKey{}).(*EventFeed)
	watch := ctx
	if slot != nil && feed != nil {
		req.Ready = feed.ready
		// The broker keeps the context it is given for the subscription's
		// life, and reads with it as the caller: the operation's own
		// context and the caller's identity are all it needs of it, and
		// the executor's chain of contexts (field and response contexts,
		// arguments, the operation's) is then not kept with it.
		watch = viewer.NewContext(feed.base, viewer.FromContext(ctx))
	}
	events, err := r.broker.Subscribe(watch, req)
	if errors.Is(err, broker.ErrClosed) {
		return nil, &Error{Code: CodeInternal, Message: "the server is shutting down: subscribe again, after the last cursor you received"}
	}
	if err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	if slot == nil {
		return events, nil
	}
	if feed != nil {
		feed.attached = true
	}
	slot.in, slot.out = events, make(chan *ent.Event, 1)
	return slot.out, nil
}

// EventFeed lets a transport run a subscription's response handler only
// when the broker has put something in the subscription's channel, from
// a goroutine of its choosing, instead of keeping a goroutine blocked in
// the handler for every idle subscription. See WithEventFeed.
type EventFeed struct {
	// sharer is the operation's, once its handler exists: then it points
	// at own, the feed's, which the writer reads with the feed for every
	// event from one allocation rather than two (at 10,000 subscribers, a
	// cache miss less per subscriber and event).
	sharer   *sharer
	own      sharer
	ready    broker.Readier
	base     context.Context // the operation's own, given to WithEventFeed
	attached bool

	// Set by Detach: what encoding an event takes.
	exec graphql.GraphExecutor
	op   *graphql.OperationContext // shared by every detached feed of the same operation
}

type eventFeedKey struct{}

// WithEventFeed returns a context for executing one subscription
// operation (graphql.GraphExecutor.DispatchOperation) and its feed. ctx
// is the operation's own context, before the executor's values are added
// to it: its lifetime and the connection's values, which the broker keeps
// for the subscription's life instead of the executor's whole chain.
// ready is told (Ready) once for every event the broker queues for the
// operation and once when its stream ends, possibly before
// DispatchOperation has returned; it must not block. If, once
// DispatchOperation has returned, the feed is Attached, each call of the
// operation's response handler takes exactly one of those, and the
// caller may call the handler once per ready, at any time after it,
// without it blocking; if not (another kind of operation, or a
// subscription field that does not stream the broker's events as they
// are), ready is never called and the handler blocks until it has a
// response, as gqlgen's do.
func WithEventFeed(ctx context.Context, ready broker.Readier) (context.Context, *EventFeed) {
	f := &EventFeed{ready: ready, base: ctx}
	return context.WithValue(ctx, eventFeedKey{}, f), f
}

// Attached reports whether the broker tells the feed's Readier of the
// operation's events (see WithEventFeed).
func (f *EventFeed) Attached() bool { return f.attached }

// Shared takes the operation's next event, one ready call's worth, when
// another subscriber of its group has encoded it (see sharingSchema),
// waiting for an encoding under way, which may read the database for
// nested fields; and returns its payload as gqlgen's transports write a
// response of data only: {"data":…}. The operation's response handler is
// then not called for this event; gqlgen's executor, its response
// interceptors and the field contexts are skipped, and the payload is
// shared, not copied: the caller must not change it.
//
// Otherwise it returns false and the caller calls the response handler
// (or Next, once Detached) for this ready, as it would have without
// Shared: the first subscriber of a group to reach an event encodes it
// there, and so does a subscription whose payloads cannot be shared, or
// that has ended. Call it only on an Attached feed, from the goroutine
// that calls the operation's handler, once per ready call at most.
func (f *EventFeed) Shared() ([]byte, bool) {
	if f.sharer == nil {
		return nil, false
	}
	return f.sharer.shared()
}

// Detach lets the transport forget what DispatchOperation returned (the
// response handler, with gqlgen's executor state for the operation: its
// field contexts, arguments and collected fields; and its context) and
// rc, once DispatchOperation has returned: what an idle subscription
// keeps is then its broker subscription, this feed and the operation,
// which every subscriber of the same document, operation name and
// variables shares. It calls Next instead of the handler from then on,
// which runs exec again on the operation, with the event, only when this
// subscriber must encode an event: the first of its group to reach it,
// or a subscriber whose payloads cannot be shared.
//
// It reports false, and the transport keeps and calls the handler as
// before, when the feed is not Attached or does not share payloads (a
// field built on the broker's events, such as verificationRequests).
// Call it once, before the first call of Shared.
func (f *EventFeed) Detach(exec graphql.GraphExecutor, rc *graphql.OperationContext) bool {
	sh := f.sharer
	if !f.attached || sh == nil || f.exec != nil {
		return false
	}
	f.exec, f.op = exec, sh.cache.operations.intern(rc)
	// gqlgen's handler, its stream's slot and this subscriber's copy of
	// the document go: the broker's channel stays in the sharer, and the
	// document is the shared operation's.
	sh.next, sh.slot, sh.document = nil, nil, f.op.RawQuery
	return true
}

// Operation returns the operation a Detached feed runs, shared with the
// other subscribers of the same operation: the transport must not change
// it.
func (f *EventFeed) Operation() *graphql.OperationContext { return f.op }

// Next is the response handler of a Detached feed: it takes the
// operation's next event, one ready call's worth, and returns its
// response, the payload another subscriber of its group encoded if there
// is one (waiting for an encoding under way), else encoded here by
// running the executor on the operation with the event handed to its
// resolver (heldEvent), which writes what the handler would have written,
// byte for byte. It returns nil once the stream has ended: the broker
// closed it, or the operation's context is done.
func (f *EventFeed) Next() *graphql.Response {
	sh := f.sharer
	ev, entry, payload, _ := sh.take(sh.done)
	switch {
	case payload != nil:
		return &graphql.Response{Data: payload.data()}
	case ev == nil:
		return nil
	}
	shared := false
	if entry != nil {
		defer func() { entry.fill(shared) }()
	}
	resp := f.encode(ev)
	if entry != nil && resp != nil && sharableResponse(resp) {
		entry.payload = newSharedPayload(resp.Data)
		shared = true
	}
	return resp
}

// encode runs the feed's operation for ev alone: the executor dispatches
// it as the transport did when it subscribed, on the operation's own
// context, and its resolver hands it ev (heldEvent) instead of
// subscribing; its handler encodes ev once. The executor's state is
// garbage once it has.
func (f *EventFeed) encode(ev *ent.Event) *graphql.Response {
	ctx := graphql.WithOperationContext(graphql.StartOperationTrace(f.base), f.op)
	ctx = context.WithValue(ctx, heldEventKey{}, ev)
	next, ctx := f.exec.DispatchOperation(ctx, f.op)
	return next(ctx)
}

type heldEventKey struct{}

// heldEvent returns, when ctx is a Detached feed's encoding of an event
// (EventFeed.encode), a channel holding that event, for the subscription
// resolver to return at once: the caller's rights and the arguments were
// checked when it subscribed, and the broker rechecks them since.
func heldEvent(ctx context.Context) <-chan *ent.Event {
	ev, _ := ctx.Value(heldEventKey{}).(*ent.Event)
	if ev == nil {
		return nil
	}
	events := make(chan *ent.Event, 1)
	events <- ev
	return events
}

// operationTable keeps one OperationContext for each operation that
// Detached feeds run, by operationSum (document, operation name and
// variables): ten thousand subscribers of one document keep one
// validated operation, with its variables and gqlgen's cache of collected
// fields, between them. An entry goes once no feed holds its operation.
// A shared operation is only read while it runs: gqlgen's cache of
// collected fields in it has a lock of its own. It is the first
// subscriber's, Headers, Extensions and Stats included, which the key
// does not cover: nothing that runs for a detached feed may read
// per-caller data from the operation (today nothing does; the caller is
// in the feed's context).
type operationTable struct {
	mu  sync.Mutex
	ops map[[sha256.Size]byte]weak.Pointer[graphql.OperationContext]
}

// intern returns the operation shared for rc's, rc itself if it is the
// first.
func (t *operationTable) intern(rc *graphql.OperationContext) *graphql.OperationContext {
	key := operationSum(rc)
	t.mu.Lock()
	defer t.mu.Unlock()
	if op := t.ops[key].Value(); op != nil {
		return op
	}
	if t.ops == nil {
		t.ops = map[[sha256.Size]byte]weak.Pointer[graphql.OperationContext]{}
	}
	t.ops[key] = weak.Make(rc)
	runtime.AddCleanup(rc, t.forget, key)
	return rc
}

// forget drops the entry of key once its operation has been collected,
// unless another has taken its place.
func (t *operationTable) forget(key [sha256.Size]byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ops[key].Value() == nil {
		delete(t.ops, key)
	}
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
	fresh, _, err := loadIdentity(ctx, a.client, authtoken.ID(id.TokenID), tokenWorks())
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

// Shared event payloads.
//
// gqlgen runs a subscription's selection once per subscriber for every
// event: with a thousand subscribers on a prototype, an event is encoded
// a thousand times, almost always into the same bytes. sharingSchema
// encodes it once for every group of subscribers for whom the result
// cannot differ, and hands the others the same bytes.
//
// What an event's payload holds depends on the event (immutable), the
// operation (document, operation name, variables), the caller's identity
// (what the privacy policies let it see, and which names are masked for
// a tester) and the state of the database when it is encoded. Two
// subscriptions share a payload only when the first three are equal:
//
//   - the same event ID;
//   - the same document, operation name and variables, byte for byte;
//   - the same bearer token, user, roles in every workspace and tester
//     participations (with their prototypes' open-feedback setting), as
//     the identity stands when the event is encoded.
//
// So a tester and an owner never share (their identities differ: names
// are masked for one of them), nor two users, nor two tokens of one user.
// The database's state is the one thing not compared: subscribers who
// encoded an event each for themselves a few milliseconds apart could see
// it differently too, and the shared payload is one of those views.
//
// A payload with errors or extensions is never shared: the next
// subscriber encodes for itself. The first subscriber of a group to reach
// an event encodes it while the others wait for it (one encoding, not a
// thousand racing ones); if it fails or its subscription ends first, they
// encode for themselves.
//
// To see the event before gqlgen encodes it, the resolver hands gqlgen a
// channel of its own, of one slot, and sharingSchema's response handler
// reads the broker's channel: on a shared payload, gqlgen's handler is not
// called at all; otherwise the event is put in the slot and gqlgen's
// handler takes it from there at once. No goroutine is added: a
// subscription fed by the broker (WithEventFeed) has its handler run only
// when an event is ready, by its connection's writer. That writer first
// asks EventFeed.Shared, which reads the broker's channel the same way
// and returns a shared payload without gqlgen's executor at all: the
// executor's response handler is run for an event only when this
// subscriber must encode it. Such a transport keeps no handler for an
// idle subscription (EventFeed.Detach): to encode, it dispatches the
// executor again on the operation, shared by the subscribers of the same
// document and variables, and the resolver hands it the event.

// sharedPayloads is how many payloads are kept for subscribers still to
// come: a few events' worth for each group of subscribers.
const sharedPayloads = 4096

// sharingSchema shares subscription payloads (see above).
type sharingSchema struct {
	graphql.ExecutableSchema
	cache *payloadCache
}

// streamSlot passes the broker's channel from a subscription's resolver
// to sharingSchema's response handler.
type streamSlot struct {
	in    <-chan *ent.Event // the broker's
	out   chan *ent.Event   // gqlgen's: an event is put in it just before gqlgen's handler is called
	ended bool              // out is closed
}

// put puts ev in the slot for gqlgen's handler. The slot is empty: the
// handler takes what is put in it, unless the subscription has ended
// meanwhile, and then nothing is put in it any more; an event left over
// is dropped all the same rather than blocking.
func (s *streamSlot) put(ev *ent.Event) {
	select {
	case <-s.out:
	default:
	}
	s.out <- ev
}

// end closes gqlgen's channel once the broker's is closed: gqlgen ends
// the stream, as it would have.
func (s *streamSlot) end() {
	if !s.ended {
		s.ended = true
		close(s.out)
	}
}

type streamSlotKey struct{}

// Exec implements graphql.ExecutableSchema.
func (s sharingSchema) Exec(ctx context.Context) graphql.ResponseHandler {
	op := graphql.GetOperationContext(ctx)
	if op.Operation == nil || op.Operation.Operation != ast.Subscription || ctx.Value(heldEventKey{}) != nil {
		return s.ExecutableSchema.Exec(ctx)
	}
	slot := &streamSlot{}
	// gqlgen runs the subscription's resolver in Exec.
	next := s.ExecutableSchema.Exec(context.WithValue(ctx, streamSlotKey{}, slot))
	if slot.in == nil {
		return next // not a stream of events, or it failed
	}
	if feed, _ := ctx.Value(eventFeedKey{}).(*EventFeed); feed != nil && feed.attached {
		feed.own.init(ctx, s.cache, slot, next)
		feed.sharer = &feed.own
		return feed.sharer.respond
	}
	return newSharer(ctx, s.cache, slot, next).respond
}

// sharer is the state of one subscription whose payloads are shared
// within its group. What Shared reads for every event comes first.
type sharer struct {
	// An event Shared took from the broker's channel whose payload the
	// response handler is to encode: its entry, if this subscriber is
	// the first of its group to reach it (and so fills it), else nil.
	held      *ent.Event
	heldEntry *payloadEntry
	// done is the operation's context's Done, taken once: asking the
	// context walks its chain of values (a tenth of the CPU that 10,000
	// subscribers spent per event).
	done <-chan struct{}
	// in is the broker's channel, read here for every event, without
	// going through the slot (a cache miss per subscriber and event).
	in    <-chan *ent.Event
	cache *payloadCache
	sum   [sha256.Size]byte // the group's

	slot     *streamSlot
	next     graphql.ResponseHandler // gqlgen's
	document string
}

// newSharer returns the sharer of the subscription whose operation runs
// in ctx, whose events come through slot, and whose payloads gqlgen's
// handler next encodes.
func newSharer(ctx context.Context, cache *payloadCache, slot *streamSlot, next graphql.ResponseHandler) *sharer {
	sh := new(sharer)
	sh.init(ctx, cache, slot, next)
	return sh
}

// init sets up sh as newSharer describes.
func (sh *sharer) init(ctx context.Context, cache *payloadCache, slot *streamSlot, next graphql.ResponseHandler) {
	op := graphql.GetOperationContext(ctx)
	// The caller's identity in an operation's context is the operation's
	// own, whichever context its handler is called with: the group's sum
	// is computed once.
	*sh = sharer{
		cache:    cache,
		in:       slot.in,
		slot:     slot,
		next:     next,
		done:     ctx.Done(),
		sum:      shareSum(operationSum(op), viewer.FromContext(ctx)),
		document: op.RawQuery,
	}
}

// respond is the subscription's response handler: a payload shared
// within the group, or gqlgen's encoding.
func (sh *sharer) respond(ctx context.Context) *graphql.Response {
	ev, entry, payload, closed := sh.take(ctx.Done())
	switch {
	case payload != nil:
		return &graphql.Response{Data: payload.data()}
	case ev == nil:
		if closed {
			sh.slot.end()
		}
		return sh.next(ctx)
	}
	shared := false
	if entry != nil {
		defer func() { entry.fill(shared) }()
	}
	sh.slot.put(ev)
	resp := sh.next(ctx)
	if entry != nil && resp != nil && sharable(ctx, resp) {
		entry.payload = newSharedPayload(resp.Data) // gqlgen reuses its buffer
		shared = true
	}
	return resp
}

// take takes the subscription's next event for its response handler:
// the one shared held back, else the next from the broker. It returns the
// payload another subscriber of the group encoded for it, if one did;
// else the event to encode here, with the group's entry to fill (nil
// when this subscriber's payload is not the group's to share); else no
// event, the stream being over: closed by the broker (closed) or its
// operation done.
func (sh *sharer) take(done <-chan struct{}) (ev *ent.Event, entry *payloadEntry, payload sharedPayload, closed bool) {
	ev, entry = sh.held, sh.heldEntry
	sh.held, sh.heldEntry = nil, nil
	if ev != nil {
		return ev, entry, nil, false
	}
	select {
	case e, ok := <-sh.in:
		if !ok {
			return nil, nil, nil, true
		}
		ev = e
	case <-done:
		return nil, nil, nil, false
	}
	payload, entry, ok := sh.join(ev, done)
	if ok {
		return nil, nil, payload, false
	}
	return ev, entry, nil, false
}

// shared takes the subscription's next event if another subscriber of
// its group has encoded it: see EventFeed.Shared.
func (sh *sharer) shared() (sharedPayload, bool) {
	if sh.held != nil {
		return nil, false
	}
	select {
	case <-sh.done:
		return nil, false // an operation that ends gets its end from the handler
	default:
	}
	var ev *ent.Event
	select {
	case e, ok := <-sh.in:
		if !ok {
			return nil, false // the handler reads the end again, and ends the stream
		}
		ev = e
	default:
		return nil, false
	}
	payload, entry, ok := sh.join(ev, sh.done)
	if ok {
		return payload, true
	}
	sh.held, sh.heldEntry = ev, entry
	return nil, false
}

// join returns ev's payload as another subscriber of the subscription's
// group encoded it, waiting (until done) for an encoding under way; or
// else, with ok false, the entry the subscription must fill once it has
// encoded ev, nil when it encodes for itself alone (the group's encoder
// could not share its payload, or done came first).
func (sh *sharer) join(ev *ent.Event, done <-chan struct{}) (payload sharedPayload, fill *payloadEntry, ok bool) {
	entry, encode := sh.cache.claim(payloadKey{event: ev.ID, sum: sh.sum})
	if !encode {
		if payload, ok := entry.wait(done); ok {
			sh.count(false)
			return payload, nil, true
		}
		entry = nil
	}
	sh.count(true)
	return nil, entry, false
}

// count counts, for tests, a payload encoded or shared.
func (sh *sharer) count(encoded bool) {
	if countingPayloads.Load() {
		countPayload(sh.document, encoded)
	}
}

// sharable reports whether a response may be handed to other
// subscribers: data only, nothing about this response in particular.
func sharable(ctx context.Context, resp *graphql.Response) bool {
	return sharableResponse(resp) &&
		len(graphql.GetErrors(ctx)) == 0 && len(graphql.GetExtensions(ctx)) == 0
}

// sharableResponse reports whether a response as the executor returns it
// (with the errors and extensions of its context added) may be handed to
// other subscribers.
func sharableResponse(resp *graphql.Response) bool {
	return len(resp.Data) > 0 && len(resp.Errors) == 0 && len(resp.Extensions) == 0 &&
		resp.Label == "" && len(resp.Path) == 0 && resp.HasNext == nil
}

// sharedSlot returns the slot of the subscription in ctx when it runs
// under sharingSchema and streams the broker's events as they are
// (prototypeEvents and workspaceEvents): its events are then handed to
// gqlgen through the slot. A field built on them (verificationRequests
// filters prototypeEvents on a goroutine of its own) gets the broker's
// channel, and nil here.
func sharedSlot(ctx context.Context) *streamSlot {
	slot, ok := ctx.Value(streamSlotKey{}).(*streamSlot)
	if !ok || slot.in != nil {
		return nil
	}
	if fc := graphql.GetFieldContext(ctx); fc == nil || fc.Object != "Subscription" ||
		(fc.Field.Name != "prototypeEvents" && fc.Field.Name != "workspaceEvents") {
		return nil
	}
	return slot
}

// operationSum sums what of an operation shapes its payloads: its
// document, name and variables (encoding/json writes a map's keys sorted,
// so equal variables give equal bytes).
func operationSum(op *graphql.OperationContext) [sha256.Size]byte {
	vars, err := json.Marshal(op.Variables)
	if err != nil {
		// Variables that cannot be written cannot be compared: nothing
		// else hashes to this operation's random sum, so it shares
		// nothing.
		vars = make([]byte, 32)
		_, _ = rand.Read(vars)
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(op.RawQuery), []byte(op.OperationName), vars} {
		_ = binary.Write(h, binary.BigEndian, uint64(len(part)))
		h.Write(part)
	}
	return [sha256.Size]byte(h.Sum(nil))
}

// shareSum sums an operation's sum with everything of the caller's
// identity that decides what it may see and how.
func shareSum(operation [sha256.Size]byte, id *viewer.Identity) [sha256.Size]byte {
	b := make([]byte, 0, 128)
	b = append(b, operation[:]...)
	if id == nil {
		b = append(b, 'a') // anonymous
		return sha256.Sum256(b)
	}
	b = append(b, 'i')
	b = binary.BigEndian.AppendUint64(b, uint64(id.UserID))
	b = binary.BigEndian.AppendUint64(b, uint64(id.TokenID))
	workspaces := id.Workspaces(func(viewer.Role) bool { return true })
	slices.Sort(workspaces)
	b = binary.BigEndian.AppendUint64(b, uint64(len(workspaces)))
	for _, w := range workspaces {
		role, _ := id.RoleIn(w)
		b = binary.BigEndian.AppendUint64(b, uint64(w))
		b = binary.BigEndian.AppendUint64(b, uint64(len(role)))
		b = append(b, role...)
	}
	testing := id.Testing()
	slices.SortFunc(testing, func(a, b viewer.Tester) int { return cmp.Compare(a.Prototype, b.Prototype) })
	b = binary.BigEndian.AppendUint64(b, uint64(len(testing)))
	for _, t := range testing {
		b = binary.BigEndian.AppendUint64(b, uint64(t.Prototype))
		b = binary.BigEndian.AppendUint64(b, uint64(t.Workspace))
		b = binary.BigEndian.AppendUint64(b, uint64(t.Participant))
		if t.OpenFeedback {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return sha256.Sum256(b)
}

// payloadKey names a payload: an event, as a group of subscribers sees it.
type payloadKey struct {
	event gid.ID
	sum   [sha256.Size]byte
}

// payloadEntry is an event's payload for a group, encoded by the first of
// them to reach it.
type payloadEntry struct {
	key     payloadKey
	done    chan struct{} // closed once the encoding is over
	payload sharedPayload // if ok
	ok      bool
}

// wait waits for the entry's encoding, or for done to be closed, and
// returns the payload, if it can be shared.
func (e *payloadEntry) wait(done <-chan struct{}) (sharedPayload, bool) {
	// Nearly always the encoding is over: a receive from a closed channel
	// alone takes no lock, where a select of two locks both.
	select {
	case <-e.done:
		return e.payload, e.ok
	default:
	}
	select {
	case <-e.done:
		return e.payload, e.ok
	case <-done:
		return nil, false
	}
}

// sharedPayload is a response's payload as it goes out: {"data":…}. A
// transport writes it as it is (EventFeed.Shared); gqlgen's handler
// hands out its data.
type sharedPayload []byte

const sharedPayloadOpen, sharedPayloadClose = `{"data":`, `}`

// newSharedPayload is the payload of a response of data only.
func newSharedPayload(data []byte) sharedPayload {
	p := make([]byte, 0, len(sharedPayloadOpen)+len(data)+len(sharedPayloadClose))
	p = append(p, sharedPayloadOpen...)
	p = append(p, data...)
	return append(p, sharedPayloadClose...)
}

// data is the payload's data.
func (p sharedPayload) data() []byte {
	return p[len(sharedPayloadOpen) : len(p)-len(sharedPayloadClose)]
}

// fill ends the entry's encoding.
func (e *payloadEntry) fill(ok bool) {
	e.ok = ok
	close(e.done)
}

// payloadCache keeps the latest payloads, the oldest forgotten first.
type payloadCache struct {
	mu      sync.Mutex
	entries map[payloadKey]*payloadEntry
	order   []payloadKey // a ring, in the order of claim
	next    int

	// latest holds the entry last claimed, of a group whose sum starts
	// with the slot's index: every subscriber of a group after the first
	// to reach an event finds it here, without the lock and the map.
	latest [256]atomic.Pointer[payloadEntry]

	// The operations of Detached feeds, which the subscribers of a
	// group share as they share payloads.
	operations operationTable
}

func newPayloadCache(size int) *payloadCache {
	return &payloadCache{entries: make(map[payloadKey]*payloadEntry, size), order: make([]payloadKey, 0, size)}
}

// claim returns the entry of key, and whether the caller is the first to
// ask for it, and so must encode it and fill it.
func (c *payloadCache) claim(key payloadKey) (*payloadEntry, bool) {
	latest := &c.latest[key.sum[0]]
	if e := latest.Load(); e != nil && e.key == key {
		return e, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		return e, false
	}
	e := &payloadEntry{key: key, done: make(chan struct{})}
	latest.Store(e)
	if len(c.order) < cap(c.order) {
		c.order = append(c.order, key)
	} else {
		delete(c.entries, c.order[c.next])
		c.order[c.next] = key
		c.next = (c.next + 1) % len(c.order)
	}
	c.entries[key] = e
	return e, true
}

// For tests: how many payloads of a document were encoded and how many
// were shared, once a test has asked for the document (CountPayloads, in
// sharing_export_test.go).
var (
	countingPayloads atomic.Bool
	payloadCounts    sync.Map // document → *payloadCount
)

type payloadCount struct{ encoded, shared atomic.Int64 }

func countPayload(document string, encoded bool) {
	c, ok := payloadCounts.Load(document)
	switch {
	case !ok:
	case encoded:
		c.(*payloadCount).encoded.Add(1)
	default:
		c.(*payloadCount).shared.Add(1)
	}
}

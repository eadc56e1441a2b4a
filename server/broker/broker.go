// Package broker streams committed events to the subscriptions of one
// server process.
//
// The events table is the only source of truth. Every mutation writes its
// events in its own transaction, and they are numbered (Event.seq) in the
// order they become visible: on PostgreSQL just after the commit, by
// NumberSQL under the events lock (graph/events.go, number.go). So
// "seq > n" is a gap-free cursor: a reader that has seen seq n has seen
// every event with a smaller one, for good. The broker
// never carries an event from a writer to a subscriber; it only learns
// that there may be new rows, and reads them:
//
//   - one tailer per process reads "seq > last ORDER BY seq" as the
//     server, whenever it is woken: by a commit in this process (Publish),
//     by a PostgreSQL NOTIFY from a commit in any process (one LISTEN
//     connection per process, reconnecting, with a catch-up after every
//     reconnect), and by a periodic tick as a safety net. A wake-up is a
//     hint, so wake-ups coalesce and a lost one costs latency, never an
//     event; and since every replica reads the same table in the same
//     order, every replica sees every event, once, in order.
//   - each new event is handed to the subscribers of its workspace and of
//     its prototype that may see it (rule.EventVisible) and asked for its
//     kind, by a non-blocking send into the subscriber's small buffer.
//     Publishing never waits for a subscriber.
//   - a subscriber whose buffer is full is not dropped: it is switched to
//     catching up, where a goroutine of its own reads the events after
//     the last one it was given from the table (as the caller, so the
//     privacy policies apply) and hands them over at the subscriber's
//     pace, then rejoins live delivery once it has reached the tailer.
//     A new subscription starts the same way, from its cursor: its replay
//     is a catch-up, unless the tailer has dispatched nothing after the
//     cursor, when it starts live. Events are de-duplicated by seq at
//     every seam, so a subscriber receives strictly increasing positions.
//
// An idle subscriber costs its buffered channel and a few words, about
// 1.7 KB of heap with the default buffer (TestMemoryPerIdleSubscriber),
// and no goroutine: the end of its context is watched with
// context.AfterFunc.
//
// Events are handed over without their edges loaded, on purpose: the
// tailer reads them as the server, and an actor loaded then would be
// shown to subscribers whom the privacy policies would not show it. Each
// subscription resolves actors and subjects as its own caller.
//
// Access is checked for every event delivered. When a member's role
// changes or they are removed (MEMBER_ROLE_CHANGED, MEMBER_REMOVED), their
// subscriptions in that workspace pause, reload the caller's identity and
// end unless it is the same with the same rights (each event's response
// is built as the identity the subscription started with: the client
// subscribes again as who it is now); so do those an identity
// change names (IdentitiesChanged), and one whose identity came from a
// cache invalidated before it registered (Request.Cached); and every
// Options.Revalidate the broker ends the subscriptions whose bearer
// token has been revoked or has expired.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/rule"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// Defaults for the Options fields left zero.
const (
	// DefaultPoll is how often the tailer looks for new events when
	// nothing woke it: the latency of an event committed by a process
	// that could not tell this one (no LISTEN, or a notification lost
	// with its connection).
	DefaultPoll = time.Second
	// DefaultBuffer is how many events a subscriber may be behind before
	// it is caught up from the table: enough for the events of a burst of
	// mutations, small enough that 10,000 idle subscribers cost a few
	// megabytes.
	DefaultBuffer = 64
	// DefaultPage is how many events one read of the table returns.
	DefaultPage = 100
	// DefaultCatchUps is how many subscribers may read the table at once
	// while they catch up: the rest wait their turn rather than take
	// every connection of the pool from the mutations.
	DefaultCatchUps = 4
	// DefaultPing is how often the LISTEN connection is pinged, and how
	// long a ping may take before the connection is not trusted until it
	// answers (within twice this of its last answer); three times this
	// unanswered, it is taken for dead and replaced.
	DefaultPing = 5 * time.Second
	// DefaultRevalidate is how often the tokens of subscribers are
	// checked, so that a revoked or expired token stops its
	// subscriptions.
	DefaultRevalidate = 30 * time.Second
)

// ErrClosed is returned by Subscribe once the broker has stopped.
var ErrClosed = errors.New("broker: stopped")

// Identities re-reads what callers may see, so that access revoked after
// a subscription began stops it. The server implements it over the
// tokens and memberships (graph.NewReauthenticator).
type Identities interface {
	// Reload returns the caller's identity as it is now, or nil if the
	// caller's credentials no longer work. An error means it could not
	// tell.
	Reload(ctx context.Context, id *viewer.Identity) (*viewer.Identity, error)
	// Revoked returns those of the bearer tokens that no longer work:
	// revoked, expired or gone.
	Revoked(ctx context.Context, tokens []gid.ID) ([]gid.ID, error)
}

// TokenHolders hold bearer tokens outside the broker's subscriptions (the
// server's websockets, which could go on starting subscriptions with a
// revoked token): the broker's token checks cover theirs in the same
// query, so that a revocation costs one query per process.
type TokenHolders interface {
	// Tokens returns the bearer tokens held now. It must not block.
	Tokens() []gid.ID
	// Revoke is handed the tokens a check found revoked or expired,
	// the subscriptions' too: it lets go of those it holds. It must not
	// block.
	Revoke(tokens []gid.ID)
}

// Options configure a Broker. The zero value works: a broker for one
// process, without revocation checks.
type Options struct {
	// PostgresURL is the PostgreSQL database to LISTEN on, for the events
	// other processes commit; lib/pq opens that connection outside the
	// pool. Empty (SQLite, or one process) means only this process's
	// commits and the poll wake the tailer.
	PostgresURL string
	// Identities, if set, reloads callers' access; nil means identities
	// are taken as they were at subscription and never revalidated.
	Identities Identities
	// Holders, if set with Identities, have their tokens checked with the
	// subscriptions' (see Recheck).
	Holders TokenHolders
	// Logger receives what goes wrong in the background. Nil means
	// slog.Default().
	Logger *slog.Logger

	// OnDeliveries, if set, is called when another process (or this one)
	// committed webhook deliveries to the database at PostgresURL
	// (NotifyDeliveriesSQL). It must not block.
	OnDeliveries func()

	// OnIdentityChanged, if set, is called with what a committed change
	// to the identities of bearer tokens touched, as announced on
	// IdentityChannel (NotifyIdentitiesSQL); no IDs means anything may
	// have changed. It must not block.
	OnIdentityChanged func(changed []gid.ID)
	// IdentityOrigin is the origin this process gives the identity
	// announcements it sends (IdentityPayload): those are not passed to
	// OnIdentityChanged, since the process applies them itself when they
	// commit.
	IdentityOrigin string
	// OnListening, if set, is called with true once the LISTEN
	// connection listens (again, after a reconnection), and with false
	// as soon as it is lost: announcements made meanwhile are lost with
	// it. It must not block.
	OnListening func(up bool)

	Poll       time.Duration // zero means DefaultPoll
	Buffer     int           // zero means DefaultBuffer
	Page       int           // zero means DefaultPage
	CatchUps   int           // zero means DefaultCatchUps
	Revalidate time.Duration // zero means DefaultRevalidate
	Ping       time.Duration // zero means DefaultPing
}

// Request says what a subscription watches.
type Request struct {
	// Workspace is the workspace whose events are streamed.
	Workspace gid.ID
	// Prototype, if not zero, narrows the stream to the events of this
	// prototype, which must be in Workspace.
	Prototype gid.ID
	// After is the position to stream from: events with a larger seq are
	// delivered, the stored ones first. Zero means from the beginning.
	After int64
	// Kinds, if not empty, are the only kinds of event delivered.
	Kinds []event.Kind
	// Ready, if set, is told once for every event put in the
	// subscription's channel and once when the channel is closed, right
	// after: a transport can then take from the channel only when
	// something is there, instead of keeping a goroutine waiting on it for
	// every idle subscription. It may be told with the broker's lock
	// held, and must not block or call the broker.
	Ready Readier
	// Cached, if set, says that the caller's identity was taken from a
	// cache (graph.IdentityCache.Cached) rather than read from the
	// database, and reports whether the cache has been invalidated since:
	// it is called once, with the broker's lock held, as the subscription
	// registers. If it has, the identity is read again from the database
	// before anything is delivered; after that, IdentitiesChanged rechecks
	// it. It must not block or call the broker.
	Cached func() (moved bool)
}

// Readier is told that a subscription's channel has something to take
// (Request.Ready). An interface rather than a func: a transport's
// operation can be its own Readier, where a func would be a closure of
// its own, which the tailer reads for every subscriber and event (at
// 10,000 subscribers, a cache miss each).
type Readier interface{ Ready() }

// ReadyFunc makes a function a Readier.
type ReadyFunc func()

// Ready calls f.
func (f ReadyFunc) Ready() { f() }

// notReady is the Readier of a subscription that asked for none.
var notReady = ReadyFunc(func() {})

// Broker fans committed events out to subscriptions. Create it with New,
// start it with Run, and hand it to the Transactioner as its Publisher.
type Broker struct {
	client *ent.Client
	opts   Options
	log    *slog.Logger

	wake chan struct{} // one pending wake-up at most: wake-ups coalesce
	// recheck asks revalidate for a check of the tokens now (see
	// Recheck); pending ones coalesce too.
	recheck chan struct{}
	ready   chan struct{} // closed once Run knows where the stream stands
	reads   chan struct{} // a slot per catch-up reading the table
	seen    atomic.Int64  // pos, for the listener's quick check of a hint
	heard   atomic.Int64  // the largest position a hint has named, for metrics
	// catchUps counts the catch-ups started, for metrics: a subscription
	// from the stream's end starts live without one.
	catchUps atomic.Int64

	mu  sync.Mutex
	pos int64 // the last seq the tailer dispatched
	// since and lastOf say what the broker knows of each topic's last
	// event (see mark): every event after since was dispatched by this
	// broker, and a topic not in lastOf has none after since. So a
	// subscription from a cursor at or after its topic's last event, and
	// from since or later unless the mark is complete, has nothing to
	// replay: it starts live. lastOf is emptied, and since moved to pos,
	// when it holds maxTracked topics. learning holds the topics whose
	// last event a subscriber is reading (learn).
	since    int64
	lastOf   map[gid.ID]mark
	learning map[gid.ID]chan struct{}
	running  bool
	stopped  bool
	topics   map[gid.ID]*topic // workspace or prototype → its subscribers
	count    int
	catching sync.WaitGroup // catch-up goroutines
}

// subscriber is one subscription. Its fields but the immutable first
// group are guarded by Broker.mu.
type subscriber struct {
	ctx       context.Context // the subscription's: its lifetime, and its caller for reads
	topic     gid.ID          // Request.Prototype, or Request.Workspace
	workspace gid.ID
	kinds     kindSet
	ch        chan *ent.Event
	ready     Readier // Request.Ready, or notReady

	who    *viewer.Identity // what the caller may see, reloaded on revocation
	rights rights           // who's in the topic, read when who is set
	at     int              // its index in its topic's subs
	last   int64            // the last seq delivered, or known not to be wanted
	// lagging means a catch-up goroutine owns delivery (and closing ch);
	// the tailer passes the subscriber by. quit stops that goroutine.
	lagging bool
	quit    chan struct{}
	// rechecks counts the membership changes that may concern the caller
	// since its identity was last reloaded: while it is not zero, nothing
	// is delivered until the identity has been reloaded.
	rechecks int
	ended    bool
	stop     func() bool // unregisters the context.AfterFunc
}

// New returns a broker that reads events through client. Its reads are
// the server's own (the tailer) or the subscriber's (catch-ups), so the
// client should not be one whose statements are counted as a request's.
func New(client *ent.Client, opts Options) *Broker {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.Page <= 0 {
		opts.Page = DefaultPage
	}
	if opts.CatchUps <= 0 {
		opts.CatchUps = DefaultCatchUps
	}
	if opts.Revalidate <= 0 {
		opts.Revalidate = DefaultRevalidate
	}
	if opts.Ping <= 0 {
		opts.Ping = DefaultPing
	}
	return &Broker{
		client:   client,
		opts:     opts,
		log:      opts.Logger,
		wake:     make(chan struct{}, 1),
		recheck:  make(chan struct{}, 1),
		ready:    make(chan struct{}),
		reads:    make(chan struct{}, opts.CatchUps),
		topics:   map[gid.ID]*topic{},
		lastOf:   map[gid.ID]mark{},
		learning: map[gid.ID]chan struct{}{},
	}
}

// Publish implements graph.Publisher: it wakes the tailer, which reads
// the committed events from the table in their order. It never blocks.
func (b *Broker) Publish(_ context.Context, events []*ent.Event) {
	for _, e := range events {
		b.hear(e.Seq)
	}
	b.Wake()
}

// hear notes that events up to seq exist.
func (b *Broker) hear(seq int64) {
	for {
		old := b.heard.Load()
		if seq <= old || b.heard.CompareAndSwap(old, seq) {
			return
		}
	}
}

// Positions returns the last event position the broker has heard of, from
// a commit in this process or a NOTIFY from any, and the last one it has
// handed to subscribers. Their difference is how far live delivery lags.
func (b *Broker) Positions() (heard, dispatched int64) {
	dispatched = b.seen.Load()
	return max(b.heard.Load(), dispatched), dispatched
}

// Wake asks the tailer to look for new events. It never blocks; wake-ups
// that arrive while one is pending are one.
func (b *Broker) Wake() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// CatchUps reports how many catch-ups (reads of the table for a
// subscriber behind the tailer) have started since the broker was made.
func (b *Broker) CatchUps() int64 { return b.catchUps.Load() }

// Subscribers returns how many subscriptions are open.
func (b *Broker) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.count
}

// Subscribe opens a subscription for the caller in ctx (viewer.FromContext)
// and returns its events: first the stored ones after r.After, then new
// ones as they are committed, in seq order, each once, only those the
// caller may see. The channel is closed when ctx is done, when the
// caller's access is revoked, and when the broker stops.
//
// The caller's right to watch the topic is the resolver's to check; the
// broker checks each event.
func (b *Broker) Subscribe(ctx context.Context, r Request) (<-chan *ent.Event, error) {
	who := viewer.FromContext(ctx)
	if who == nil {
		return nil, errors.New("broker: subscribe without a caller")
	}
	if r.Workspace == 0 || r.After < 0 {
		return nil, fmt.Errorf("broker: bad request %+v", r)
	}
	s := &subscriber{
		ctx:       ctx,
		topic:     r.Workspace,
		workspace: r.Workspace,
		ch:        make(chan *ent.Event, b.opts.Buffer),
		who:       who,
		last:      r.After,
		ready:     r.Ready,
		kinds:     kindsOf(r.Kinds),
	}
	if s.ready == nil {
		s.ready = notReady
	}
	if r.Prototype != 0 {
		s.topic = r.Prototype
	}
	s.rights = rightsIn(who, s)
	b.learn(ctx, s.topic, s.topic == s.workspace, r.After)

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return nil, ErrClosed
	}
	t := b.topics[s.topic]
	if t == nil {
		t = &topic{}
		b.topics[s.topic] = t
	}
	t.add(s)
	b.count++
	if r.Cached != nil && b.opts.Identities != nil {
		// Under b.mu: an invalidation either came before this, and moved
		// the cache's generation, or its IdentitiesChanged finds s
		// registered. Either way s is rechecked.
		if r.Cached() {
			s.rechecks++ // the catch-up started below reloads first
		}
	}
	if s.rechecks == 0 && b.live(s.topic, r.After) {
		// Nothing stored after the cursor can still be missed: the tailer
		// has dispatched every event of the topic after it, and dispatches
		// all that comes after b.pos to s, now registered. The usual
		// subscription (from the latest cursor a client has seen of its
		// topic) then starts live, without a goroutine and a read of the
		// table whose garbage (~12 KB of ent's SQL building) outlives the
		// subscribe in part-used spans.
		s.last = r.After
	} else {
		// Registered first, replayed after: whatever is committed while
		// the replay reads is either in what it reads or dispatched after
		// it, and the seq tells which.
		b.startCatchUp(s, r.After)
	}
	// If ctx is done already, the function runs at once, in a goroutine
	// of its own, and waits for b.mu.
	s.stop = context.AfterFunc(ctx, func() { b.end(s) })
	return s.ch, nil
}

// live reports whether a subscriber of topic registered now after
// position after has nothing to replay: the tailer knows where the stream
// stands and has dispatched no event of the topic after it (events of
// other topics after it do not matter). Call with b.mu held.
func (b *Broker) live(topic gid.ID, after int64) bool {
	select {
	case <-b.ready:
		m := b.lastOf[topic]
		return after >= b.pos || (m.complete || after >= b.since) && m.last <= after
	default:
		// Before start, pos is not the stream's end yet: a catch-up
		// replays and waits for it.
		return false
	}
}

// end ends a subscription.
func (b *Broker) end(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.endLocked(s)
}

func (b *Broker) endLocked(s *subscriber) {
	if s.ended {
		return
	}
	s.ended = true
	if t := b.topics[s.topic]; t != nil {
		t.remove(s)
		if len(t.subs) == 0 {
			delete(b.topics, s.topic)
		}
	}
	b.count--
	if s.stop != nil {
		s.stop()
	}
	if s.lagging {
		close(s.quit) // its goroutine closes ch on its way out
	} else {
		close(s.ch) // the tailer sends only under b.mu
		s.ready.Ready()
	}
}

// Run runs the tailer, and the LISTEN connection if Options.PostgresURL
// is set, until ctx is done; then it ends every subscription and returns
// once all of its goroutines have. Call it once.
func (b *Broker) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.running || b.stopped {
		b.mu.Unlock()
		return errors.New("broker: Run called twice")
	}
	b.running = true
	b.mu.Unlock()

	var background sync.WaitGroup
	defer func() {
		b.mu.Lock()
		b.stopped = true
		for _, t := range b.topics {
			for i := len(t.subs) - 1; i >= 0; i-- { // endLocked removes t.subs[i]
				b.endLocked(t.subs[i])
			}
		}
		b.mu.Unlock()
		b.catching.Wait()
		background.Wait()
	}()

	if !b.start(ctx) {
		return nil
	}
	if b.opts.PostgresURL != "" {
		background.Add(1)
		go func() {
			defer background.Done()
			b.listen(ctx)
		}()
	}
	if b.opts.Identities != nil {
		background.Add(1)
		go func() {
			defer background.Done()
			b.revalidate(ctx)
		}()
	}

	tick := time.NewTicker(b.opts.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.wake:
		case <-tick.C:
			if b.opts.PostgresURL != "" {
				// Events a writer committed but could not number (it lost
				// the database, or its process died, right after its
				// commit) are numbered here; usually there are none, and
				// this is one cheap statement that takes no lock.
				if err := Number(ctx, b.client); err != nil && ctx.Err() == nil {
					b.log.WarnContext(ctx, "broker: number pending events", "err", err)
				}
			}
		}
		b.tail(ctx)
	}
}

// start sets the tailer's position to the end of the stream as it is now:
// subscribers read what came before from the table themselves. It retries
// until the database answers, or returns false once ctx is done.
func (b *Broker) start(ctx context.Context) bool {
	for {
		var last int64
		e, err := b.client.Event.Query().
			Where(event.SeqGT(0)). // not the pending events (NumberSQL)
			Order(ent.Desc(event.FieldSeq)).Select(event.FieldSeq).First(system(ctx))
		switch {
		case err == nil:
			last = e.Seq
		case ent.IsNotFound(err):
			err = nil // no events yet
		}
		if err == nil {
			b.mu.Lock()
			b.pos, b.since = last, last
			b.mu.Unlock()
			b.seen.Store(last)
			close(b.ready)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		b.log.ErrorContext(ctx, "broker: read the last event position; retrying", "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(b.opts.Poll):
		}
	}
}

// tail reads and dispatches every event after the tailer's position.
func (b *Broker) tail(ctx context.Context) {
	for {
		events, err := b.client.Event.Query().
			Where(event.SeqGT(b.pos)). // only this goroutine writes pos
			Order(ent.Asc(event.FieldSeq)).
			Limit(b.opts.Page).
			All(system(ctx))
		if err != nil {
			if ctx.Err() == nil {
				// The next wake-up or tick tries again from the same place.
				b.log.ErrorContext(ctx, "broker: read new events", "err", err)
			}
			return
		}
		b.dispatch(events)
		if len(events) < b.opts.Page {
			return
		}
	}
}

// dispatch hands events, in seq order, to the subscribers who want them.
func (b *Broker) dispatch(events []*ent.Event) {
	if len(events) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range events {
		if e.Seq <= b.pos {
			continue
		}
		b.pos = e.Seq
		if e.Kind == event.KindMEMBER_ROLE_CHANGED || e.Kind == event.KindMEMBER_REMOVED {
			b.pauseMembers(e)
		}
		b.track(e.WorkspaceID, e.Seq)
		b.deliver(e, b.topics[e.WorkspaceID])
		if e.PrototypeID != nil {
			b.track(*e.PrototypeID, e.Seq)
			b.deliver(e, b.topics[*e.PrototypeID])
		}
	}
	b.seen.Store(b.pos)
}

// mark is what the broker knows of a topic's events: the seq of the last
// it has seen, of those after since, or of all of them if complete (read
// from the table by learn).
type mark struct {
	last     int64
	complete bool
}

// maxTracked is how many topics lastOf holds before it is emptied: about
// 2 MB at most. Past it, subscriptions from before the moment it was
// emptied replay from the table, as all did before it existed.
const maxTracked = 1 << 15

// track notes seq as topic's last dispatched event (see lastOf). Call
// with b.mu held, the event's seq already in b.pos.
func (b *Broker) track(topic gid.ID, seq int64) {
	m, known := b.lastOf[topic]
	if !known && len(b.lastOf) >= maxTracked {
		// Every topic's last event is at or before pos, this event's:
		// a cursor before pos replays from here on.
		clear(b.lastOf)
		b.since = b.pos
	}
	m.last = seq
	b.lastOf[topic] = m
}

// learn reads topic's last event from the table when a subscription from
// after cannot start live only because the broker has not seen the
// topic's events from before it started (or forgot them, see maxTracked):
// the client's cursor is usually its topic's last event, and the next
// subscribers of the topic, thousands of them when clients reconnect
// after a restart, then start live instead of each reading the table in
// a catch-up of its own. One subscriber reads; the others of the topic
// wait for it. If the read fails, or ctx ends, the subscription catches
// up as it would have.
func (b *Broker) learn(ctx context.Context, topic gid.ID, workspace bool, after int64) {
	b.mu.Lock()
	select {
	case <-b.ready:
	default:
		b.mu.Unlock()
		return // a catch-up waits for the start
	}
	m := b.lastOf[topic]
	if m.complete || after >= b.since || after >= b.pos {
		b.mu.Unlock()
		return // known well enough
	}
	wait, reading := b.learning[topic]
	if !reading {
		b.learning[topic] = make(chan struct{})
	}
	b.mu.Unlock()
	if reading {
		select {
		case <-wait:
		case <-ctx.Done():
		}
		return
	}

	// Every event up to from is numbered and committed, so the read sees
	// it; those after from are the tailer's to track.
	from := b.seen.Load()
	q := b.client.Event.Query()
	if workspace {
		q.Where(event.WorkspaceID(topic))
	} else {
		q.Where(event.PrototypeID(topic))
	}
	var last int64 // none yet
	e, err := q.Order(ent.Desc(event.FieldSeq)).Select(event.FieldSeq).First(system(ctx))
	if err == nil {
		last = e.Seq
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// If the read failed, the subscription catches up and reports what
	// fails then. If the tailer forgot its topics after from, what it had
	// tracked of this one is gone too: then nothing is learnt either.
	if (err == nil || ent.IsNotFound(err)) && b.since <= from {
		m := b.lastOf[topic]
		m.last, m.complete = max(m.last, last), true
		b.lastOf[topic] = m
	}
	close(b.learning[topic])
	delete(b.learning, topic)
}

// deliver offers e to the subscribers of t without waiting for any of
// them.
func (b *Broker) deliver(e *ent.Event, t *topic) {
	if t == nil {
		return
	}
	audience, kind := rule.AudienceOf(e.Kind), kindBit(e.Kind)
	for _, s := range t.subs {
		if s.lagging || e.Seq <= s.last || s.kinds&kind == 0 || !s.wants(e, audience) {
			continue
		}
		select {
		case s.ch <- e:
			s.last = e.Seq
			s.ready.Ready()
		default:
			// Full: from here on the subscriber reads the table at its own
			// pace, starting with e.
			b.startCatchUp(s, e.Seq-1)
		}
	}
}

// wants reports whether s may see e, of audience; deliver has checked
// its kind. Call with b.mu held.
func (s *subscriber) wants(e *ent.Event, audience rule.EventAudience) bool {
	r := s.rights
	if e.WorkspaceID != s.workspace || (!r.member && (e.PrototypeID == nil || *e.PrototypeID != s.topic)) {
		// Not what the rights were read for (a non-member's rights in a
		// workspace's other prototypes are not): the identity says.
		return rule.EventVisible(s.who, e)
	}
	return audience.Sees(r.member, r.role, r.tester)
}

// rights are what a subscriber's caller may see of its topic's events,
// read from its identity when the subscriber registers and when the
// identity is reloaded, so that the tailer checks 10,000 subscribers
// without reading 10,000 identities per event (rule.EventAudience). An
// identity changes otherwise only as a request adds to its own
// (viewer.Join, AddTester), and no request adds to a subscriber's: a
// token's subscriptions share the identity cache's identity for it
// (IdentityCache.Cached), of which every request gets a Clone, and a
// subscriber without one gets a fresh load or a copy (see
// graph.Resolver.subscriber). A change of role is rechecked from the
// database all the same (pauseMembers).
type rights struct {
	role   viewer.Role
	member bool // of the subscriber's workspace
	tester bool // of its topic, when that is a prototype
}

// rightsIn reads who's rights in s's workspace and prototype topic.
func rightsIn(who *viewer.Identity, s *subscriber) rights {
	var r rights
	r.role, r.member = who.RoleIn(s.workspace)
	if s.topic != s.workspace {
		_, r.tester = who.TesterOf(s.topic)
	}
	return r
}

// topic is the subscribers of one workspace or prototype, in a slice:
// the tailer walks it for every event, and at 10,000 subscribers a
// map's iteration cost as much as the checks of the subscribers.
type topic struct {
	subs []*subscriber
}

func (t *topic) add(s *subscriber) {
	s.at = len(t.subs)
	t.subs = append(t.subs, s)
}

// remove takes s out, moving the last subscriber into its place.
func (t *topic) remove(s *subscriber) {
	last := len(t.subs) - 1
	t.subs[s.at] = t.subs[last]
	t.subs[s.at].at = s.at
	t.subs[last] = nil
	t.subs = t.subs[:last]
}

// system lifts privacy for the broker's own reads: the tailer reads every
// event once, for all subscribers, and checks each for each of them.
func system(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

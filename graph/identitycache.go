package graph

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/authtoken"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// Defaults of an IdentityCache.
const (
	// DefaultIdentityCacheSize is how many tokens' identities a process
	// keeps: a few MB at most.
	DefaultIdentityCacheSize = 10_000
	// IdentityCacheTTL is how long an identity is kept at most. Changes
	// are announced (see IdentityCache.Watch), so this is only a safety
	// net: it bounds what a lost announcement could cost.
	IdentityCacheTTL = 30 * time.Second
)

// IdentityCache keeps, across requests, the identity each bearer token
// resolves to, so that a request whose token was seen in the last
// IdentityCacheTTL skips loadIdentity's statement.
//
// "A revoked token is refused at once" holds across processes because
// every change that can alter an identity is announced (Watch): in this
// process once its transaction has commited, to the others by a NOTIFY
// sent in that transaction, which PostgreSQL delivers when it commits.
// The broker's LISTEN connection hears it and calls Invalidate. While
// that connection is down the cache is not trusted (SetTrusted): it is
// emptied, bypassed, and emptied again once the connection is back.
//
// A load that began before an invalidation is not kept: every
// invalidation moves the generation on, and a loaded identity is kept
// only if the generation is the one its load began in. So an identity
// read just before a change commits, and finished after the change was
// announced, is used by its request but by no later one.
type IdentityCache struct {
	size   int
	ttl    time.Duration
	origin string // tells this cache's announcements apart: see Origin

	mu      sync.Mutex
	entries map[[sha256.Size]byte]*cachedIdentity
	// byToken finds an entry by its token's ID, for a subscription that
	// has its caller's identity but not the token (Cached).
	byToken map[gid.ID][sha256.Size]byte
	gen     uint64 // moved on by every invalidation and change of trust
	trusted bool
	watch   []func(changed []gid.ID)
	hits    atomic.Uint64
	misses  atomic.Uint64
}

// cachedIdentity is an identity as loaded. Each request gets a Clone,
// since a request may add to its own (viewer.Join, AddTester); the
// subscriptions of its token share it (Cached).
type cachedIdentity struct {
	id    *viewer.Identity
	keys  []gid.ID // what an invalidation names to reach it: see identityKeys
	until time.Time
}

// NewIdentityCache returns a cache of at most size identities (size ≤ 0:
// none), trusted from the start if trusted is true. A cache whose
// invalidations come from a LISTEN connection starts untrusted, and the
// connection's owner trusts it once it listens.
func NewIdentityCache(size int, trusted bool) *IdentityCache {
	var tag [8]byte
	_, _ = rand.Read(tag[:]) // crypto/rand.Read does not fail
	return &IdentityCache{size: size, ttl: IdentityCacheTTL, origin: hex.EncodeToString(tag[:]),
		entries: map[[sha256.Size]byte]*cachedIdentity{}, byToken: map[gid.ID][sha256.Size]byte{}, trusted: trusted}
}

// Origin is the tag of the announcements Watch sends for this cache's
// process (broker.IdentityPayload): its broker skips them when its LISTEN
// connection hears them (broker.Options.IdentityOrigin), as Watch has
// applied them once they committed.
func (c *IdentityCache) Origin() string { return c.origin }

// Authenticate is the package's Authenticate through the cache. A nil
// cache is none.
func (c *IdentityCache) Authenticate(ctx context.Context, client *ent.Client, token string) (*viewer.Identity, error) {
	if c == nil || c.size <= 0 {
		return Authenticate(ctx, client, token)
	}
	if !strings.HasPrefix(token, tokenPrefix) {
		return nil, ErrInvalidToken
	}
	hash := sha256.Sum256([]byte(token))
	now := time.Now()
	c.mu.Lock()
	e, hit := c.entries[hash]
	if hit && c.trusted && now.Before(e.until) {
		c.mu.Unlock()
		c.hits.Add(1)
		return e.id.Clone(), nil
	}
	gen, trusted := c.gen, c.trusted
	c.mu.Unlock()
	c.misses.Add(1)

	id, expires, err := loadIdentity(ctx, client, authtoken.TokenHash(hash[:]), tokenWorks())
	if err != nil || !trusted {
		return id, err
	}
	until := now.Add(c.ttl)
	if !expires.IsZero() && expires.Before(until) {
		until = expires
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || !c.trusted {
		return id, nil // something changed while it loaded: it may be stale
	}
	if len(c.entries) >= c.size {
		c.evict(now)
	}
	c.entries[hash] = &cachedIdentity{id: id.Clone(), keys: identityKeys(id), until: until}
	c.byToken[id.TokenID] = hash
	return id, nil
}

// Cached returns the identity the cache holds for the bearer token
// tokenID, if it holds one it trusts, and the generation it was found in:
// Moved(gen) then tells whether an invalidation has come since, which may
// concern it. A websocket's subscription asks it for the identity its
// connection_init resolved a moment ago, instead of reading it again from
// the database; the broker rechecks it when Moved says so or an
// invalidation names it (broker.Request.Cached).
//
// The identity is the cache's own, shared by every subscription of the
// token, not a clone: the caller must not add to it (viewer.Join,
// AddTester), which only mutations do, and a subscription runs none.
// What Remember keeps on it is shared with them, which is what it is
// for; Clone, and so every request, leaves it out.
func (c *IdentityCache) Cached(tokenID gid.ID) (id *viewer.Identity, gen uint64, ok bool) {
	if c == nil || c.size <= 0 || tokenID == 0 {
		return nil, 0, false
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[c.byToken[tokenID]]
	if e == nil || !c.trusted || !now.Before(e.until) || e.id.TokenID != tokenID {
		c.misses.Add(1)
		return nil, 0, false
	}
	c.hits.Add(1)
	return e.id, c.gen, true
}

// Moved reports whether an invalidation, or a change of trust, has come
// since generation gen (see Cached).
func (c *IdentityCache) Moved(gen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen != gen
}

// drop forgets the entry h. Call with c.mu held.
func (c *IdentityCache) drop(h [sha256.Size]byte, e *cachedIdentity) {
	delete(c.entries, h)
	if c.byToken[e.id.TokenID] == h {
		delete(c.byToken, e.id.TokenID)
	}
}

// evictScan bounds how many entries evict looks at: a full cache does
// not cost every miss a sweep of the whole map under the lock.
const evictScan = 64

// evict makes room for one more entry: among the first evictScan entries
// the map gives (Go starts each range at a random place), it drops those
// that have expired, or else the one that expires first. Call with c.mu
// held.
func (c *IdentityCache) evict(now time.Time) {
	var victim [sha256.Size]byte
	var soonest time.Time
	dropped, seen := false, 0
	for h, e := range c.entries {
		if seen++; seen > evictScan {
			break
		}
		switch {
		case !now.Before(e.until):
			c.drop(h, e)
			dropped = true
		case soonest.IsZero() || e.until.Before(soonest):
			victim, soonest = h, e.until
		}
	}
	if !dropped && !soonest.IsZero() {
		c.drop(victim, c.entries[victim])
	}
}

// identityKeys lists the IDs an identity depends on: its token, its user,
// its workspaces, its tester participations and their prototypes. A
// change announces the IDs it touches, and drops every identity that
// lists one of them.
func identityKeys(id *viewer.Identity) []gid.ID {
	keys := []gid.ID{id.TokenID}
	if id.UserID != 0 {
		keys = append(keys, id.UserID)
	}
	keys = append(keys, id.Workspaces(func(viewer.Role) bool { return true })...)
	for _, t := range id.Testing() {
		keys = append(keys, t.Participant, t.Prototype, t.Workspace)
	}
	return keys
}

// Invalidate drops the identities that depend on any of the IDs, or every
// identity if there are none, and tells the functions given to
// OnInvalidate. It never blocks on the database.
func (c *IdentityCache) Invalidate(changed ...gid.ID) {
	c.invalidate(true, changed)
}

// invalidate is Invalidate, telling the OnInvalidate functions only if
// tell.
func (c *IdentityCache) invalidate(tell bool, changed []gid.ID) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.gen++
	if len(changed) == 0 {
		clear(c.entries)
		clear(c.byToken)
	} else {
		set := make(map[gid.ID]bool, len(changed))
		for _, id := range changed {
			set[id] = true
		}
		for h, e := range c.entries {
			for _, k := range e.keys {
				if set[k] {
					c.drop(h, e)
					break
				}
			}
		}
	}
	watch := c.watch
	c.mu.Unlock()
	if !tell {
		return
	}
	for _, f := range watch {
		f(changed)
	}
}

// SetTrusted says whether the announcements of changes reach the cache.
// Either way the cache is emptied: while untrusted it is bypassed, and
// once trusted again what it held may have missed an announcement.
// Only trust regained is an invalidation naming nothing for the
// OnInvalidate functions: what holds identities rechecks them once,
// after the announcements it may have missed, not also when they start
// being missed (when a starved database has made the LISTEN connection
// late, the moment every recheck would queue for it).
func (c *IdentityCache) SetTrusted(trusted bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.trusted = trusted
	c.mu.Unlock()
	c.invalidate(trusted, nil)
}

// IdentityCacheStats is what an IdentityCache has done, for metrics.
type IdentityCacheStats struct {
	Hits, Misses uint64
	Entries      int
	Trusted      bool // in use: on, and hearing of every change
}

// Stats returns what c has done so far.
func (c *IdentityCache) Stats() IdentityCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return IdentityCacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Entries: len(c.entries), Trusted: c.trusted && c.size > 0}
}

// OnInvalidate calls f with the IDs of every invalidation from now on
// (none: everything may have changed), whether or not the cache is in
// use: for what holds identities longer than a request, such as live
// connections, to recheck the ones concerned at once. f must not block.
func (c *IdentityCache) OnInvalidate(f func(changed []gid.ID)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watch = append(c.watch, f)
}

// Package viewer carries who is making a request through its context.
//
// The server resolves a bearer token into a Viewer once per request; the
// privacy rules in ent/schema and the resolvers in graph read it from there.
package viewer

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

// Role is what a member may do in a workspace.
type Role string

// The workspace roles, from most to least powerful.
const (
	Owner  Role = "OWNER"
	Maker  Role = "MAKER"
	Viewer Role = "VIEWER"
)

// Values lists the roles, for ent's enum column.
func (Role) Values() []string { return []string{string(Owner), string(Maker), string(Viewer)} }

// MarshalGQL writes the role as a GraphQL enum value.
func (r Role) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(r))) }

// UnmarshalGQL reads a role from a GraphQL enum value.
func (r *Role) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok || !slices.Contains(r.Values(), s) {
		return fmt.Errorf("%v is not a role", v)
	}
	*r = Role(s)
	return nil
}

// CanEdit reports whether the role may create and change prototypes and
// iterations and triage feedback.
func (r Role) CanEdit() bool { return r == Owner || r == Maker }

// Identity is an authenticated caller: a user with an account, or a guest
// tester admitted through an invite (no user, one participation). It is
// safe for concurrent use: a websocket connection shares one across its
// operations.
type Identity struct {
	UserID  gid.ID // the signed-in user; zero for a guest
	TokenID gid.ID // the bearer token used, if any

	mu      sync.RWMutex
	roles   map[gid.ID]Role   // the user's role in each of their workspaces
	testing map[gid.ID]Tester // prototype → the caller's tester participation there
	// shared says that roles and testing may be another identity's too
	// (Clone): they are then only read, and a write copies them first
	// (own).
	shared bool
	memos  map[any]*memo // see Remember
}

// Tester is a caller's participation in one prototype as an invited tester.
type Tester struct {
	Prototype   gid.ID
	Workspace   gid.ID
	Participant gid.ID
	// OpenFeedback says whether the prototype lets testers see each
	// other's names.
	OpenFeedback bool
}

// NewIdentity returns the identity of a user with the given roles.
func NewIdentity(user, token gid.ID, roles map[gid.ID]Role) *Identity {
	if roles == nil {
		roles = map[gid.ID]Role{}
	}
	return &Identity{UserID: user, TokenID: token, roles: roles, testing: map[gid.ID]Tester{}}
}

// NewGuest returns the identity of a guest tester: no account, no
// workspace, one prototype.
func NewGuest(token gid.ID, t Tester) *Identity {
	return &Identity{TokenID: token, roles: map[gid.ID]Role{}, testing: map[gid.ID]Tester{t.Prototype: t}}
}

// Clone returns a copy of the identity with nothing remembered (see
// Remember): what a cache of identities hands each request, since a
// request may add to its own (Join, AddTester). The two share their roles
// and tester participations until one of them adds to its own, which
// copies them first: a request that only reads, as nearly all do, copies
// no map, and a websocket's identity costs a few words, not a copy of
// every membership.
func (id *Identity) Clone() *Identity {
	id.mu.RLock()
	if id.shared {
		defer id.mu.RUnlock()
		return id.sharing()
	}
	id.mu.RUnlock()
	id.mu.Lock()
	defer id.mu.Unlock()
	id.shared = true
	return id.sharing()
}

// sharing returns a clone of id that shares its maps. Call with id.mu held
// and id.shared set.
func (id *Identity) sharing() *Identity {
	return &Identity{UserID: id.UserID, TokenID: id.TokenID, roles: id.roles, testing: id.testing, shared: true}
}

// own makes id's maps its own before it writes to them, copying them if
// they may be shared (Clone). Call with id.mu held for writing.
func (id *Identity) own() {
	if id.shared {
		id.roles, id.testing, id.shared = maps.Clone(id.roles), maps.Clone(id.testing), false
	}
}

// IsGuest reports whether the caller has no account.
func (id *Identity) IsGuest() bool { return id != nil && id.UserID == 0 }

// AddTester records that the caller tests a prototype (a signed-in user
// who redeemed an invite, say).
func (id *Identity) AddTester(t Tester) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.own()
	id.testing[t.Prototype] = t
}

// TesterOf returns the caller's tester participation in a prototype.
func (id *Identity) TesterOf(prototype gid.ID) (Tester, bool) {
	if id == nil {
		return Tester{}, false
	}
	id.mu.RLock()
	defer id.mu.RUnlock()
	t, ok := id.testing[prototype]
	return t, ok
}

// TesterAs returns the tester participation in which the caller acts as
// a participant, if it is one of theirs.
func (id *Identity) TesterAs(participant gid.ID) (Tester, bool) {
	if id == nil {
		return Tester{}, false
	}
	id.mu.RLock()
	defer id.mu.RUnlock()
	for _, t := range id.testing {
		if t.Participant == participant {
			return t, true
		}
	}
	return Tester{}, false
}

// Testing lists the caller's tester participations.
func (id *Identity) Testing() []Tester {
	if id == nil {
		return nil
	}
	id.mu.RLock()
	defer id.mu.RUnlock()
	ts := make([]Tester, 0, len(id.testing))
	for _, t := range id.testing {
		ts = append(ts, t)
	}
	return ts
}

// RoleIn returns the identity's role in a workspace, if it is a member.
func (id *Identity) RoleIn(workspace gid.ID) (Role, bool) {
	if id == nil {
		return "", false
	}
	id.mu.RLock()
	defer id.mu.RUnlock()
	r, ok := id.roles[workspace]
	return r, ok
}

// Workspaces lists the workspaces where the identity's role passes check.
func (id *Identity) Workspaces(check func(Role) bool) []gid.ID {
	if id == nil {
		return nil
	}
	id.mu.RLock()
	defer id.mu.RUnlock()
	ids := make([]gid.ID, 0, len(id.roles))
	for w, r := range id.roles {
		if check(r) {
			ids = append(ids, w)
		}
	}
	return ids
}

// DependsOn reports whether the identity lists one of the IDs in changed:
// its token, its user, a workspace it is a member of, or a tester
// participation, its prototype or its workspace. An announced change
// names such IDs; a holder of the identity that one names reads it again.
// It allocates nothing: the broker asks it of every subscriber.
func (id *Identity) DependsOn(changed map[gid.ID]bool) bool {
	if id == nil {
		return false
	}
	if changed[id.TokenID] || (id.UserID != 0 && changed[id.UserID]) {
		return true
	}
	id.mu.RLock()
	defer id.mu.RUnlock()
	for w := range id.roles {
		if changed[w] {
			return true
		}
	}
	for _, t := range id.testing {
		if changed[t.Participant] || changed[t.Prototype] || changed[t.Workspace] {
			return true
		}
	}
	return false
}

// SameRights reports whether o is the same caller with the same rights
// as id: the same user and token, the same role in each workspace, the
// same tester participations with the same openFeedback. Everything
// that decides what a caller may see and how its names are masked is
// there (graph's shareSum hashes the same).
func (id *Identity) SameRights(o *Identity) bool {
	if id == nil || o == nil {
		return id == o
	}
	if id == o {
		return true
	}
	if id.UserID != o.UserID || id.TokenID != o.TokenID {
		return false
	}
	id.mu.RLock()
	defer id.mu.RUnlock()
	o.mu.RLock()
	defer o.mu.RUnlock()
	return maps.Equal(id.roles, o.roles) && maps.Equal(id.testing, o.testing)
}

// IsMember reports whether the identity is a member of any workspace,
// without listing them: masking asks it for every name it resolves.
func (id *Identity) IsMember() bool {
	if id == nil {
		return false
	}
	id.mu.RLock()
	defer id.mu.RUnlock()
	return len(id.roles) > 0
}

// memo is a value Remember keeps, or is loading (until done is closed).
type memo struct {
	done  chan struct{}
	value any
	err   error
	at    time.Time
}

func (m *memo) ready() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// Remember returns the value load returns for key, and keeps it for the
// identity's later calls until it is older than maxAge; concurrent calls
// for one key share one load. It is for facts that several resolvers of a
// request need and that would otherwise cost a query each (who in a
// tested prototype is on the team, say). An identity lives for one HTTP
// request, or for a websocket connection, which is why values age out.
// Errors are not kept.
func (id *Identity) Remember(key any, maxAge time.Duration, load func() (any, error)) (any, error) {
	id.mu.Lock()
	m, ok := id.memos[key]
	if ok && m.ready() && (m.err != nil || time.Since(m.at) > maxAge) {
		ok = false
	}
	if ok {
		id.mu.Unlock()
		<-m.done
		return m.value, m.err
	}
	m = &memo{done: make(chan struct{})}
	if id.memos == nil {
		id.memos = map[any]*memo{}
	}
	id.memos[key] = m
	id.mu.Unlock()
	loaded := false
	defer func() {
		// A load that panics must not leave the calls waiting for it
		// stuck; they get an error, and the panic goes on up.
		if !loaded {
			m.err = fmt.Errorf("viewer: loading %v panicked", key)
		}
		m.at = time.Now()
		close(m.done)
	}()
	m.value, m.err = load()
	loaded = true
	return m.value, m.err
}

type ctxKey struct{}

// NewContext returns a context carrying an identity.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity in ctx, or nil for an anonymous caller.
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(ctxKey{}).(*Identity)
	return id
}

// Join records in ctx's identity that its user has just become a member of
// a workspace, so that the rest of the request (the same transaction, say)
// can read what it created.
func Join(ctx context.Context, workspace gid.ID, role Role) {
	if id := FromContext(ctx); id != nil {
		id.mu.Lock()
		defer id.mu.Unlock()
		id.own()
		id.roles[workspace] = role
	}
}

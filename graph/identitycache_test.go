package graph_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/graph"
	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/servertest"
)

// identityWait bounds how long a change made on one server may take to
// reach another: in practice a few milliseconds, the NOTIFY's trip.
const identityWait = 10 * time.Second

// answer is what a server answered a request, for the identity tests.
type answer struct {
	status int
	data   map[string]any
	code   string // of the first error, if any
}

// ask sends a GraphQL request with token to the server at baseURL.
func ask(t *testing.T, baseURL, token, query string, v vars) answer {
	t.Helper()
	r, err := servertest.PostTo(context.Background(), baseURL, token, query, v)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: r.Status}
	_ = json.Unmarshal(r.Data, &a.data)
	if len(r.Errors) > 0 {
		a.code = r.Errors[0].Code()
	}
	return a
}

// eventually polls what until it returns want, for identityWait at most.
// It is how a test waits for a change to reach another process: the
// deadline is generous, the wait itself is not asserted.
func eventually(t *testing.T, what string, want string, read func() string) {
	t.Helper()
	deadline := time.Now().Add(identityWait)
	for {
		got := read()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %q after %v, want %q", what, got, identityWait, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// identityChanges checks that every kind of change to what a token
// resolves to, made on the server at a, is seen by the server at b on the
// requests that follow (a and b may be the same server). Each case first
// has b cache the identity as it was.
func identityChanges(t *testing.T, s *servertest.Server, a, b string) {
	loop := s.NewLoop(t)
	owner := loop.Owner

	authenticated := func(token string) func() string {
		return func() string {
			if r := ask(t, b, token, `{ __typename }`, nil); r.status == http.StatusUnauthorized {
				return "refused"
			}
			return "accepted"
		}
	}
	role := func(token, workspace string) func() string {
		return func() string {
			r := ask(t, b, token, `query($id: ID!) { node(id: $id) { ... on Workspace { viewerRole } } }`, vars{"id": workspace})
			node, _ := r.data["node"].(map[string]any)
			if node == nil {
				return "none"
			}
			role, _ := node["viewerRole"].(string)
			return role
		}
	}
	sees := func(token, id string) func() string {
		return func() string {
			r := ask(t, b, token, `query($id: ID!) { node(id: $id) { id } }`, vars{"id": id})
			if node, _ := r.data["node"].(map[string]any); node != nil {
				return "sees"
			}
			return "hidden"
		}
	}
	// change checks read on b, makes the change on a, and waits for b to
	// read the new state.
	change := func(t *testing.T, what string, read func() string, before, after string, do func()) {
		t.Helper()
		if got := read(); got != before {
			t.Fatalf("%s: %q before the change, want %q", what, got, before)
		}
		do()
		eventually(t, what, after, read)
	}
	on := func(token, query string, v vars) {
		t.Helper()
		if r := ask(t, a, token, query, v); r.code != "" || r.status != http.StatusOK {
			t.Fatalf("%s: HTTP %d, %s", query, r.status, r.code)
		}
	}

	t.Run("a revoked token is refused", func(t *testing.T) {
		spare := logInAgain(t, s, owner)
		id := tokensOf(t, s, spare)[0].ID
		change(t, "the revoked token", authenticated(spare), "accepted", "refused", func() {
			on(owner.Token, revokeTokenMutation, vars{"id": id})
		})
	})
	t.Run("a token logged out with is refused", func(t *testing.T) {
		session := logInAgain(t, s, owner)
		change(t, "the logged-out token", authenticated(session), "accepted", "refused", func() {
			on(session, logOutMutation, nil)
		})
	})
	t.Run("a member's role change is seen", func(t *testing.T) {
		m := s.NewUser(t, "Mae")
		id := s.AddMember(t, owner.Token, loop.Workspace.ID, m.Email, "VIEWER")
		change(t, "the member's role", role(m.Token, loop.Workspace.ID), "VIEWER", "MAKER", func() {
			on(owner.Token, setMemberRoleMutation, vars{"id": id, "role": "MAKER"})
		})
	})
	t.Run("a removed member loses the workspace", func(t *testing.T) {
		m := s.NewUser(t, "Rex")
		id := s.AddMember(t, owner.Token, loop.Workspace.ID, m.Email, "MAKER")
		change(t, "the removed member's role", role(m.Token, loop.Workspace.ID), "MAKER", "none", func() {
			on(owner.Token, removeMemberMutation, vars{"id": id})
		})
	})
	t.Run("a user added as a member gets the workspace", func(t *testing.T) {
		m := s.NewUser(t, "Ned")
		change(t, "the new member's role", role(m.Token, loop.Workspace.ID), "none", "VIEWER", func() {
			on(owner.Token, `mutation($in: AddMemberInput!) { addMember(input: $in) { id } }`,
				vars{"in": vars{"workspaceID": loop.Workspace.ID, "email": m.Email, "role": "VIEWER"}})
		})
	})
	t.Run("a user who redeems an invite becomes a tester", func(t *testing.T) {
		u := s.NewUser(t, "Ivy")
		_, secret := newInvite(t, s, owner.Token, loop.Prototype.ID, nil)
		change(t, "the prototype, to the invited user", sees(u.Token, loop.Prototype.ID), "hidden", "sees", func() {
			on(u.Token, redeemInviteMutation, vars{"in": vars{"token": secret, "displayName": "Ivy"}})
		})
	})
	t.Run("a claimed guest's token is refused", func(t *testing.T) {
		u := s.NewUser(t, "Gus")
		_, secret := newInvite(t, s, owner.Token, loop.Prototype.ID, nil)
		guest, _ := newGuestOf(t, s, secret, "Gus")
		change(t, "the claimed guest's token", authenticated(guest), "accepted", "refused", func() {
			on(u.Token, claimGuestMutation, vars{"t": guest})
		})
	})
}

func TestIdentityChangesAreSeenAtOnce(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		identityChanges(t, s, s.URL, s.URL)
	})
}

func TestIdentityChangesReachOtherReplicasAtOnce(t *testing.T) {
	s := servertest.Start(t, servertest.Postgres)
	replica, _ := startReplica(t, s)
	t.Run("made on the first, seen by the replica", func(t *testing.T) {
		identityChanges(t, s, s.URL, replica)
	})
	t.Run("made on the replica, seen by the first", func(t *testing.T) {
		identityChanges(t, s, replica, s.URL)
	})
}

// TestRevocationsSurviveALostListenConnection kills the replica's LISTEN
// connection while tokens are revoked on the first server: the
// notifications sent meanwhile are lost, and the replica must refuse the
// tokens all the same, because it does not trust its cache while the
// connection is down and empties it when it is back.
func TestRevocationsSurviveALostListenConnection(t *testing.T) {
	s := servertest.Start(t, servertest.Postgres)
	replica, listener := startReplica(t, s)
	owner := s.NewUser(t, "Olga")
	for i := range 5 {
		spare := logInAgain(t, s, owner)
		id := tokensOf(t, s, spare)[0].ID
		if r := ask(t, replica, spare, `{ __typename }`, nil); r.status != http.StatusOK {
			t.Fatalf("round %d: the replica refused a working token: HTTP %d", i, r.status)
		}
		var killed int
		if err := s.DB.SQL.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = $1 AND query LIKE 'LISTEN%'`, listener).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		s.Do(t, owner.Token, revokeTokenMutation, vars{"id": id}).RequireOK(t)
		eventually(t, "the revoked token, on the replica", "refused", func() string {
			if r := ask(t, replica, spare, `{ __typename }`, nil); r.status == http.StatusUnauthorized {
				return "refused"
			}
			return "accepted"
		})
	}
}

// countingClient is an ent client on s's database that counts the
// statements its queries make, and runs during of every query while the
// query is under way (after it began, before it returns).
func countingClient(s *servertest.Server, during func()) (*ent.Client, *atomic.Int64) {
	n := &atomic.Int64{}
	client := ent.NewClient(ent.Driver(entsql.OpenDB(s.DB.Dialect, s.DB.SQL)))
	client.Intercept(ent.InterceptFunc(func(next ent.Querier) ent.Querier {
		return ent.QuerierFunc(func(ctx context.Context, q ent.Query) (ent.Value, error) {
			n.Add(1)
			v, err := next.Query(ctx, q)
			if during != nil {
				during()
			}
			return v, err
		})
	}))
	return client, n
}

func TestIdentityCache(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		token := s.NewUser(t, "Cara").Token
		ctx := context.Background()
		authenticate := func(t *testing.T, c *graph.IdentityCache, client *ent.Client) {
			t.Helper()
			if _, err := c.Authenticate(ctx, client, token); err != nil {
				t.Fatal(err)
			}
		}

		t.Run("a cached identity costs no statement", func(t *testing.T) {
			c := graph.NewIdentityCache(10, true)
			client, statements := countingClient(s, nil)
			authenticate(t, c, client)
			authenticate(t, c, client)
			if n := statements.Load(); n != 1 {
				t.Errorf("two requests with one token made %d statements, want 1", n)
			}
		})
		t.Run("an untrusted cache is bypassed, and emptied when trusted again", func(t *testing.T) {
			c := graph.NewIdentityCache(10, true)
			client, statements := countingClient(s, nil)
			authenticate(t, c, client)
			c.SetTrusted(false)
			authenticate(t, c, client)
			authenticate(t, c, client)
			if n := statements.Load(); n != 3 {
				t.Errorf("untrusted: %d statements for 3 requests, want 3", n)
			}
			c.SetTrusted(true)
			authenticate(t, c, client)
			authenticate(t, c, client)
			if n := statements.Load(); n != 4 {
				t.Errorf("trusted again: %d statements for 5 requests, want 4", n)
			}
		})
		t.Run("an identity loaded across an invalidation is not kept", func(t *testing.T) {
			c := graph.NewIdentityCache(10, true)
			var invalidate atomic.Bool
			client, statements := countingClient(s, func() {
				if invalidate.Swap(false) {
					c.Invalidate() // a change committed while the identity loaded
				}
			})
			invalidate.Store(true)
			authenticate(t, c, client)
			authenticate(t, c, client)
			authenticate(t, c, client)
			if n := statements.Load(); n != 2 {
				t.Errorf("%d statements, want 2: the load that raced the invalidation must not be cached", n)
			}
		})
		t.Run("a full cache keeps its size and the newest identity", func(t *testing.T) {
			c := graph.NewIdentityCache(2, true)
			client, statements := countingClient(s, nil)
			for _, name := range []string{"Dan", "Eve", "Fay"} {
				if _, err := c.Authenticate(ctx, client, s.NewUser(t, name).Token); err != nil {
					t.Fatal(err)
				}
			}
			if n := c.Stats().Entries; n != 2 {
				t.Errorf("a cache of 2 holds %d identities after 3 tokens", n)
			}
			authenticate(t, c, client) // Cara's: a fourth, evicting one more
			before := statements.Load()
			authenticate(t, c, client)
			if n := statements.Load() - before; n != 0 {
				t.Errorf("the identity just loaded cost %d statements again, want 0", n)
			}
		})
		t.Run("a subscription finds an identity by its token's ID until it is invalidated", func(t *testing.T) {
			c := graph.NewIdentityCache(2, true)
			client, _ := countingClient(s, nil)
			id, err := c.Authenticate(ctx, client, token)
			if err != nil {
				t.Fatal(err)
			}
			got, gen, ok := c.Cached(id.TokenID)
			if !ok || got.UserID != id.UserID || got.TokenID != id.TokenID || got == id {
				t.Fatalf("Cached(%v) = %v, %v: want the cache's copy of the identity", id.TokenID, got, ok)
			}
			// Subscriptions share the cache's identity; a request's is its
			// own, so that what it joins reaches no one else.
			if again, _, _ := c.Cached(id.TokenID); again != got {
				t.Error("two subscriptions of one token got two copies of its identity, want one shared")
			}
			request, err := c.Authenticate(ctx, client, token)
			if err != nil {
				t.Fatal(err)
			}
			if request == got {
				t.Fatal("a request got the identity the cache shares with subscriptions")
			}
			other := gid.New(gid.Workspace)
			viewer.Join(viewer.NewContext(ctx, request), other, viewer.Owner)
			if _, member := got.RoleIn(other); member {
				t.Error("a workspace a request joined is in the identity the subscriptions share")
			}
			if c.Moved(gen) {
				t.Error("the generation moved without an invalidation")
			}
			c.Invalidate(id.UserID)
			if !c.Moved(gen) {
				t.Error("an invalidation did not move the generation")
			}
			if _, _, ok := c.Cached(id.TokenID); ok {
				t.Error("an identity invalidated by its user is still found by its token")
			}
			authenticate(t, c, client)
			if _, _, ok := c.Cached(id.TokenID); !ok {
				t.Error("an identity loaded again is not found by its token")
			}
			c.SetTrusted(false)
			authenticate(t, c, client)
			if _, _, ok := c.Cached(id.TokenID); ok {
				t.Error("an untrusted cache handed out an identity")
			}
		})
		t.Run("a LISTEN connection deaf then heard again is one invalidation for the watchers", func(t *testing.T) {
			c := graph.NewIdentityCache(2, true)
			client, _ := countingClient(s, nil)
			var told [][]gid.ID
			c.OnInvalidate(func(changed []gid.ID) { told = append(told, changed) })
			authenticate(t, c, client)
			c.SetTrusted(false)
			if len(told) != 0 {
				t.Errorf("deaf: the watchers were told %d times, want 0", len(told))
			}
			if st := c.Stats(); st.Entries != 0 {
				t.Errorf("deaf: the cache holds %d identities, want 0", st.Entries)
			}
			c.SetTrusted(true)
			if len(told) != 1 || len(told[0]) != 0 {
				t.Errorf("heard again: the watchers were told %v, want one invalidation naming nothing", told)
			}
		})
		t.Run("a cache of size 0 keeps nothing", func(t *testing.T) {
			c := graph.NewIdentityCache(0, true)
			client, statements := countingClient(s, nil)
			authenticate(t, c, client)
			authenticate(t, c, client)
			if n := statements.Load(); n != 2 {
				t.Errorf("%d statements, want 2", n)
			}
		})
	})
}

// TestCachedIdentityCostsNoStatement: the second request with a token
// costs one statement less than the first, which resolved the token.
func TestCachedIdentityCostsNoStatement(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		token := logInAgain(t, s, loop.Owner)
		cost := func() int64 {
			before := s.Statements()
			s.Do(t, token, `query($id: ID!) { node(id: $id) { id } }`, vars{"id": loop.Prototype.ID}).RequireOK(t)
			return s.Statements() - before
		}
		first, second := cost(), cost()
		t.Logf("%s: the first request with a token took %d statements, the second %d", s.Backend, first, second)
		if second != first-1 {
			t.Errorf("the second request took %d statements, the first %d: want one less", second, first)
		}
	})
}

// TestRevokedTokensEndSubscriptionsAtOnce revokes a subscriber's token on
// one server: its subscription, on that server or another replica, ends
// right away, long before the periodic check of tokens (an hour here).
func TestRevokedTokensEndSubscriptionsAtOnce(t *testing.T) {
	cfg := server.Config{RevalidateTokens: time.Hour}
	servertest.RunWith(t, servertest.Options{Config: cfg}, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		where := map[string]string{"this server": s.URL}
		if s.Backend == servertest.Postgres {
			where["another replica"], _ = startReplicaWith(t, s, cfg)
		}
		for name, baseURL := range where {
			t.Run(name, func(t *testing.T) {
				spare := logInAgain(t, s, loop.Owner)
				id := tokensOf(t, s, spare)[0].ID
				c := mustDialLive(t, baseURL, 0, spare)
				if err := c.subscribe("1", livePrototypeEvents, map[string]any{"p": loop.Prototype.ID}); err != nil {
					t.Fatal(err)
				}
				s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)
				for c.mustNext(t, "1").Kind != "FEEDBACK_ADDED" {
				}
				s.Do(t, loop.Owner.Token, revokeTokenMutation, vars{"id": id}).RequireOK(t)
				for { // events committed before the revocation may come first
					m, err := c.read(liveWait)
					if closedForbidden(err) {
						break // the connection itself closed at once, which ends it too
					}
					if err != nil {
						t.Fatal(err)
					}
					if m.Type == "next" {
						continue
					}
					if m.Type != "complete" || m.ID != "1" {
						t.Errorf("got %s %s, want the operation to complete", m.Type, m.Payload)
					}
					break
				}
			})
		}
	})
}

package broker_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/rule"
	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/server/broker"
	"github.com/protoloop/protoloop/server/servertest"
	"github.com/protoloop/protoloop/server/storage"
)

// The broker decides in Go (rule.EventVisible) which live events a
// subscriber may see, and catch-ups read the table through the Event
// privacy policy. This test writes an event of every kind at every level
// (a prototype's, another prototype's, the workspace's, another
// workspace's) and checks, for every kind of caller, that the two see
// exactly the same ones.
func TestEventVisibleAgreesWithTheEventPolicy(t *testing.T) {
	for _, backend := range servertest.Backends() {
		t.Run(string(backend), func(t *testing.T) {
			t.Parallel()
			client := openDB(t, backend)
			sys := privacy.DecisionContext(context.Background(), privacy.Allow)

			user := func(name string) gid.ID {
				u := client.User.Create().SetEmail(name + "@example.test").SetName(name).SetPasswordHash("x").SaveX(sys)
				return u.ID
			}
			owner, other := user("owner"), user("other")
			w := client.Workspace.Create().SetName("W").SetSlug("w").SaveX(sys).ID
			x := client.Workspace.Create().SetName("X").SetSlug("x").SaveX(sys).ID
			proto := func(ws, by gid.ID, slug string) gid.ID {
				return client.Prototype.Create().SetWorkspaceID(ws).SetOwnerID(by).SetTitle(slug).SetSlug(slug).SaveX(sys).ID
			}
			p, q, px := proto(w, owner, "p"), proto(w, owner, "q"), proto(x, other, "px")

			var seq int64
			for _, kind := range schema.EventKinds {
				for _, at := range []struct {
					ws    gid.ID
					proto gid.ID
				}{{w, p}, {w, q}, {w, 0}, {x, px}, {x, 0}} {
					seq++
					c := client.Event.Create().SetSeq(seq).SetKind(event.Kind(kind)).
						SetWorkspaceID(at.ws).SetSubjectID(gid.New(gid.Feedback))
					if at.proto != 0 {
						c.SetPrototypeID(at.proto)
					}
					c.SaveX(sys)
				}
			}
			all := client.Event.Query().Order(ent.Asc(event.FieldSeq)).AllX(sys)

			tester := func(prototype, workspace gid.ID) viewer.Tester {
				return viewer.Tester{Prototype: prototype, Workspace: workspace, Participant: gid.New(gid.Participant)}
			}
			roles := func(r map[gid.ID]viewer.Role) map[gid.ID]viewer.Role { return r }
			userTesting := func(u gid.ID, r map[gid.ID]viewer.Role, ts ...viewer.Tester) *viewer.Identity {
				id := viewer.NewIdentity(u, 0, r)
				for _, t := range ts {
					id.AddTester(t)
				}
				return id
			}
			callers := []struct {
				name string
				id   *viewer.Identity
			}{
				{"an owner of the workspace", viewer.NewIdentity(owner, 0, roles(map[gid.ID]viewer.Role{w: viewer.Owner}))},
				{"a maker of the workspace", viewer.NewIdentity(user("maker"), 0, roles(map[gid.ID]viewer.Role{w: viewer.Maker}))},
				{"a viewer of the workspace", viewer.NewIdentity(user("viewer"), 0, roles(map[gid.ID]viewer.Role{w: viewer.Viewer}))},
				{"a member of both workspaces", viewer.NewIdentity(user("both"), 0, roles(map[gid.ID]viewer.Role{w: viewer.Viewer, x: viewer.Owner}))},
				{"an owner of both workspaces", viewer.NewIdentity(user("owner-of-both"), 0, roles(map[gid.ID]viewer.Role{w: viewer.Owner, x: viewer.Owner}))},
				{"an owner of one workspace and a maker of the other", viewer.NewIdentity(user("owner-maker"), 0, roles(map[gid.ID]viewer.Role{w: viewer.Maker, x: viewer.Owner}))},
				{"an owner who also tests a prototype of the workspace", userTesting(user("owner-tester"), roles(map[gid.ID]viewer.Role{w: viewer.Owner}), tester(p, w))},
				{"a maker who owns another workspace and tests a prototype", userTesting(user("maker-tester"), roles(map[gid.ID]viewer.Role{w: viewer.Maker, x: viewer.Owner}), tester(px, x), tester(q, w))},
				{"a guest testing a prototype", viewer.NewGuest(0, tester(p, w))},
				{"a guest testing another prototype", viewer.NewGuest(0, tester(q, w))},
				{"a user testing two prototypes", userTesting(user("tester"), nil, tester(p, w), tester(px, x))},
				{"a member of another workspace testing a prototype", userTesting(other, roles(map[gid.ID]viewer.Role{x: viewer.Owner}), tester(p, w))},
				{"a member who also tests", userTesting(user("member-tester"), roles(map[gid.ID]viewer.Role{w: viewer.Viewer}), tester(p, w))},
				{"a user of no workspace", viewer.NewIdentity(user("nobody"), 0, nil)},
				{"an anonymous caller", nil},
			}
			for _, c := range callers {
				t.Run(c.name, func(t *testing.T) {
					ctx := context.Background()
					if c.id != nil {
						ctx = viewer.NewContext(ctx, c.id)
					}
					byPolicy, err := client.Event.Query().Order(ent.Asc(event.FieldSeq)).IDs(ctx)
					if c.id == nil && err != nil {
						byPolicy = nil // anonymous callers are refused outright
					} else if err != nil {
						t.Fatal(err)
					}
					var inGo []gid.ID
					for _, e := range all {
						if rule.EventVisible(c.id, e) {
							inGo = append(inGo, e.ID)
						}
					}
					if !slices.Equal(byPolicy, inGo) {
						t.Errorf("the policy lets them see %d events, EventVisible %d:\n%s", len(byPolicy), len(inGo), diff(all, byPolicy, inGo))
					}
					if c.id == nil {
						return // the broker has no anonymous subscriber
					}
					// The tailer decides from the subscriber's rights in its
					// topic, read once: the same as EventVisible on every
					// event the topic is handed.
					for _, topic := range []struct{ ws, id gid.ID }{{w, w}, {w, p}, {w, q}, {x, x}, {x, px}} {
						for _, e := range all {
							if e.WorkspaceID != topic.id && (e.PrototypeID == nil || *e.PrototypeID != topic.id) {
								continue // not dispatched to this topic
							}
							if got, want := broker.SubscriberWants(c.id, topic.ws, topic.id, e), rule.EventVisible(c.id, e); got != want {
								t.Errorf("a subscriber of %s is handed %s of %v in %s: %v, EventVisible %v",
									topic.id, e.Kind, e.PrototypeID, e.WorkspaceID, got, want)
							}
						}
					}
				})
			}
		})
	}
}

// An owner of every workspace they are in sees every event of those
// workspaces: the Event policy filters their queries on that list of
// workspaces alone (rule.FilterEvents), not on it three times over and
// the owner-only kinds, as the statement's arguments show. Who sees what
// is TestEventVisibleAgreesWithTheEventPolicy's.
func TestEventPolicyFiltersAnOwnerOnTheirWorkspacesAlone(t *testing.T) {
	for _, backend := range servertest.Backends() {
		t.Run(string(backend), func(t *testing.T) {
			t.Parallel()
			db := openStorage(t, backend)
			sys := privacy.DecisionContext(context.Background(), privacy.Allow)
			u := db.Client.User.Create().SetEmail("owner@example.test").SetName("owner").SetPasswordHash("x").SaveX(sys).ID
			w := db.Client.Workspace.Create().SetName("W").SetSlug("w").SaveX(sys).ID
			x := db.Client.Workspace.Create().SetName("X").SetSlug("x").SaveX(sys).ID

			rec := &recordingDriver{Driver: entsql.OpenDB(db.Dialect, db.SQL)}
			client := ent.NewClient(ent.Driver(rec))
			for _, c := range []struct {
				name  string
				roles map[gid.ID]viewer.Role
				want  []any
			}{
				{"an owner of both workspaces", map[gid.ID]viewer.Role{w: viewer.Owner, x: viewer.Owner}, []any{int64(w), int64(x)}},
				{"an owner of one workspace", map[gid.ID]viewer.Role{w: viewer.Owner}, []any{int64(w)}},
			} {
				t.Run(c.name, func(t *testing.T) {
					rec.args = nil
					ctx := viewer.NewContext(context.Background(), viewer.NewIdentity(u, 0, c.roles))
					if _, err := client.Event.Query().IDs(ctx); err != nil {
						t.Fatal(err)
					}
					if len(rec.args) != 1 {
						t.Fatalf("%d statements, want 1", len(rec.args))
					}
					got, want := slices.Clone(rec.args[0]), slices.Clone(c.want)
					slices.SortFunc(got, cmpArg)
					slices.SortFunc(want, cmpArg)
					if !slices.Equal(got, want) {
						t.Errorf("the events query was sent %v, want the workspaces %v alone", got, want)
					}
				})
			}
		})
	}
}

// recordingDriver records the arguments of every query it runs.
type recordingDriver struct {
	dialect.Driver
	args [][]any
}

func (d *recordingDriver) Query(ctx context.Context, query string, args, v any) error {
	list, _ := args.([]any)
	d.args = append(d.args, list)
	return d.Driver.Query(ctx, query, args, v)
}

// cmpArg orders int64 arguments by value, and puts anything else after.
func cmpArg(a, b any) int {
	x, okA := a.(int64)
	y, okB := b.(int64)
	switch {
	case okA && okB:
		return cmp.Compare(x, y)
	case okA:
		return -1
	case okB:
		return 1
	}
	return cmp.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

// diff describes the events one side sees and the other does not.
func diff(all []*ent.Event, policy, inGo []gid.ID) string {
	var out string
	for _, e := range all {
		p, g := slices.Contains(policy, e.ID), slices.Contains(inGo, e.ID)
		if p != g {
			proto := "workspace-level"
			if e.PrototypeID != nil {
				proto = e.PrototypeID.String()
			}
			out += fmt.Sprintf("  %s %s in %s: policy %v, EventVisible %v\n", e.Kind, proto, e.WorkspaceID, p, g)
		}
	}
	return out
}

// openDB opens a fresh, migrated database of its own on backend.
func openDB(t *testing.T, backend servertest.Backend) *ent.Client {
	t.Helper()
	return openStorage(t, backend).Client
}

// openStorage is openDB's database.
func openStorage(t *testing.T, backend servertest.Backend) *storage.DB {
	t.Helper()
	opts := storage.Options{DataDir: t.TempDir()}
	if backend == servertest.Postgres {
		opts.DatabaseURL = servertest.PostgresSchema(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := storage.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

package viewer_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

func TestRememberLoadsOncePerKeyWhileFresh(t *testing.T) {
	id := viewer.NewGuest(0, viewer.Tester{Prototype: 1, Workspace: 2, Participant: 3})
	var loads atomic.Int32
	load := func() (any, error) {
		loads.Add(1)
		time.Sleep(10 * time.Millisecond) // long enough for the others to arrive while it loads
		return "facts", nil
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if v, err := id.Remember("k", time.Minute, load); v != "facts" || err != nil {
				t.Errorf("got %v, %v", v, err)
			}
		})
	}
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Errorf("20 concurrent calls loaded %d times, want once", n)
	}
	if _, err := id.Remember("k", 0, load); err != nil || loads.Load() != 2 {
		t.Errorf("a value older than maxAge was not loaded again: %d loads, %v", loads.Load(), err)
	}
	if _, err := id.Remember("other", time.Minute, load); err != nil || loads.Load() != 3 {
		t.Errorf("another key shared the first's value: %d loads", loads.Load())
	}
}

func TestRememberKeepsNoErrors(t *testing.T) {
	id := viewer.NewIdentity(1, 2, nil)
	failing := errors.New("database went away")
	if _, err := id.Remember("k", time.Minute, func() (any, error) { return nil, failing }); !errors.Is(err, failing) {
		t.Fatalf("got %v, want the load's error", err)
	}
	v, err := id.Remember("k", time.Minute, func() (any, error) { return 42, nil })
	if v != 42 || err != nil {
		t.Errorf("after an error, got %v, %v; want it loaded again", v, err)
	}
}

func TestClonesAddToTheirOwnRightsOnly(t *testing.T) {
	const ws, other, proto = 10, 11, 20
	tester := viewer.Tester{Prototype: proto, Workspace: other, Participant: 30}
	for _, tc := range []struct {
		name  string
		adds  func(original, clone *viewer.Identity) *viewer.Identity // returns the one it added to
		check func(id *viewer.Identity) bool                          // whether id has the addition
	}{
		{"a clone that joins a workspace leaves the original as it was",
			func(_, c *viewer.Identity) *viewer.Identity {
				viewer.Join(viewer.NewContext(context.Background(), c), other, viewer.Maker)
				return c
			},
			func(id *viewer.Identity) bool { _, ok := id.RoleIn(other); return ok }},
		{"an original that joins a workspace after it was cloned leaves the clone as it was",
			func(o, _ *viewer.Identity) *viewer.Identity {
				viewer.Join(viewer.NewContext(context.Background(), o), other, viewer.Maker)
				return o
			},
			func(id *viewer.Identity) bool { _, ok := id.RoleIn(other); return ok }},
		{"a clone that becomes a tester leaves the original as it was",
			func(_, c *viewer.Identity) *viewer.Identity { c.AddTester(tester); return c },
			func(id *viewer.Identity) bool { _, ok := id.TesterOf(proto); return ok }},
		{"an original that becomes a tester after it was cloned leaves the clone as it was",
			func(o, _ *viewer.Identity) *viewer.Identity { o.AddTester(tester); return o },
			func(id *viewer.Identity) bool { _, ok := id.TesterOf(proto); return ok }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			original := viewer.NewIdentity(1, 2, map[gid.ID]viewer.Role{ws: viewer.Owner})
			clone := original.Clone()
			sibling := original.Clone()
			added := tc.adds(original, clone)
			for _, id := range []*viewer.Identity{original, clone, sibling} {
				if got, want := tc.check(id), id == added; got != want {
					t.Errorf("has the addition: %v, want %v (added to the original: %v)", got, want, added == original)
				}
				if r, ok := id.RoleIn(ws); !ok || r != viewer.Owner {
					t.Errorf("lost its role in the first workspace: %q, %v", r, ok)
				}
			}
			if got, want := clone.SameRights(sibling), added == original; got != want {
				t.Errorf("clone and sibling have the same rights: %v, want %v", got, want)
			}
		})
	}
}

// Run with -race: clones taken while the original and other clones add
// to their own must not share a map being written.
func TestClonesAndWritesRaceNot(t *testing.T) {
	original := viewer.NewIdentity(1, 2, map[gid.ID]viewer.Role{10: viewer.Owner})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				c := original.Clone()
				viewer.Join(viewer.NewContext(context.Background(), c), gid.ID(100+j), viewer.Viewer)
				c.AddTester(viewer.Tester{Prototype: gid.ID(1000 + i*1000 + j)})
				if j%10 == 0 {
					original.AddTester(viewer.Tester{Prototype: gid.ID(-1 - i*1000 - j)})
				}
				if _, ok := c.RoleIn(10); !ok {
					t.Error("a clone lost the original's role")
					return
				}
			}
		})
	}
	wg.Wait()
	if _, ok := original.RoleIn(100); ok {
		t.Error("a clone's Join reached the original")
	}
	if n := len(original.Testing()); n != 8*20 {
		t.Errorf("the original has %d tester participations, want its own 160", n)
	}
}

func BenchmarkClone(b *testing.B) {
	roles := map[gid.ID]viewer.Role{}
	for w := range 10 {
		roles[gid.ID(w+1)] = viewer.Maker
	}
	cached := viewer.NewIdentity(1, 2, roles).Clone()
	b.ReportAllocs()
	for b.Loop() {
		_ = cached.Clone()
	}
}

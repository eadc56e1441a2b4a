package graph_test

import (
	"fmt"
	"runtime/metrics"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

// goroutinesCreated is how many goroutines the process has started so far.
func goroutinesCreated(t *testing.T) uint64 {
	t.Helper()
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Skip("this Go runtime does not count the goroutines it creates")
	}
	return s[0].Value.Uint64()
}

// TestNestedQueryGoroutinesFollowDepthNotRows reads the nested dashboard
// query on a small and a larger workspace and counts the goroutines the
// process starts meanwhile. gqlgen's executor starts one per element of a
// list and one per resolver field; protoloop's executor resolves fields
// below the root in order (graph/internal/gqlgen), so the larger page
// starts no more goroutines than the small one. Before, the larger one
// (3×3×8 rows) started 84 more.
//
// The count is the whole process's, so it is taken while the test runs
// nothing else: the backends one after the other (servertest.Run would
// seed one while the other counts, and under the race detector on a busy
// machine that seeding started some twenty goroutines during every
// request), and each figure the least of several requests, taken in
// turns, so that the server's own background work (the broker's poll, a
// lib/pq watcher per statement) counts only if it ran during each.
func TestNestedQueryGoroutinesFollowDepthNotRows(t *testing.T) {
	for _, b := range servertest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			s := servertest.Start(t, b)
			owner := s.NewUser(t, "Olive")
			tester := s.NewUser(t, "Tess")
			seed := func(prototypes, iterations, feedback int) servertest.Workspace {
				ws := s.NewWorkspace(t, owner.Token)
				s.AddMember(t, owner.Token, ws.ID, tester.Email, "VIEWER")
				for range prototypes {
					p := s.NewPrototype(t, owner.Token, ws.ID)
					for range iterations {
						it := s.NewPublishedIteration(t, owner.Token, p.ID)
						for range feedback {
							s.LeaveFeedback(t, tester.Token, it.ID, nil)
						}
					}
				}
				return ws
			}
			goroutines := func(ws servertest.Workspace, feedback int) uint64 {
				t.Helper()
				before := goroutinesCreated(t)
				r := s.Do(t, owner.Token, nestedQuery, vars{"slug": ws.Slug})
				n := goroutinesCreated(t) - before
				var got nestedData
				r.RequireOK(t).Decode(t, &got)
				rows := 0
				for _, p := range got.Workspace.Prototypes.Edges {
					for _, it := range p.Node.Iterations.Edges {
						rows += len(it.Node.Feedback.Edges)
					}
				}
				if rows != feedback {
					t.Fatalf("%d feedback on the page, want %d", rows, feedback)
				}
				return n
			}
			small := seed(1, 1, 1)
			large := seed(3, 3, 8)
			goroutines(small, 1) // one-off work of a first request
			smallN, largeN := ^uint64(0), ^uint64(0)
			var each []uint64
			for range 5 {
				n, m := goroutines(small, 1), goroutines(large, 3*3*8)
				smallN, largeN = min(smallN, n), min(largeN, m)
				each = append(each, n, m)
			}
			t.Logf("the nested query started %d goroutines on 1×1×1 rows, %d on 3×3×8 (each request, in turns: %v)", smallN, largeN, each)
			if largeN > smallN+10 {
				t.Errorf("the nested query started %d goroutines on 3×3×8 rows and %d on 1×1×1: fields or list elements run in goroutines of their own",
					largeN, smallN)
			}
		})
	}
}

// TestDeferredFieldsComeWithThePayload asks for a field under @defer over
// plain POST, which has no way to send a later part: the field comes in
// the one payload. Before fields below the root were resolved in order,
// the executor set the field aside for a later part the POST transport
// never sent, so the caller got null for its own email.
func TestDeferredFieldsComeWithThePayload(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		u := s.NewUser(t, "Dee")
		var got struct {
			Viewer struct {
				ID    string
				Email *string
			}
		}
		s.Do(t, u.Token, `{ viewer { id ... @defer { email } } }`, nil).RequireOK(t).Decode(t, &got)
		if got.Viewer.ID == "" || got.Viewer.Email == nil || *got.Viewer.Email != u.Email {
			t.Errorf("viewer %+v (email %v), want the email %q in the payload", got.Viewer, got.Viewer.Email, u.Email)
		}
	})
}

// TestErrorsBelowLoadedFieldsCarryTheirPath asks for a field that fails
// (similar with first: 0) on every feedback of the nested query. The
// connections' edges and the edges' nodes above it are read from what
// field collection loaded, without gqlgen's resolver machinery
// (graph/internal/gqlgen): the error must still name the full path
// through them, list indexes included, and the null of the non-null
// similar must end at the nearest nullable field, the feedback's node,
// leaving its iteration and the other feedback's edges as they are.
func TestErrorsBelowLoadedFieldsCarryTheirPath(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		owner := s.NewUser(t, "Olive")
		tester := s.NewUser(t, "Tess")
		ws := s.NewWorkspace(t, owner.Token)
		s.AddMember(t, owner.Token, ws.ID, tester.Email, "VIEWER")
		p := s.NewPrototype(t, owner.Token, ws.ID)
		it := s.NewPublishedIteration(t, owner.Token, p.ID)
		for range 2 {
			s.LeaveFeedback(t, tester.Token, it.ID, nil)
		}
		r := s.Do(t, owner.Token, `query($slug: String!) {
			workspace(slug: $slug) { prototypes(first: 1) { edges { node {
				iterations(first: 1) { edges { node { id
					feedback(first: 2) { edges { cursor node { id similar(first: 0) { score } } } }
				} } }
			} } } }
		}`, vars{"slug": ws.Slug})
		if len(r.Errors) != 2 {
			t.Fatalf("got errors %v, want one for each feedback's similar", r.Errors)
		}
		for i, e := range r.Errors {
			want := fmt.Sprint([]any{"workspace", "prototypes", "edges", 0, "node", "iterations", "edges", 0, "node",
				"feedback", "edges", i, "node", "similar"})
			if got := fmt.Sprint(e.Path); got != want || e.Code() != "BAD_USER_INPUT" {
				t.Errorf("error %d: %s at %s, want BAD_USER_INPUT at %s", i, e.Code(), got, want)
			}
		}
		var got struct {
			Workspace struct {
				Prototypes struct {
					Edges []struct {
						Node struct {
							Iterations struct {
								Edges []struct {
									Node *struct {
										ID       string
										Feedback struct {
											Edges []*struct {
												Cursor string
												Node   *struct{ ID string }
											}
										}
									}
								}
							}
						}
					}
				}
			}
		}
		r.Decode(t, &got)
		iteration := got.Workspace.Prototypes.Edges[0].Node.Iterations.Edges[0].Node
		if iteration == nil || iteration.ID != it.ID {
			t.Fatalf("iteration %+v, want %s: the null went past the feedback's node", iteration, it.ID)
		}
		edges := iteration.Feedback.Edges
		if len(edges) != 2 {
			t.Fatalf("%d feedback edges, want 2", len(edges))
		}
		for i, e := range edges {
			if e == nil || e.Cursor == "" || e.Node != nil {
				t.Errorf("feedback edge %d is %+v, want its cursor and a null node", i, e)
			}
		}
	})
}

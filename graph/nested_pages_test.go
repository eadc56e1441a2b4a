package graph_test

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/servertest"
)

// nestedPagesQuery pages every prototype's iterations and every
// iteration's feedback with the same arguments: the per-parent pages that
// eager loading reads for all parents in one statement. Each %s is
// totalCount or nothing: without it pageInfo comes from the page's own
// nodes (the LATERAL form with no count, the dashboard's case).
const nestedPagesQuery = `query($slug: String!, $it: Int, $itLast: Int, $itAfter: Cursor, $itBefore: Cursor,
	$fb: Int, $fbLast: Int, $fbAfter: Cursor, $fbBefore: Cursor) {
	workspace(slug: $slug) { prototypes(first: 10) { edges { node { id
		iterations(first: $it, last: $itLast, after: $itAfter, before: $itBefore) {
			%s
			pageInfo { hasNextPage hasPreviousPage }
			edges { cursor node { id
				feedback(first: $fb, last: $fbLast, after: $fbAfter, before: $fbBefore) {
					%s
					pageInfo { hasNextPage hasPreviousPage }
					edges { cursor node { id } }
				}
			} }
		}
	} } } }
}`

// unpagedQuery reads one parent's children, all of them.
const unpagedQuery = `query($id: ID!) {
	node(id: $id) {
		... on Prototype { iterations { edges { cursor node { id } } } }
		... on Iteration { feedback { edges { cursor node { id } } } }
	}
}`

type nestedPage struct {
	TotalCount int
	PageInfo   struct{ HasNextPage, HasPreviousPage bool }
	Edges      []struct {
		Cursor string
		Node   struct {
			ID       string
			Feedback *nestedPage
		}
	}
}

// pageArgs are one connection's arguments; nil and "" are absent.
type pageArgs struct {
	first, last   *int
	after, before string // IDs: the cursor is the edge's with that node
}

func intArg(i int) *int { return &i }

// expectPage is the page of all (in order, by ID) that args ask for, as
// entgql builds it.
func expectPage(t *testing.T, all []string, args pageArgs) (ids []string, next, prev bool) {
	t.Helper()
	id := func(s string) int64 {
		n, err := gid.Parse(s)
		if err != nil {
			t.Fatalf("parse ID %q: %v", s, err)
		}
		return int64(n)
	}
	ids = []string{}
	for _, s := range all {
		if (args.after == "" || id(s) > id(args.after)) && (args.before == "" || id(s) < id(args.before)) {
			ids = append(ids, s)
		}
	}
	next, prev = args.before != "", args.after != ""
	switch {
	case args.first != nil && *args.first == 0:
		ids = []string{} // entgql does not look for any, so knows of no next page
	case args.first != nil && len(ids) > *args.first:
		ids, next = ids[:*args.first], true
	case args.last != nil && len(ids) > *args.last:
		ids, prev = ids[len(ids)-*args.last:], true
	}
	return ids, next, prev
}

// TestNestedPagesMatchEachParentsOwnPage pages nested connections
// (prototypes' iterations, iterations' feedback) forwards and backwards,
// with cursors and last:, for parents with no, few and many children,
// and compares every parent's page, pageInfo and totalCount with what its
// children, read whole and one parent at a time, say they should be.
func TestNestedPagesMatchEachParentsOwnPage(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		owner := s.NewUser(t, "Olive")
		ws := s.NewWorkspace(t, owner.Token)
		tester := s.NewUser(t, "Tess")
		s.AddMember(t, owner.Token, ws.ID, tester.Email, "VIEWER")
		n := 0
		for _, iterations := range []int{0, 2, 5} {
			p := s.NewPrototype(t, owner.Token, ws.ID)
			for range iterations {
				it := s.NewPublishedIteration(t, owner.Token, p.ID)
				for range n % 6 { // 0 to 5 feedback
					s.LeaveFeedback(t, tester.Token, it.ID, nil)
				}
				n++
			}
		}

		// children reads parent's children whole, in order.
		children := func(parent string) (ids []string, cursors map[string]string) {
			t.Helper()
			var got struct {
				Node struct {
					Iterations, Feedback struct {
						Edges []struct {
							Cursor string
							Node   struct{ ID string }
						}
					}
				}
			}
			decode(t, s, owner.Token, unpagedQuery, vars{"id": parent}, &got)
			cursors = map[string]string{}
			ids = []string{}
			for _, e := range append(got.Node.Iterations.Edges, got.Node.Feedback.Edges...) {
				ids = append(ids, e.Node.ID)
				cursors[e.Node.ID] = e.Cursor
			}
			return ids, cursors
		}
		var (
			prototypes   []string
			iterationsOf = map[string][]string{}
			feedbackOf   = map[string][]string{}
			cursors      = map[string]string{}
			allFeedback  []string
		)
		var ps struct {
			Workspace struct {
				Prototypes struct {
					Edges []struct{ Node struct{ ID string } }
				}
			}
		}
		decode(t, s, owner.Token, `query($slug: String!) { workspace(slug: $slug) { prototypes { edges { node { id } } } } }`, vars{"slug": ws.Slug}, &ps)
		for _, e := range ps.Workspace.Prototypes.Edges {
			p := e.Node.ID
			prototypes = append(prototypes, p)
			its, cs := children(p)
			iterationsOf[p] = its
			for _, it := range its {
				cursors[it] = cs[it]
				fbs, cs := children(it)
				feedbackOf[it] = fbs
				allFeedback = append(allFeedback, fbs...)
				for _, f := range fbs {
					cursors[f] = cs[f]
				}
			}
		}
		if len(prototypes) != 3 || len(allFeedback) < 10 {
			t.Fatalf("seeded %d prototypes, %d feedback; want 3 and at least 10", len(prototypes), len(allFeedback))
		}
		// Cursors taken from the middle of one parent's children apply
		// to every parent's (the order is by ID across all of them).
		slices.SortFunc(allFeedback, func(a, b string) int {
			x, _ := gid.Parse(a)
			y, _ := gid.Parse(b)
			return cmp.Compare(x, y)
		})
		var longest []string // the iterations of the prototype with 5
		for _, its := range iterationsOf {
			if len(its) > len(longest) {
				longest = its
			}
		}
		midIteration, midFeedback := longest[2], allFeedback[len(allFeedback)/2]

		// (first with before, and last with after, are left out: entgql
		// answers them in ways of its own, the same for one parent's
		// connection as for nested ones.)
		for _, tc := range []struct {
			name   string
			it, fb pageArgs
		}{
			{"first pages", pageArgs{first: intArg(2)}, pageArgs{first: intArg(2)}},
			{"first pages after a cursor", pageArgs{first: intArg(2), after: midIteration}, pageArgs{first: intArg(1), after: midFeedback}},
			{"last pages", pageArgs{last: intArg(2)}, pageArgs{last: intArg(3)}},
			{"last pages before a cursor", pageArgs{last: intArg(1), before: midIteration}, pageArgs{last: intArg(2), before: midFeedback}},
			{"pages larger than any parent's children", pageArgs{first: intArg(10)}, pageArgs{last: intArg(10)}},
			{"empty pages with their totals", pageArgs{first: intArg(0)}, pageArgs{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				v := vars{"slug": ws.Slug}
				set := func(prefix string, a pageArgs) {
					if a.first != nil {
						v[prefix] = *a.first
					}
					if a.last != nil {
						v[prefix+"Last"] = *a.last
					}
					if a.after != "" {
						v[prefix+"After"] = cursors[a.after]
					}
					if a.before != "" {
						v[prefix+"Before"] = cursors[a.before]
					}
				}
				set("it", tc.it)
				set("fb", tc.fb)
				type result struct {
					Workspace struct {
						Prototypes struct {
							Edges []struct {
								Node struct {
									ID         string
									Iterations nestedPage
								}
							}
						}
					}
				}
				var pages [2]result
				for i, count := range []bool{true, false} {
					c := map[bool]string{true: "totalCount"}[count]
					decode(t, s, tester.Token, fmt.Sprintf(nestedPagesQuery, c, c), v, &pages[i])
					for _, pe := range pages[i].Workspace.Prototypes.Edges {
						p := pe.Node.ID
						checkNestedPage(t, "iterations of "+p, pe.Node.Iterations, iterationsOf[p], tc.it, count)
						for _, ie := range pe.Node.Iterations.Edges {
							if ie.Node.Feedback == nil {
								t.Fatalf("iteration %s without its feedback", ie.Node.ID)
							}
							checkNestedPage(t, "feedback of "+ie.Node.ID, *ie.Node.Feedback, feedbackOf[ie.Node.ID], tc.fb, count)
						}
					}
				}
				// The same pages and pageInfo with the count as without.
				withCount, without := pages[0], pages[1]
				for i := range withCount.Workspace.Prototypes.Edges {
					its := &withCount.Workspace.Prototypes.Edges[i].Node.Iterations
					its.TotalCount = 0
					for j := range its.Edges {
						if fb := its.Edges[j].Node.Feedback; fb != nil {
							fb.TotalCount = 0
						}
					}
				}
				if !reflect.DeepEqual(withCount, without) {
					t.Errorf("pages without totalCount\n%+v\nwith it\n%+v", without, withCount)
				}
			})
		}
	})
}

// checkNestedPage compares a nested page with the page of all that args ask for.
// The total is checked only where count says the query asked for it.
func checkNestedPage(t *testing.T, what string, got nestedPage, all []string, args pageArgs, count bool) {
	t.Helper()
	ids := []string{}
	for _, e := range got.Edges {
		ids = append(ids, e.Node.ID)
	}
	want, next, prev := expectPage(t, all, args)
	if !slices.Equal(ids, want) || got.PageInfo.HasNextPage != next || got.PageInfo.HasPreviousPage != prev || (count && got.TotalCount != len(all)) {
		t.Errorf("%s: %v next %v previous %v total %d, want %v next %v previous %v total %d",
			what, ids, got.PageInfo.HasNextPage, got.PageInfo.HasPreviousPage, got.TotalCount, want, next, prev, len(all))
	}
}

// viewerPage is a connection's page as TestNestedPagesFilteredOrderedAndHidden reads it.
type viewerPage struct {
	TotalCount int
	PageInfo   struct{ HasNextPage, HasPreviousPage bool }
	Edges      []struct {
		Cursor string
		Node   struct{ ID string }
	}
}

// TestNestedPagesFilteredOrderedAndHidden pages nested connections with
// where:, with an order other than by ID (last: of it), and as a member
// who is not the owner, from whom a privacy rule hides some children
// (rule.FilterEvents: webhook events): each parent's page, pageInfo and
// totalCount are those of the parent's own unpaged read, as that viewer,
// with the same where: and orderBy:, cut to first: or last:. Each case is
// read with and without totalCount, which must change nothing else.
func TestNestedPagesFilteredOrderedAndHidden(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		owner := s.NewUser(t, "Olive")
		ws := s.NewWorkspace(t, owner.Token)
		member := s.NewUser(t, "Tess")
		s.AddMember(t, owner.Token, ws.ID, member.Email, "VIEWER")
		kinds := []string{"BUG", "IDEA", "BUG", "PRAISE", "BUG"}
		var prototypes []string
		n := 0
		for _, iterations := range []int{0, 2, 4} {
			p := s.NewPrototype(t, owner.Token, ws.ID)
			prototypes = append(prototypes, p.ID)
			for range iterations {
				it := s.NewPublishedIteration(t, owner.Token, p.ID)
				for range n % 6 {
					// Ratings repeat, so the order by rating has ties.
					s.LeaveFeedback(t, member.Token, it.ID, vars{"kind": kinds[n%len(kinds)], "rating": 1 + n%3})
					n++
				}
				n++
			}
		}
		if s.Backend == servertest.Postgres {
			// Webhook events on two prototypes' timelines, newest of all:
			// the owner sees them, the member does not. Written as rows,
			// since the server files webhook events under no prototype.
			wsID, err := gid.Parse(ws.ID)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range prototypes[1:] {
				pID, err := gid.Parse(p)
				if err != nil {
					t.Fatal(err)
				}
				for j := range 2 + i {
					if _, err := s.DB.SQL.Exec(fmt.Sprintf(`INSERT INTO events (id, seq, kind, workspace_id, prototype_id, subject_id, occurred_at)
						VALUES (%d, %d, 'WEBHOOK_CREATED', %d, %d, %d, now())`,
						int64(gid.New(gid.Event)), int64(1)<<40+int64(10*i+j), int64(wsID), int64(pID), int64(pID))); err != nil {
						t.Fatal(err)
					}
				}
			}
			total := func(token string) int {
				var got struct {
					Node struct{ Timeline struct{ TotalCount int } }
				}
				decode(t, s, token, `query($id: ID!) { node(id: $id) { ... on Prototype { timeline { totalCount } } } }`,
					vars{"id": prototypes[2]}, &got)
				return got.Node.Timeline.TotalCount
			}
			if o, m := total(owner.Token), total(member.Token); o != m+3 {
				t.Fatalf("the owner sees %d events, the member %d: want the member to miss the 3 webhook events", o, m)
			}
		}

		for _, tc := range []struct {
			name   string
			token  string
			conn   string // feedback (of every iteration) or timeline (of every prototype)
			filter string // where: and orderBy:, in the nested and the own read
			first  int    // 0: last
			last   int
		}{
			{"where kind is BUG, first", member.Token, "feedback", `where: {kind: BUG}`, 2, 0},
			{"where kind is BUG, last", member.Token, "feedback", `where: {kind: BUG}`, 0, 1},
			{"by rating, last", member.Token, "feedback", `orderBy: {field: RATING, direction: DESC}`, 0, 2},
			{"by vote count, last, where not PRAISE", member.Token, "feedback", `orderBy: {field: VOTE_COUNT, direction: DESC}, where: {kindNEQ: PRAISE}`, 0, 3},
			{"timeline as a member, first", member.Token, "timeline", ``, 2, 0},
			{"timeline as a member, last", member.Token, "timeline", ``, 0, 2},
			{"timeline as the owner, last", owner.Token, "timeline", ``, 0, 2},
			{"timeline newest first as a member", member.Token, "timeline", `orderBy: {field: SEQ, direction: DESC}`, 2, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				args := tc.filter
				if tc.first > 0 {
					args += fmt.Sprintf(" first: %d", tc.first)
				} else {
					args += fmt.Sprintf(" last: %d", tc.last)
				}
				unpaged := ""
				if tc.filter != "" {
					unpaged = "(" + tc.filter + ")"
				}
				// The parent's own read, whole.
				own := func(parent string) viewerPage {
					t.Helper()
					var got struct {
						Node struct{ Feedback, Timeline viewerPage }
					}
					fragment := "Iteration"
					if tc.conn == "timeline" {
						fragment = "Prototype"
					}
					q := fmt.Sprintf(`query($id: ID!) { node(id: $id) { ... on %s {
						%s%s { totalCount edges { cursor node { id } } }
					} } }`, fragment, tc.conn, unpaged)
					decode(t, s, tc.token, q, vars{"id": parent}, &got)
					if tc.conn == "feedback" {
						return got.Node.Feedback
					}
					return got.Node.Timeline
				}
				nested := func(count bool) map[string]viewerPage {
					t.Helper()
					conn := fmt.Sprintf(`%s(%s) { %s pageInfo { hasNextPage hasPreviousPage } edges { cursor node { id } } }`,
						tc.conn, args, map[bool]string{true: "totalCount"}[count])
					if tc.conn == "feedback" {
						conn = `iterations(first: 10) { edges { node { id ` + conn + ` } } }`
					}
					var got struct {
						Workspace struct {
							Prototypes struct {
								Edges []struct {
									Node struct {
										ID         string
										Timeline   viewerPage
										Iterations struct {
											Edges []struct {
												Node struct {
													ID       string
													Feedback viewerPage
												}
											}
										}
									}
								}
							}
						}
					}
					decode(t, s, tc.token, `query($slug: String!) { workspace(slug: $slug) { prototypes(first: 10) { edges { node { id `+conn+` } } } } }`,
						vars{"slug": ws.Slug}, &got)
					pages := map[string]viewerPage{}
					for _, pe := range got.Workspace.Prototypes.Edges {
						if tc.conn == "timeline" {
							pages[pe.Node.ID] = pe.Node.Timeline
						}
						for _, ie := range pe.Node.Iterations.Edges {
							pages[ie.Node.ID] = ie.Node.Feedback
						}
					}
					return pages
				}
				withCount, without := nested(true), nested(false)
				if len(withCount) < 3 {
					t.Fatalf("%d parents, want at least 3", len(withCount))
				}
				for parent, got := range withCount {
					all := own(parent)
					want := all.Edges
					next, prev := false, false
					if tc.first > 0 && len(want) > tc.first {
						want, next = want[:tc.first], true
					}
					if tc.last > 0 && len(want) > tc.last {
						want, prev = want[len(want)-tc.last:], true
					}
					if !reflect.DeepEqual(got.Edges, want) && !(len(got.Edges) == 0 && len(want) == 0) ||
						got.PageInfo.HasNextPage != next || got.PageInfo.HasPreviousPage != prev || got.TotalCount != all.TotalCount {
						t.Errorf("%s of %s: %+v, want edges %+v next %v previous %v total %d",
							tc.conn, parent, got, want, next, prev, all.TotalCount)
					}
					if len(all.Edges) != all.TotalCount {
						t.Errorf("%s of %s read whole: %d edges, total %d", tc.conn, parent, len(all.Edges), all.TotalCount)
					}
					got.TotalCount = 0
					if w := without[parent]; !reflect.DeepEqual(got, w) && !(len(got.Edges) == 0 && len(w.Edges) == 0 && got.PageInfo == w.PageInfo) {
						t.Errorf("%s of %s: without totalCount %+v, with it %+v", tc.conn, parent, w, got)
					}
				}
			})
		}
	})
}

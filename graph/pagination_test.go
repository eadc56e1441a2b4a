package graph_test

import (
	"slices"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

type pageInfo struct {
	HasNextPage, HasPreviousPage bool
	StartCursor, EndCursor       *string
}

const iterationsPageQuery = `query($id: ID!, $first: Int, $last: Int, $after: Cursor, $before: Cursor,
	$orderBy: IterationOrder, $where: IterationWhereInput) {
	node(id: $id) { ... on Prototype {
		iterations(first: $first, last: $last, after: $after, before: $before, orderBy: $orderBy, where: $where) {
			totalCount
			pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
			edges { cursor node { id number status } }
		}
	} }
}`

const feedbackPageQuery = `query($id: ID!, $first: Int, $after: Cursor, $orderBy: FeedbackOrder, $where: FeedbackWhereInput) {
	node(id: $id) { ... on Iteration {
		feedback(first: $first, after: $after, orderBy: $orderBy, where: $where) {
			totalCount
			pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
			edges { node { id kind rating status } }
		}
	} }
}`

type iterationPage struct {
	TotalCount int
	PageInfo   pageInfo
	Numbers    []int
}

func TestPagination(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		owner := s.NewUser(t, "Olive")
		ws := s.NewWorkspace(t, owner.Token)
		tester := s.NewMember(t, owner.Token, ws.ID, "VIEWER")
		p := s.NewPrototype(t, owner.Token, ws.ID)
		for range 7 {
			s.NewPublishedIteration(t, owner.Token, p.ID)
		}
		byNumber := vars{"field": "NUMBER", "direction": "ASC"}

		// page reads one page of p's iterations; args are the connection's.
		page := func(t *testing.T, args vars) iterationPage {
			t.Helper()
			v := vars{"id": p.ID, "orderBy": byNumber}
			for k, a := range args {
				v[k] = a
			}
			var got struct {
				Node struct {
					Iterations struct {
						TotalCount int
						PageInfo   pageInfo
						Edges      []struct {
							Cursor string
							Node   struct{ Number *int }
						}
					}
				}
			}
			decode(t, s, tester.Token, iterationsPageQuery, v, &got)
			conn := got.Node.Iterations
			pg := iterationPage{TotalCount: conn.TotalCount, PageInfo: conn.PageInfo, Numbers: []int{}}
			for _, e := range conn.Edges {
				if e.Node.Number == nil {
					t.Fatalf("iteration without a number in %+v", conn)
				}
				pg.Numbers = append(pg.Numbers, *e.Node.Number)
			}
			return pg
		}
		expect := func(t *testing.T, pg iterationPage, numbers []int, next, prev bool) {
			t.Helper()
			if !slices.Equal(pg.Numbers, numbers) || pg.PageInfo.HasNextPage != next || pg.PageInfo.HasPreviousPage != prev || pg.TotalCount != 7 {
				t.Errorf("page %v next %v previous %v total %d, want %v next %v previous %v total 7",
					pg.Numbers, pg.PageInfo.HasNextPage, pg.PageInfo.HasPreviousPage, pg.TotalCount, numbers, next, prev)
			}
		}

		t.Run("pages forward with first and after", func(t *testing.T) {
			pg := page(t, vars{"first": 3})
			expect(t, pg, []int{1, 2, 3}, true, false)
			pg = page(t, vars{"first": 3, "after": pg.PageInfo.EndCursor})
			expect(t, pg, []int{4, 5, 6}, true, true)
			pg = page(t, vars{"first": 3, "after": pg.PageInfo.EndCursor})
			expect(t, pg, []int{7}, false, true)
		})

		t.Run("pages backward with last and before", func(t *testing.T) {
			pg := page(t, vars{"last": 2})
			expect(t, pg, []int{6, 7}, false, true)
			pg = page(t, vars{"last": 2, "before": pg.PageInfo.StartCursor})
			expect(t, pg, []int{4, 5}, true, true)
		})

		t.Run("returns no edges but the total for first: 0", func(t *testing.T) {
			pg := page(t, vars{"first": 0})
			if len(pg.Numbers) != 0 || pg.TotalCount != 7 {
				t.Errorf("first: 0 gave %v of %d, want none of 7", pg.Numbers, pg.TotalCount)
			}
		})

		t.Run("orders by number descending", func(t *testing.T) {
			expect(t, page(t, vars{"first": 3, "orderBy": vars{"field": "NUMBER", "direction": "DESC"}}), []int{7, 6, 5}, true, false)
		})

		for _, tc := range []struct {
			name string
			args vars
		}{
			{"rejects a cursor that is not one", vars{"first": 3, "after": "not-a-cursor"}},
			{"rejects a negative first", vars{"first": -1}},
			{"rejects first and last together", vars{"first": 1, "last": 1}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				v := vars{"id": p.ID, "orderBy": byNumber}
				for k, a := range tc.args {
					v[k] = a
				}
				r := s.Do(t, tester.Token, iterationsPageQuery, v)
				if len(r.Errors) == 0 {
					t.Fatalf("got data %s, want an error", r.Data)
				}
				if code := r.Code(); code == "" || code == "INTERNAL" {
					t.Errorf("error %q has code %q, want a code that blames the request", r.Errors[0].Message, code)
				}
			})
		}

		t.Run("filters iterations by status", func(t *testing.T) {
			q := s.NewPrototype(t, owner.Token, ws.ID)
			var retired string
			for i := range 3 {
				it := s.NewPublishedIteration(t, owner.Token, q.ID)
				if i == 0 {
					retired = it.ID
				}
			}
			s.Do(t, owner.Token, retireIterationMutation, vars{"id": retired}).RequireOK(t)
			s.NewIteration(t, owner.Token, q.ID)
			s.NewIteration(t, owner.Token, q.ID)
			for _, tc := range []struct {
				where vars
				want  int
			}{
				{vars{"status": "PUBLISHED"}, 2},
				{vars{"status": "RETIRED"}, 1},
				{vars{"status": "DRAFT"}, 2},
				{vars{"numberIsNil": true}, 2},
				{vars{"statusIn": []string{"PUBLISHED", "RETIRED"}}, 3},
			} {
				var got struct {
					Node struct{ Iterations struct{ TotalCount int } }
				}
				decode(t, s, tester.Token, iterationsPageQuery, vars{"id": q.ID, "first": 10, "where": tc.where}, &got)
				if got.Node.Iterations.TotalCount != tc.want {
					t.Errorf("where %v: %d iterations, want %d", tc.where, got.Node.Iterations.TotalCount, tc.want)
				}
			}
		})
	})
}

func TestFeedbackOrderAndFilters(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		tester := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
		ratings := []int{3, 5, 1, 4, 2, 5, 4}
		kinds := []string{"BUG", "IDEA", "BUG", "PRAISE", "BUG", "IDEA", "QUESTION"}
		var ids []string
		for i := range ratings {
			ids = append(ids, s.LeaveFeedback(t, tester.Token, loop.Iteration.ID, vars{"kind": kinds[i], "rating": ratings[i]}))
		}
		s.Do(t, loop.Owner.Token, setFeedbackStatusMutation, vars{"id": ids[0], "status": "ACKNOWLEDGED"}).RequireOK(t)

		type feedbackPage struct {
			TotalCount int
			PageInfo   pageInfo
			Edges      []struct {
				Node struct {
					ID, Kind, Status string
					Rating           int
				}
			}
		}
		read := func(t *testing.T, args vars) feedbackPage {
			t.Helper()
			v := vars{"id": loop.Iteration.ID, "first": 10}
			for k, a := range args {
				v[k] = a
			}
			var got struct {
				Node struct{ Feedback feedbackPage }
			}
			decode(t, s, tester.Token, feedbackPageQuery, v, &got)
			return got.Node.Feedback
		}
		byRatingDesc := vars{"field": "RATING", "direction": "DESC"}

		t.Run("orders by rating, best first, across pages without losing or repeating any", func(t *testing.T) {
			var seen, order []string
			var got []int
			var after *string
			for range 4 {
				pg := read(t, vars{"first": 3, "after": after, "orderBy": byRatingDesc})
				for _, e := range pg.Edges {
					got = append(got, e.Node.Rating)
					seen = append(seen, e.Node.ID)
					order = append(order, e.Node.ID)
				}
				if !pg.PageInfo.HasNextPage {
					break
				}
				after = pg.PageInfo.EndCursor
			}
			if want := []int{5, 5, 4, 4, 3, 2, 1}; !slices.Equal(got, want) {
				t.Errorf("ratings in order %v, want %v", got, want)
			}
			slices.Sort(seen)
			want := slices.Sorted(slices.Values(ids))
			if !slices.Equal(seen, want) {
				t.Errorf("pages held %v, want each of %v once", order, want)
			}
		})

		for _, tc := range []struct {
			name  string
			where vars
			want  int
		}{
			{"filters by kind", vars{"kind": "BUG"}, 3},
			{"filters by status", vars{"status": "ACKNOWLEDGED"}, 1},
			{"filters by a minimum rating", vars{"ratingGTE": 4}, 4},
			{"combines filters", vars{"and": []vars{{"kind": "BUG"}, {"ratingGTE": 3}}}, 1},
			{"negates filters", vars{"not": vars{"kindIn": []string{"BUG", "IDEA"}}}, 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if pg := read(t, vars{"where": tc.where}); pg.TotalCount != tc.want || len(pg.Edges) != tc.want {
					t.Errorf("where %v: totalCount %d, %d edges, want %d", tc.where, pg.TotalCount, len(pg.Edges), tc.want)
				}
			})
		}
	})
}

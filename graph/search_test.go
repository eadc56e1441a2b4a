package graph_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

const searchQuery = `query($ws: ID!, $q: String!, $kinds: [FeedbackKind!], $status: [FeedbackStatus!], $first: Int, $after: Cursor) {
	search(workspace: $ws, query: $q, kinds: $kinds, status: $status, first: $first, after: $after) {
		edges { cursor rank highlight node { __typename ... on Feedback { id } ... on Comment { id } } }
		pageInfo { hasNextPage hasPreviousPage endCursor }
	}
}`

type searchEdge struct {
	Cursor    string
	Rank      float64
	Highlight string
	Node      struct {
		Typename string `json:"__typename"`
		ID       string
	}
}

type searchPage struct {
	Edges    []searchEdge
	PageInfo struct {
		HasNextPage, HasPreviousPage bool
		EndCursor                    *string
	}
}

// searchAs runs a search and returns its page.
func searchAs(t *testing.T, s *servertest.Server, token string, v vars) searchPage {
	t.Helper()
	var got struct{ Search searchPage }
	decode(t, s, token, searchQuery, v, &got)
	return got.Search
}

func foundIDs(p searchPage) []string {
	ids := make([]string, len(p.Edges))
	for i, e := range p.Edges {
		ids[i] = e.Node.ID
	}
	return ids
}

func TestSearchRanksFeedbackAndComments(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner, it, ws := loop.Owner.Token, loop.Iteration.ID, loop.Workspace.ID
		leave := func(kind, body string) string {
			return s.LeaveFeedback(t, owner, it, vars{"kind": kind, "body": body})
		}
		thrice := leave("BUG", "The export crashes. Every export crashes, and the export button stays grey.")
		once := leave("IDEA", "Could the weekly report include an export to a spreadsheet?")
		unrelated := leave("PRAISE", "Signing up volunteers takes a minute now.")
		twoWords := leave("BUG", "The shift calendar crashed when I opened it on my phone.")
		var c struct{ AddComment struct{ ID string } }
		decode(t, s, owner, `mutation($in: AddCommentInput!) { addComment(input: $in) { id } }`,
			vars{"in": vars{"feedbackID": unrelated, "body": "Same here, though the Export <b>menu</b> & its export list crash."}}, &c)
		comment := c.AddComment.ID

		t.Run("ranks by how often the words occur and finds comments too", func(t *testing.T) {
			got := searchAs(t, s, owner, vars{"ws": ws, "q": "export"})
			if ids := foundIDs(got); !slices.Equal(ids, []string{thrice, comment, once}) {
				t.Fatalf("found %v, want %v (three exports, two, one)", ids, []string{thrice, comment, once})
			}
			if got.Edges[1].Node.Typename != "Comment" || got.Edges[0].Node.Typename != "Feedback" {
				t.Errorf("types: %s, %s", got.Edges[0].Node.Typename, got.Edges[1].Node.Typename)
			}
			for i := 1; i < len(got.Edges); i++ {
				if got.Edges[i].Rank > got.Edges[i-1].Rank {
					t.Errorf("rank %v after %v", got.Edges[i].Rank, got.Edges[i-1].Rank)
				}
			}
		})
		t.Run("needs every word, each as a word or the start of one", func(t *testing.T) {
			got := foundIDs(searchAs(t, s, owner, vars{"ws": ws, "q": "CRASH export"}))
			if !slices.Equal(got, []string{thrice, comment}) {
				t.Errorf("found %v, want %v", got, []string{thrice, comment})
			}
			got = foundIDs(searchAs(t, s, owner, vars{"ws": ws, "q": "crash"}))
			if !slices.Contains(got, twoWords) || len(got) != 3 {
				t.Errorf("crash found %v, want the three texts with crash…", got)
			}
		})
		t.Run("marks the matches in escaped HTML", func(t *testing.T) {
			got := searchAs(t, s, owner, vars{"ws": ws, "q": "export"})
			var h string
			for _, e := range got.Edges {
				if e.Node.ID == comment {
					h = e.Highlight
				}
			}
			if !strings.Contains(h, "<mark>Export</mark>") || !strings.Contains(h, "<mark>export</mark>") {
				t.Errorf("highlight %q does not mark both exports", h)
			}
			if strings.Contains(h, "<b>") || !strings.Contains(h, "&lt;b&gt;") || !strings.Contains(h, "&amp;") {
				t.Errorf("highlight %q does not escape the text", h)
			}
		})
		t.Run("filters by the kind and status of the feedback", func(t *testing.T) {
			got := foundIDs(searchAs(t, s, owner, vars{"ws": ws, "q": "export", "kinds": []string{"IDEA"}}))
			if !slices.Equal(got, []string{once}) {
				t.Errorf("IDEA found %v, want %v", got, []string{once})
			}
			// The comment is on PRAISE feedback, which is OPEN.
			got = foundIDs(searchAs(t, s, owner, vars{"ws": ws, "q": "export", "kinds": []string{"PRAISE"}, "status": []string{"OPEN"}}))
			if !slices.Equal(got, []string{comment}) {
				t.Errorf("PRAISE found %v, want the comment %v", got, comment)
			}
			got = foundIDs(searchAs(t, s, owner, vars{"ws": ws, "q": "export", "status": []string{"DECLINED"}}))
			if len(got) != 0 {
				t.Errorf("DECLINED found %v, want nothing", got)
			}
		})
		t.Run("pages with cursors", func(t *testing.T) {
			p1 := searchAs(t, s, owner, vars{"ws": ws, "q": "export", "first": 2})
			if ids := foundIDs(p1); !slices.Equal(ids, []string{thrice, comment}) || !p1.PageInfo.HasNextPage || p1.PageInfo.HasPreviousPage {
				t.Fatalf("page 1: %v %+v", ids, p1.PageInfo)
			}
			p2 := searchAs(t, s, owner, vars{"ws": ws, "q": "export", "first": 2, "after": *p1.PageInfo.EndCursor})
			if ids := foundIDs(p2); !slices.Equal(ids, []string{once}) || p2.PageInfo.HasNextPage || !p2.PageInfo.HasPreviousPage {
				t.Errorf("page 2: %v %+v", ids, p2.PageInfo)
			}
		})
		t.Run("refuses bad input with BAD_USER_INPUT", func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				v     vars
				field string
			}{
				{"a query without words", vars{"ws": ws, "q": " ?! "}, "query"},
				{"a query of many words", vars{"ws": ws, "q": "a b c d e f g h i j k"}, "query"},
				{"first over 100", vars{"ws": ws, "q": "export", "first": 101}, "first"},
				{"first 0", vars{"ws": ws, "q": "export", "first": 0}, "first"},
				{"a workspace that is not one", vars{"ws": it, "q": "export"}, "workspace"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					s.Do(t, owner, searchQuery, tc.v).RequireError(t, "BAD_USER_INPUT", tc.field)
				})
			}
		})
		t.Run("answers NOT_FOUND for a workspace the caller is not in", func(t *testing.T) {
			outsider := s.NewUser(t, "Otto")
			s.Do(t, outsider.Token, searchQuery, vars{"ws": ws, "q": "export"}).RequireError(t, "NOT_FOUND", "")
		})
	})
}

func TestSearchFindsOnlyWhatTestersMayRead(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newTesterWorld(t, s)
		owner, ws := w.loop.Owner.Token, w.loop.Workspace.ID
		onP := s.LeaveFeedback(t, owner, w.loop.Iteration.ID, vars{"body": "The zebra crossing icon is confusing."})
		onQ := s.LeaveFeedback(t, owner, w.qIteration, vars{"body": "The zebra stripes look great."})
		elsewhere := s.LeaveFeedback(t, w.other.Owner.Token, w.other.Iteration.ID, vars{"body": "zebra"})

		if got := foundIDs(searchAs(t, s, owner, vars{"ws": ws, "q": "zebra"})); len(got) != 2 || !slices.Contains(got, onP) || !slices.Contains(got, onQ) {
			t.Errorf("the owner found %v, want %s and %s", got, onP, onQ)
		}
		if got := foundIDs(searchAs(t, s, w.ada.token, vars{"ws": ws, "q": "zebra"})); !slices.Equal(got, []string{onP}) {
			t.Errorf("a tester of p found %v, want only %s (not %s on q, not %s elsewhere)", got, onP, onQ, elsewhere)
		}
	})
}

// What a search's results select of themselves is loaded for the whole
// page at once, as any list is: a page of 12 costs what a page of 2 does.
func TestSearchCostsTheSameStatementsHoweverManyResults(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner, ws := loop.Owner.Token, loop.Workspace.ID
		const q = `query($ws: ID!, $q: String!) { search(workspace: $ws, query: $q, first: 50) { edges { highlight node {
			... on Feedback { id body author { displayName } iteration { number prototype { title } } }
			... on Comment { id author { displayName } feedback { kind author { displayName } } }
		} } } }`
		member := s.NewMember(t, owner, ws, "VIEWER")
		add := func(word string, n int) {
			for i := range n {
				token := owner
				if i%2 == 1 {
					token = member.Token
				}
				fb := s.LeaveFeedback(t, token, loop.Iteration.ID, vars{"kind": "BUG", "body": word + " breaks the form"})
				decode(t, s, token, `mutation($in: AddCommentInput!) { addComment(input: $in) { id } }`,
					vars{"in": vars{"feedbackID": fb, "body": "the " + word + " again"}}, &struct{}{})
			}
		}
		add("rare", 1)
		add("common", 6)
		cost := func(word string, want int) int64 {
			t.Helper()
			var got struct {
				Search struct{ Edges []struct{ Highlight string } }
			}
			before := s.Statements()
			decode(t, s, owner, q, vars{"ws": ws, "q": word}, &got)
			n := s.Statements() - before
			if len(got.Search.Edges) != want {
				t.Fatalf("%q found %d, want %d", word, len(got.Search.Edges), want)
			}
			return n
		}
		few, many := cost("rare", 2), cost("common", 12)
		t.Logf("%s: a page of 2 results cost %d statements, of 12 %d", s.Backend, few, many)
		if few != many {
			t.Errorf("a page of 2 results cost %d statements, of 12 %d: want the same", few, many)
		}
	})
}

// Case does not matter in any script, on either database.
func TestSearchFoldsCaseInEveryScript(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner, ws := loop.Owner.Token, loop.Workspace.ID
		ärger := s.LeaveFeedback(t, owner, loop.Iteration.ID, vars{"kind": "BUG", "body": "Ärger mit dem Formular"})
		izmir := s.LeaveFeedback(t, owner, loop.Iteration.ID, vars{"kind": "IDEA", "body": "Add the İzmir office"})
		greek := s.LeaveFeedback(t, owner, loop.Iteration.ID, vars{"kind": "IDEA", "body": "ΣΟΦΊΑ asked for it"})
		for _, tc := range []struct{ query, want, mark string }{
			{"ärger", ärger, "<mark>Ärger</mark>"},
			{"ÄRGER", ärger, "<mark>Ärger</mark>"},
			{"izmir", izmir, "<mark>İzmir</mark>"},
			{"İZMİR", izmir, "<mark>İzmir</mark>"},
			{"σοφία", greek, "<mark>ΣΟΦΊΑ</mark>"},
		} {
			got := searchAs(t, s, owner, vars{"ws": ws, "q": tc.query})
			if ids := foundIDs(got); !slices.Equal(ids, []string{tc.want}) {
				t.Errorf("%q found %v, want %v", tc.query, ids, []string{tc.want})
				continue
			}
			if h := got.Edges[0].Highlight; !strings.Contains(h, tc.mark) {
				t.Errorf("%q highlighted %q, want %s", tc.query, h, tc.mark)
			}
		}
	})
}

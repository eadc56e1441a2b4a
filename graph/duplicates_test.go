package graph_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

const similarQuery = `query($id: ID!, $first: Int) { node(id: $id) { ... on Feedback {
	similar(first: $first) { score feedback { id } }
} } }`

func similarTo(t *testing.T, s *servertest.Server, token, id string) (ids []string, scores []float64) {
	t.Helper()
	var got struct {
		Node struct {
			Similar []struct {
				Score    float64
				Feedback struct{ ID string }
			}
		}
	}
	decode(t, s, token, similarQuery, vars{"id": id}, &got)
	for _, f := range got.Node.Similar {
		ids = append(ids, f.Feedback.ID)
		scores = append(scores, f.Score)
	}
	return ids, scores
}

func TestSimilarFindsLikelyDuplicates(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		if s.Backend == servertest.Postgres {
			requireTrigrams(t, s)
		}
		loop := s.NewLoop(t)
		owner, it := loop.Owner.Token, loop.Iteration.ID
		leave := func(body string) string { return s.LeaveFeedback(t, owner, it, vars{"body": body}) }
		a := leave("The signup form loses my phone number when I go back a step.")
		near := leave("Signup form loses the phone number when going back a step")
		closeish := leave("The signup form loses my phone number when I go back a step, and my email too, and the address.")
		unrelated := leave("Please add a dark mode to the shift calendar.")
		retracted := leave("The signup form loses my phone number when I go back a step!")
		s.Do(t, owner, `mutation($id: ID!) { retractFeedback(id: $id) { id } }`, vars{"id": retracted}).RequireOK(t)
		other := s.NewPublishedIteration(t, owner, s.NewPrototype(t, owner, loop.Workspace.ID).ID)
		elsewhere := s.LeaveFeedback(t, owner, other.ID, vars{"body": "The signup form loses my phone number when I go back a step."})

		ids, scores := similarTo(t, s, owner, a)
		if !slices.Equal(ids, []string{near, closeish}) && !slices.Equal(ids, []string{closeish, near}) {
			t.Fatalf("similar to %s: %v, want %s and %s (not %s unrelated, %s retracted, %s on another prototype)",
				a, ids, near, closeish, unrelated, retracted, elsewhere)
		}
		for i, sc := range scores {
			if sc <= 0 || sc > 1 || (i > 0 && sc > scores[i-1]) {
				t.Errorf("scores %v: want 0 to 1, most alike first", scores)
			}
		}
		if ids, _ := similarTo(t, s, owner, unrelated); len(ids) != 0 {
			t.Errorf("similar to unrelated feedback: %v, want none", ids)
		}
		s.Do(t, owner, similarQuery, vars{"id": a, "first": 21}).RequireError(t, "BAD_USER_INPUT", "first")
	})
}

// requireTrigrams fails unless the migrations installed pg_trgm where the
// server can install it, so that the PostgreSQL half of a test runs on
// similarity(), not on the fallback SQLite also uses.
func requireTrigrams(t *testing.T, s *servertest.Server) {
	t.Helper()
	var available, installed bool
	err := s.DB.SQL.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'),
		EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')`).Scan(&available, &installed)
	switch {
	case err != nil:
		t.Fatal(err)
	case available && !installed:
		t.Fatal("pg_trgm is available but the migrations did not install it")
	case !available:
		t.Log("pg_trgm is not available on this server: testing the fallback")
	}
}

const mergeMutation = `mutation($dup: ID!, $orig: ID!) { mergeFeedback(duplicate: $dup, original: $orig) {
	id voteCount votes { totalCount } comments { totalCount } contributors { id }
	mergedFrom { id }
} }`

type mergedData struct {
	ID           string
	VoteCount    int
	Votes        struct{ TotalCount int }
	Comments     struct{ TotalCount int }
	Contributors []struct{ ID string }
	MergedFrom   []struct{ ID string }
}

const feedbackStateQuery = `query($id: ID!) { node(id: $id) { ... on Feedback {
	status voteCount votes { totalCount } comments { totalCount } mergedInto { id } author { id }
} } }`

type feedbackState struct {
	Status     string
	VoteCount  int
	Votes      struct{ TotalCount int }
	Comments   struct{ TotalCount int }
	MergedInto *struct{ ID string }
	Author     struct{ ID string }
}

func stateOf(t *testing.T, s *servertest.Server, token, id string) feedbackState {
	t.Helper()
	var got struct{ Node feedbackState }
	decode(t, s, token, feedbackStateQuery, vars{"id": id}, &got)
	return got.Node
}

func TestMergeKeepsEveryVote(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner, ws, it := loop.Owner.Token, loop.Workspace.ID, loop.Iteration.ID
		maker := s.NewMember(t, owner, ws, "MAKER")
		viewer := s.NewMember(t, owner, ws, "VIEWER")
		dupAuthor := s.NewMember(t, owner, ws, "VIEWER")
		onlyDup := s.NewMember(t, owner, ws, "VIEWER")
		both := s.NewMember(t, owner, ws, "VIEWER")
		onlyOrig := s.NewMember(t, owner, ws, "VIEWER")
		outsider := s.NewUser(t, "Otto")

		orig := s.LeaveFeedback(t, owner, it, vars{"body": "The export button does nothing."})
		dup := s.LeaveFeedback(t, dupAuthor.Token, it, vars{"body": "Export does not work at all."})
		vote := func(token, id string) {
			s.Do(t, token, `mutation($id: ID!) { vote(feedbackID: $id) { id } }`, vars{"id": id}).RequireOK(t)
		}
		vote(onlyDup.Token, dup)
		vote(both.Token, dup)
		vote(both.Token, orig)
		vote(onlyOrig.Token, orig)
		s.AddComment(t, owner, dup, "")
		s.AddComment(t, dupAuthor.Token, dup, "")
		s.AddComment(t, owner, orig, "")

		t.Run("is for owners and makers", func(t *testing.T) {
			s.Do(t, viewer.Token, mergeMutation, vars{"dup": dup, "orig": orig}).RequireError(t, "FORBIDDEN", "")
			s.Do(t, dupAuthor.Token, mergeMutation, vars{"dup": dup, "orig": orig}).RequireError(t, "FORBIDDEN", "")
			s.Do(t, outsider.Token, mergeMutation, vars{"dup": dup, "orig": orig}).RequireError(t, "NOT_FOUND", "")
			if st := stateOf(t, s, owner, dup); st.Status != "OPEN" || st.Votes.TotalCount != 2 || st.Comments.TotalCount != 2 {
				t.Errorf("a refused merge changed the duplicate: %+v", st)
			}
		})

		mark := lastSeq(t, s, owner, loop.Prototype.ID)
		var got struct{ MergeFeedback mergedData }
		decode(t, s, maker.Token, mergeMutation, vars{"dup": dup, "orig": orig}, &got)
		m := got.MergeFeedback
		origAuthor, dupState := stateOf(t, s, owner, orig).Author.ID, stateOf(t, s, owner, dup)

		t.Run("counts every voter of either once, and the duplicate's author", func(t *testing.T) {
			// onlyDup, both, onlyOrig, and dupAuthor.
			if m.ID != orig || m.Votes.TotalCount != 4 || m.VoteCount != 4 {
				t.Errorf("original after the merge: %s with %d votes (voteCount %d), want %s with 4", m.ID, m.Votes.TotalCount, m.VoteCount, orig)
			}
		})
		t.Run("moves the comments", func(t *testing.T) {
			if m.Comments.TotalCount != 3 || dupState.Comments.TotalCount != 0 {
				t.Errorf("comments: %d on the original, %d on the duplicate; want 3 and 0", m.Comments.TotalCount, dupState.Comments.TotalCount)
			}
		})
		t.Run("credits the duplicate's author", func(t *testing.T) {
			var ids []string
			for _, c := range m.Contributors {
				ids = append(ids, c.ID)
			}
			if want := []string{origAuthor, dupState.Author.ID}; !slices.Equal(ids, want) {
				t.Errorf("contributors %v, want %v", ids, want)
			}
			if len(m.MergedFrom) != 1 || m.MergedFrom[0].ID != dup {
				t.Errorf("mergedFrom %v, want %s", m.MergedFrom, dup)
			}
		})
		t.Run("leaves the duplicate MERGED, pointing at the original, without votes", func(t *testing.T) {
			if dupState.Status != "MERGED" || dupState.MergedInto == nil || dupState.MergedInto.ID != orig ||
				dupState.Votes.TotalCount != 0 || dupState.VoteCount != 0 {
				t.Errorf("duplicate after the merge: %+v", dupState)
			}
		})
		t.Run("records FEEDBACK_MERGED", func(t *testing.T) {
			expectEvents(t, s, owner, loop.Prototype.ID, mark, "FEEDBACK_MERGED")
		})

		t.Run("carries earlier merges along", func(t *testing.T) {
			third := s.LeaveFeedback(t, onlyDup.Token, it, vars{"body": "Export is broken."})
			fourth := s.LeaveFeedback(t, onlyOrig.Token, it, vars{"body": "Exporting fails."})
			s.Do(t, owner, mergeMutation, vars{"dup": fourth, "orig": third}).RequireOK(t)
			var got struct{ MergeFeedback mergedData }
			decode(t, s, owner, mergeMutation, vars{"dup": third, "orig": orig}, &got)
			if n := len(got.MergeFeedback.Contributors); n != 4 {
				t.Errorf("%d contributors, want 4: the original's author and the authors of three duplicates", n)
			}
			if st := stateOf(t, s, owner, fourth); st.MergedInto == nil || st.MergedInto.ID != orig {
				t.Errorf("feedback merged into a merged duplicate points at %+v, want %s", st.MergedInto, orig)
			}
			// onlyDup and onlyOrig voted already; their feedback's votes
			// (none) add nobody.
			if got.MergeFeedback.Votes.TotalCount != 4 {
				t.Errorf("%d votes, want still 4", got.MergeFeedback.Votes.TotalCount)
			}
		})

		t.Run("refuses merges that make no sense", func(t *testing.T) {
			fresh := s.LeaveFeedback(t, owner, it, nil)
			other := s.NewPublishedIteration(t, owner, s.NewPrototype(t, owner, ws).ID)
			elsewhere := s.LeaveFeedback(t, owner, other.ID, nil)
			for _, tc := range []struct {
				name, dup, orig, code, field string
			}{
				{"into itself", fresh, fresh, "BAD_USER_INPUT", "original"},
				{"a merged duplicate again", dup, fresh, "BAD_USER_INPUT", "duplicate"},
				{"into a merged duplicate", fresh, dup, "BAD_USER_INPUT", "original"},
				{"across prototypes", elsewhere, fresh, "BAD_USER_INPUT", "original"},
				{"feedback that does not exist", fresh, "fb_0000000000", "NOT_FOUND", "original"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					s.Do(t, owner, mergeMutation, vars{"dup": tc.dup, "orig": tc.orig}).RequireError(t, tc.code, tc.field)
				})
			}
			s.Do(t, owner, `mutation($id: ID!) { setFeedbackStatus(id: $id, status: OPEN) { id } }`, vars{"id": dup}).
				RequireError(t, "BAD_USER_INPUT", "status")
			s.Do(t, viewer.Token, `mutation($id: ID!) { vote(feedbackID: $id) { id } }`, vars{"id": dup}).
				RequireError(t, "BAD_USER_INPUT", "feedbackID")
			s.Do(t, viewer.Token, `mutation($in: AddCommentInput!) { addComment(input: $in) { id } }`,
				vars{"in": vars{"feedbackID": dup, "body": "me too"}}).RequireError(t, "BAD_USER_INPUT", "feedbackID")
			s.Do(t, owner, `mutation($id: ID!) { setFeedbackStatus(id: $id, status: MERGED) { id } }`, vars{"id": fresh}).
				RequireError(t, "BAD_USER_INPUT", "status")
		})
	})
}

func TestVotesAndCommentsRacingAMergeNeverLandOnTheDuplicate(t *testing.T) {
	// Voters vote and comment on a duplicate while it is merged, all at
	// once, round after round. Each vote or comment either comes first and
	// is moved with the others, or comes second and is refused: none stays
	// on the duplicate, and the original has every one that was accepted.
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner, ws, it := loop.Owner.Token, loop.Workspace.ID, loop.Iteration.ID
		voters := make([]string, 12)
		for i := range voters {
			voters[i] = s.NewMember(t, owner, ws, "VIEWER").Token
		}
		for round := range 6 {
			orig := s.LeaveFeedback(t, owner, it, vars{"body": fmt.Sprintf("Round %d: the export button does nothing.", round)})
			dup := s.LeaveFeedback(t, owner, it, vars{"body": fmt.Sprintf("Round %d: export does not work.", round)})
			var (
				wg              sync.WaitGroup
				start           = make(chan struct{})
				votes, comments atomic.Int32
			)
			send := func(token, query string, v vars, accepted *atomic.Int32) {
				<-start
				r, err := s.Post(context.Background(), token, query, v)
				switch {
				case err != nil:
					t.Error(err)
				case len(r.Errors) == 0:
					accepted.Add(1)
				case r.Code() != "BAD_USER_INPUT":
					t.Errorf("racing the merge: %s", r.Err())
				}
			}
			for _, token := range voters {
				wg.Go(func() { send(token, `mutation($id: ID!) { vote(feedbackID: $id) { id } }`, vars{"id": dup}, &votes) })
				wg.Go(func() {
					send(token, `mutation($in: AddCommentInput!) { addComment(input: $in) { id } }`,
						vars{"in": vars{"feedbackID": dup, "body": "Same here."}}, &comments)
				})
			}
			wg.Go(func() {
				<-start
				r, err := s.Post(context.Background(), owner, mergeMutation, vars{"dup": dup, "orig": orig})
				if err != nil || len(r.Errors) > 0 {
					t.Errorf("merge: %v %v", err, r.Err())
				}
			})
			close(start)
			wg.Wait()
			d, o := stateOf(t, s, owner, dup), stateOf(t, s, owner, orig)
			// The duplicate's author is the original's: no vote of theirs.
			if v, c := int(votes.Load()), int(comments.Load()); d.Votes.TotalCount != 0 || d.VoteCount != 0 || d.Comments.TotalCount != 0 ||
				o.Votes.TotalCount != v || o.VoteCount != v || o.Comments.TotalCount != c {
				t.Fatalf("round %d: %d votes and %d comments accepted; the duplicate has %d votes (voteCount %d) and %d comments, the original %d (voteCount %d) and %d",
					round, v, c, d.Votes.TotalCount, d.VoteCount, d.Comments.TotalCount, o.Votes.TotalCount, o.VoteCount, o.Comments.TotalCount)
			}
		}
	})
}

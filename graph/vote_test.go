package graph_test

import (
	"testing"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/servertest"
)

const voteMutation = `mutation($id: ID!) { vote(feedbackID: $id) { id votes { totalCount } } }`

const unvoteMutation = `mutation($id: ID!) { unvote(feedbackID: $id) { id votes { totalCount } } }`

type votedData struct {
	ID    string
	Votes struct{ TotalCount int }
}

func TestVote(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		p := loop.Prototype.ID
		alice := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
		bob := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "MAKER")
		outsider := s.NewUser(t, "Otto")
		fb := s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)
		// do runs a vote or unvote and returns the feedback's vote count.
		do := func(token, mutation string) int {
			t.Helper()
			var got map[string]votedData
			s.Do(t, token, mutation, vars{"id": fb}).RequireOK(t).Decode(t, &got)
			for _, v := range got {
				if v.ID != fb {
					t.Errorf("returned feedback %s, want %s", v.ID, fb)
				}
				return v.Votes.TotalCount
			}
			t.Fatal("no feedback returned")
			return 0
		}

		steps := []struct {
			name, token, mutation string
			count                 int
			events                []string
		}{
			{"counts a member's vote and records VOTE_ADDED", alice.Token, voteMutation, 1, []string{"VOTE_ADDED"}},
			{"counts a second vote by the same member once, recording nothing", alice.Token, voteMutation, 1, nil},
			{"counts another member's vote", bob.Token, voteMutation, 2, []string{"VOTE_ADDED"}},
			{"takes a vote back and records VOTE_REMOVED", alice.Token, unvoteMutation, 1, []string{"VOTE_REMOVED"}},
			{"ignores taking back a vote that is not there, recording nothing", alice.Token, unvoteMutation, 1, nil},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				mark := lastSeq(t, s, loop.Owner.Token, p)
				if got := do(step.token, step.mutation); got != step.count {
					t.Errorf("votes: %d, want %d", got, step.count)
				}
				expectEvents(t, s, loop.Owner.Token, p, mark, step.events...)
			})
		}

		for _, tc := range []struct{ name, token, id string }{
			{"hides the feedback from a non-member", outsider.Token, fb},
			{"does not know feedback that does not exist", alice.Token, gid.New(gid.Feedback).String()},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s.Do(t, tc.token, voteMutation, vars{"id": tc.id}).RequireError(t, "NOT_FOUND", "")
				s.Do(t, tc.token, unvoteMutation, vars{"id": tc.id}).RequireError(t, "NOT_FOUND", "")
			})
		}
	})
}

package graph_test

import (
	"testing"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/servertest"
)

const addCommentMutation = `mutation($in: AddCommentInput!) {
	addComment(input: $in) {
		id body
		author { displayName }
		feedback { id }
		parent { id }
	}
}`

type commentData struct {
	ID, Body string
	Author   struct{ DisplayName string }
	Feedback struct{ ID string }
	Parent   *struct{ ID string }
}

func TestAddComment(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		tester := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
		outsider := s.NewUser(t, "Otto")
		fb := s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)
		otherFeedback := s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)
		comment := func(token string, in vars) *servertest.Response {
			return s.Do(t, token, addCommentMutation, vars{"in": in})
		}

		var root string
		t.Run("lets any member comment and records COMMENT_ADDED", func(t *testing.T) {
			mark := lastSeq(t, s, tester.Token, loop.Prototype.ID)
			var got struct{ AddComment commentData }
			comment(tester.Token, vars{"feedbackID": fb, "body": "Same on my phone."}).RequireOK(t).Decode(t, &got)
			c := got.AddComment
			if c.Body != "Same on my phone." || c.Author.DisplayName != tester.Name || c.Feedback.ID != fb || c.Parent != nil {
				t.Errorf("comment %+v, want the body, by %s, on %s, with no parent", c, tester.Name, fb)
			}
			root = c.ID
			events := expectEvents(t, s, tester.Token, loop.Prototype.ID, mark, "COMMENT_ADDED")
			if e := events[0]; e.Subject == nil || e.Subject.ID != c.ID {
				t.Errorf("COMMENT_ADDED is about %+v, want %s", e.Subject, c.ID)
			}
		})

		t.Run("threads a reply under its parent", func(t *testing.T) {
			if root == "" {
				t.Skip("no comment to reply to")
			}
			var got struct{ AddComment commentData }
			comment(loop.Owner.Token, vars{"feedbackID": fb, "body": "Fixed in the next one.", "parentID": root}).
				RequireOK(t).Decode(t, &got)
			if p := got.AddComment.Parent; p == nil || p.ID != root {
				t.Errorf("reply's parent %+v, want %s", p, root)
			}

			var read struct {
				Node struct {
					Comments struct {
						TotalCount int
						Edges      []struct {
							Node struct {
								ID      string
								Replies []struct{ ID string }
							}
						}
					}
				}
			}
			decode(t, s, tester.Token, `query($id: ID!) {
				node(id: $id) { ... on Feedback { comments(first: 10) { totalCount edges { node { id replies { id } } } } } }
			}`, vars{"id": fb}, &read)
			if read.Node.Comments.TotalCount != 2 {
				t.Errorf("the feedback has %d comments, want 2", read.Node.Comments.TotalCount)
			}
			for _, e := range read.Node.Comments.Edges {
				if e.Node.ID == root && (len(e.Node.Replies) != 1 || e.Node.Replies[0].ID != got.AddComment.ID) {
					t.Errorf("the root's replies are %+v, want just %s", e.Node.Replies, got.AddComment.ID)
				}
			}
		})

		onOther := s.AddComment(t, tester.Token, otherFeedback, "")
		for _, tc := range []struct {
			name, token, code, field string
			in                       vars
		}{
			{"refuses an empty body", tester.Token, "BAD_USER_INPUT", "body", vars{"body": ""}},
			{"refuses a body over 10,000 characters", tester.Token, "BAD_USER_INPUT", "body", vars{"body": long(10_001)}},
			{"refuses a reply to a comment on other feedback", tester.Token, "BAD_USER_INPUT", "", vars{"parentID": onOther}},
			{"refuses a malformed parent ID", tester.Token, "BAD_USER_INPUT", "", vars{"parentID": "cmt_"}},
			{"does not know feedback that does not exist", tester.Token, "NOT_FOUND", "", vars{"feedbackID": gid.New(gid.Feedback).String()}},
			{"hides the feedback from a non-member", outsider.Token, "NOT_FOUND", "", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				in := vars{"feedbackID": fb, "body": "A comment."}
				for k, v := range tc.in {
					in[k] = v
				}
				mark := lastSeq(t, s, loop.Owner.Token, loop.Prototype.ID)
				comment(tc.token, in).RequireError(t, tc.code, tc.field)
				expectEvents(t, s, loop.Owner.Token, loop.Prototype.ID, mark)
			})
		}
	})
}

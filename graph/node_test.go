package graph_test

import (
	"testing"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/servertest"
)

type nodeData struct {
	Typename string `json:"__typename"`
	ID       string
}

func TestNode(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		member := s.NewUser(t, "Mia")
		membership := s.AddMember(t, owner, loop.Workspace.ID, member.Email, "VIEWER")
		trial := s.StartTrial(t, member.Token, loop.Iteration.ID)
		fb := s.LeaveFeedback(t, member.Token, loop.Iteration.ID, vars{"trialID": trial})
		comment := s.AddComment(t, owner, fb, "")

		var voted struct {
			Vote struct {
				Author struct{ ID string }
				Votes  struct {
					Edges []struct{ Node struct{ ID string } }
				}
			}
		}
		decode(t, s, member.Token, `mutation($id: ID!) {
			vote(feedbackID: $id) { author { id } votes(first: 1) { edges { node { id } } } }
		}`, vars{"id": fb}, &voted)
		if len(voted.Vote.Votes.Edges) != 1 {
			t.Fatalf("vote returned %d votes, want 1", len(voted.Vote.Votes.Edges))
		}
		vote := voted.Vote.Votes.Edges[0].Node.ID
		participant := voted.Vote.Author.ID
		events := timeline(t, s, owner, loop.Prototype.ID, vars{"first": 1})
		if len(events) == 0 {
			t.Fatal("the prototype has no events")
		}

		byType := []struct{ typename, id string }{
			{"Workspace", loop.Workspace.ID},
			{"User", member.ID},
			{"Membership", membership},
			{"Prototype", loop.Prototype.ID},
			{"Iteration", loop.Iteration.ID},
			{"Participant", participant},
			{"Trial", trial},
			{"Feedback", fb},
			{"Comment", comment},
			{"Vote", vote},
			{"Event", events[0].ID},
		}
		for _, tc := range byType {
			t.Run("finds a "+tc.typename+" by its ID", func(t *testing.T) {
				var got struct{ Node *nodeData }
				decode(t, s, owner, `query($id: ID!) { node(id: $id) { __typename id } }`, vars{"id": tc.id}, &got)
				if got.Node == nil || got.Node.Typename != tc.typename || got.Node.ID != tc.id {
					t.Errorf("node(%s) = %+v, want a %s", tc.id, got.Node, tc.typename)
				}
			})
		}

		t.Run("finds nodes of mixed types in the order asked", func(t *testing.T) {
			ids := make([]string, len(byType))
			for i, tc := range byType {
				ids[len(ids)-1-i] = tc.id
			}
			var got struct{ Nodes []*nodeData }
			decode(t, s, owner, `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`, vars{"ids": ids}, &got)
			if len(got.Nodes) != len(ids) {
				t.Fatalf("nodes returned %d, want %d", len(got.Nodes), len(ids))
			}
			for i, n := range got.Nodes {
				want := byType[len(byType)-1-i]
				if n == nil || n.ID != want.id || n.Typename != want.typename {
					t.Errorf("nodes[%d] = %+v, want %s %s", i, n, want.typename, want.id)
				}
			}
		})

		for _, tc := range []struct{ name, id string }{
			{"refuses an ID without a type prefix", "0123456789"},
			{"refuses an ID with an unknown prefix", "zz_0123456789"},
			{"refuses an ID with too few digits", "fb_012345678"},
			{"refuses an ID with characters outside base62", "fb_01234567-9"},
			{"refuses a plain number", "42"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s.Do(t, owner, `query($id: ID!) { node(id: $id) { id } }`, vars{"id": tc.id}).RequireError(t, "BAD_USER_INPUT", "")
				s.Do(t, owner, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, vars{"ids": []string{fb, tc.id}}).
					RequireError(t, "BAD_USER_INPUT", "")
			})
		}

		t.Run("reads a well-formed ID of nothing as no node", func(t *testing.T) {
			requireHidden(t, s.Do(t, owner, `query($id: ID!) { node(id: $id) { id } }`,
				vars{"id": gid.New(gid.Feedback).String()}), "node")
		})
	})
}

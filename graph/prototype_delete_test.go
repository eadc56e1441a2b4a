package graph_test

import (
	"testing"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/servertest"
)

const deletePrototypeMutation = `mutation($id: ID!) { deletePrototype(id: $id) { id } }`

func TestDeletePrototype(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		l := s.NewLoop(t)
		owner := l.Owner.Token
		maker := s.NewMember(t, owner, l.Workspace.ID, "MAKER")
		viewerMember := s.NewMember(t, owner, l.Workspace.ID, "VIEWER")
		outsider := s.NewLoop(t).Owner

		// Everything that hangs off a prototype: trials, feedback, a vote,
		// a comment, an invite and a guest with its token.
		s.StartTrial(t, viewerMember.Token, l.Iteration.ID)
		fb := s.LeaveFeedback(t, viewerMember.Token, l.Iteration.ID, nil)
		s.Do(t, owner, `mutation($id: ID!) { vote(feedbackID: $id) { id } }`, vars{"id": fb}).RequireOK(t)
		s.AddComment(t, owner, fb, "")
		_, secret := newInvite(t, s, owner, l.Prototype.ID, nil)
		guestToken, _ := newGuestOf(t, s, secret, "Guest")
		s.Do(t, guestToken, `{ viewer { id } }`, nil).RequireOK(t)
		// A second prototype in the workspace, which must be left alone.
		other := s.NewPrototype(t, owner, l.Workspace.ID)

		t.Run("is refused to a maker and a viewer, who see it", func(t *testing.T) {
			for _, tok := range []string{maker.Token, viewerMember.Token} {
				s.Do(t, tok, deletePrototypeMutation, vars{"id": l.Prototype.ID}).RequireError(t, "FORBIDDEN", "")
			}
		})
		t.Run("is NOT_FOUND for someone outside the workspace", func(t *testing.T) {
			s.Do(t, outsider.Token, deletePrototypeMutation, vars{"id": l.Prototype.ID}).RequireError(t, "NOT_FOUND", "")
		})
		if !seesPrototype(t, s, owner, l.Prototype.ID) {
			t.Fatal("a refused delete removed the prototype")
		}

		t.Run("by an owner removes the prototype and all that belonged to it", func(t *testing.T) {
			var got struct{ DeletePrototype struct{ ID string } }
			decode(t, s, owner, deletePrototypeMutation, vars{"id": l.Prototype.ID}, &got)
			if got.DeletePrototype.ID != l.Workspace.ID {
				t.Errorf("returned %q, want the workspace %q", got.DeletePrototype.ID, l.Workspace.ID)
			}
			for _, id := range []string{l.Prototype.ID, l.Iteration.ID, fb} {
				s.Do(t, owner, `query($id: ID!) { node(id: $id) { id } }`, vars{"id": id}).RequireError(t, "NOT_FOUND", "")
			}
			pid, err := gid.Parse(l.Prototype.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, table := range []string{"iterations", "trials", "feedbacks", "comments", "votes", "participants", "invites", "events"} {
				var n int
				if err := s.DB.SQL.QueryRow("SELECT COUNT(*) FROM "+table+" WHERE prototype_id = $1", int64(pid)).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != 0 {
					t.Errorf("%d %s rows of the deleted prototype remain", n, table)
				}
			}
			var deleted int
			if err := s.DB.SQL.QueryRow("SELECT COUNT(*) FROM events WHERE kind = 'PROTOTYPE_DELETED' AND subject_id = $1 AND prototype_id IS NULL", int64(pid)).Scan(&deleted); err != nil {
				t.Fatal(err)
			}
			if deleted != 1 {
				t.Errorf("%d PROTOTYPE_DELETED events on the workspace, want 1", deleted)
			}
			if !seesPrototype(t, s, owner, other.ID) {
				t.Error("the workspace's other prototype went too")
			}
		})
		t.Run("ends its guests' tokens", func(t *testing.T) {
			s.Do(t, guestToken, `{ viewer { id } }`, nil).RequireError(t, "UNAUTHENTICATED", "")
		})
	})
}

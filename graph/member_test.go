package graph_test

import (
	"context"
	"sync"
	"testing"

	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/servertest"
)

const setMemberRoleMutation = `mutation($id: ID!, $role: MembershipRole!) {
	setMemberRole(id: $id, role: $role) { id role user { id } workspace { id } }
}`

const removeMemberMutation = `mutation($id: ID!) { removeMember(id: $id) { id memberships { id role } } }`

// memberEvent returns the payload of a workspace's newest event, which
// must be of kind; the API has no workspace timeline, so it reads the
// table directly.
func memberEvent(t *testing.T, s *servertest.Server, workspaceID, kind string) map[string]any {
	t.Helper()
	id, err := gid.Parse(workspaceID)
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.DB.Client.Event.Query().
		Where(event.WorkspaceID(id), event.PrototypeIDIsNil()).
		Order(event.BySeq()).
		All(privacy.DecisionContext(context.Background(), privacy.Allow))
	if err != nil {
		t.Fatalf("read workspace events: %v", err)
	}
	if len(e) == 0 || string(e[len(e)-1].Kind) != kind {
		t.Fatalf("newest workspace event is not %s: %v", kind, workspaceEventKinds(t, s, workspaceID))
	}
	return e[len(e)-1].Payload
}

// ownerMembership returns the membership ID of a workspace's creator.
func ownerMembership(t *testing.T, s *servertest.Server, token, slug string) string {
	t.Helper()
	var got struct {
		Workspace struct {
			Memberships []struct{ ID, Role string }
		}
	}
	decode(t, s, token, `query($slug: String!) { workspace(slug: $slug) { memberships { id role } } }`,
		vars{"slug": slug}, &got)
	for _, m := range got.Workspace.Memberships {
		if m.Role == "OWNER" {
			return m.ID
		}
	}
	t.Fatalf("workspace %s has no owner", slug)
	return ""
}

func TestSetMemberRole(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner
		ws := loop.Workspace
		ownerM := ownerMembership(t, s, owner.Token, ws.Slug)
		viewer := s.NewUser(t, "Vic")
		viewerM := s.AddMember(t, owner.Token, ws.ID, viewer.Email, "VIEWER")
		maker := s.NewMember(t, owner.Token, ws.ID, "MAKER")
		outsider := s.NewLoop(t).Owner
		_, secret := newInvite(t, s, owner.Token, loop.Prototype.ID, nil)
		tester, _ := newGuestOf(t, s, secret, "Tess")

		t.Run("an owner promotes a viewer, who may then make prototypes", func(t *testing.T) {
			var got struct {
				SetMemberRole struct {
					ID, Role  string
					User      struct{ ID string }
					Workspace struct{ ID string }
				}
			}
			decode(t, s, owner.Token, setMemberRoleMutation, vars{"id": viewerM, "role": "MAKER"}, &got)
			m := got.SetMemberRole
			if m.ID != viewerM || m.Role != "MAKER" || m.User.ID != viewer.ID || m.Workspace.ID != ws.ID {
				t.Errorf("membership = %+v, want %s MAKER of %s in %s", m, viewerM, viewer.ID, ws.ID)
			}
			p := memberEvent(t, s, ws.ID, "MEMBER_ROLE_CHANGED")
			if p["from"] != "VIEWER" || p["to"] != "MAKER" || p["user"] != viewer.ID {
				t.Errorf("MEMBER_ROLE_CHANGED payload = %v, want VIEWER → MAKER of %s", p, viewer.ID)
			}
			s.NewPrototype(t, viewer.Token, ws.ID)
		})

		t.Run("setting the role a member has records nothing", func(t *testing.T) {
			before := workspaceEventKinds(t, s, ws.ID)
			s.Do(t, owner.Token, setMemberRoleMutation, vars{"id": viewerM, "role": "MAKER"}).RequireOK(t)
			if after := workspaceEventKinds(t, s, ws.ID); len(after) != len(before) {
				t.Errorf("events %v after %v, want no new one", after, before)
			}
		})

		for _, tc := range []struct {
			name, token, code string
		}{
			{"a maker may not change roles", maker.Token, "FORBIDDEN"},
			{"a member of another workspace cannot find the membership", outsider.Token, "NOT_FOUND"},
			{"a tester cannot find the membership", tester, "NOT_FOUND"},
			{"an anonymous caller must sign in", "", "UNAUTHENTICATED"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s.Do(t, tc.token, setMemberRoleMutation, vars{"id": viewerM, "role": "OWNER"}).RequireError(t, tc.code, "")
			})
		}

		t.Run("the last owner cannot step down", func(t *testing.T) {
			r := s.Do(t, owner.Token, setMemberRoleMutation, vars{"id": ownerM, "role": "MAKER"})
			r.RequireError(t, "BAD_USER_INPUT", "role")
			if want := "a workspace needs an owner"; r.Errors[0].Message != want {
				t.Errorf("message %q, want %q", r.Errors[0].Message, want)
			}
		})

		t.Run("with a second owner, the first may step down", func(t *testing.T) {
			s.Do(t, owner.Token, setMemberRoleMutation, vars{"id": viewerM, "role": "OWNER"}).RequireOK(t)
			var got struct{ SetMemberRole struct{ Role string } }
			decode(t, s, owner.Token, setMemberRoleMutation, vars{"id": ownerM, "role": "VIEWER"}, &got)
			if got.SetMemberRole.Role != "VIEWER" {
				t.Errorf("role = %s, want VIEWER", got.SetMemberRole.Role)
			}
			s.Do(t, owner.Token, setMemberRoleMutation, vars{"id": ownerM, "role": "OWNER"}).RequireError(t, "FORBIDDEN", "")
		})
	})
}

func TestTwoOwnersSteppingDownAtOnceLeaveOne(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		for round := range 5 {
			a := s.NewUser(t, "A")
			ws := s.NewWorkspace(t, a.Token)
			aM := ownerMembership(t, s, a.Token, ws.Slug)
			b := s.NewUser(t, "B")
			bM := s.AddMember(t, a.Token, ws.ID, b.Email, "OWNER")

			var (
				wg      sync.WaitGroup
				results [2]*servertest.Response
				errs    [2]error
			)
			start := make(chan struct{})
			for i, step := range []struct{ token, membership string }{{a.Token, aM}, {b.Token, bM}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i], errs[i] = s.Post(context.Background(), step.token, setMemberRoleMutation,
						vars{"id": step.membership, "role": "MAKER"})
				}()
			}
			close(start)
			wg.Wait()
			ok := 0
			for i, r := range results {
				switch {
				case errs[i] != nil:
					t.Fatalf("round %d: %v", round, errs[i])
				case r.Err() == nil:
					ok++
				case r.Code() != "BAD_USER_INPUT":
					t.Errorf("round %d: %v, want success or BAD_USER_INPUT", round, r.Err())
				}
			}
			if ok != 1 {
				t.Errorf("round %d: %d owners stepped down, want exactly 1", round, ok)
			}
		}
	})
}

func TestRemoveMember(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner
		ws := loop.Workspace
		ownerM := ownerMembership(t, s, owner.Token, ws.Slug)
		maker := s.NewUser(t, "Mia")
		makerM := s.AddMember(t, owner.Token, ws.ID, maker.Email, "MAKER")
		outsider := s.NewLoop(t).Owner

		for _, tc := range []struct {
			name, token, code string
		}{
			{"a maker may not remove members", maker.Token, "FORBIDDEN"},
			{"a member of another workspace cannot find the membership", outsider.Token, "NOT_FOUND"},
			{"an anonymous caller must sign in", "", "UNAUTHENTICATED"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s.Do(t, tc.token, removeMemberMutation, vars{"id": ownerM}).RequireError(t, tc.code, "")
			})
		}

		t.Run("the last owner cannot be removed", func(t *testing.T) {
			r := s.Do(t, owner.Token, removeMemberMutation, vars{"id": ownerM})
			r.RequireError(t, "BAD_USER_INPUT", "id")
			if want := "a workspace needs an owner"; r.Errors[0].Message != want {
				t.Errorf("message %q, want %q", r.Errors[0].Message, want)
			}
		})

		t.Run("an owner removes a member, who then sees nothing of the workspace", func(t *testing.T) {
			said := s.LeaveFeedback(t, maker.Token, loop.Iteration.ID, nil)
			var got struct {
				RemoveMember struct {
					ID          string
					Memberships []struct{ ID string }
				}
			}
			decode(t, s, owner.Token, removeMemberMutation, vars{"id": makerM}, &got)
			if got.RemoveMember.ID != ws.ID || len(got.RemoveMember.Memberships) != 1 {
				t.Errorf("removeMember = %+v, want workspace %s with its owner alone", got.RemoveMember, ws.ID)
			}
			p := memberEvent(t, s, ws.ID, "MEMBER_REMOVED")
			if p["user"] != maker.ID || p["role"] != "MAKER" {
				t.Errorf("MEMBER_REMOVED payload = %v, want MAKER %s", p, maker.ID)
			}
			var w struct{ Workspace *struct{ ID string } }
			decode(t, s, maker.Token, `query($slug: String!) { workspace(slug: $slug) { id } }`, vars{"slug": ws.Slug}, &w)
			if w.Workspace != nil {
				t.Errorf("a removed member still sees the workspace")
			}
			if !seesFeedback(t, s, owner.Token, said) {
				t.Errorf("the removed member's feedback went with them")
			}
		})
	})
}

// seesFeedback reports whether token's holder can read feedback.
func seesFeedback(t *testing.T, s *servertest.Server, token, id string) bool {
	t.Helper()
	r := s.Do(t, token, `query($id: ID!) { node(id: $id) { id } }`, vars{"id": id})
	if len(r.Errors) > 0 {
		return false
	}
	var got struct{ Node *struct{ ID string } }
	r.Decode(t, &got)
	return got.Node != nil
}

func TestTestersCannotManageWorkspaces(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		_, secret := newInvite(t, s, loop.Owner.Token, loop.Prototype.ID, nil)
		guest, _ := newGuestOf(t, s, secret, "Gia")
		user := s.NewUser(t, "Ugo")
		redeemAs(t, s, user.Token, secret, "Ugo")
		newcomer := s.NewUser(t, "Newcomer")

		for _, tc := range []struct{ name, token string }{{"a guest tester", guest}, {"a user tester", user.Token}} {
			t.Run(tc.name+" sees the workspace but may not add members", func(t *testing.T) {
				s.Do(t, tc.token, addMemberMutation, vars{"in": vars{
					"workspaceID": loop.Workspace.ID, "email": newcomer.Email, "role": "VIEWER",
				}}).RequireError(t, "FORBIDDEN", "")
			})
		}

		t.Run("a guest must sign in to an account to start a workspace", func(t *testing.T) {
			s.Do(t, guest, `mutation { createWorkspace(input: {name: "Guest's", slug: "guests"}) { id } }`, nil).
				RequireError(t, "UNAUTHENTICATED", "")
		})

		t.Run("a user tester may start a workspace of their own", func(t *testing.T) {
			s.NewWorkspace(t, user.Token)
		})
	})
}

package graph_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

const createWorkspaceMutation = `mutation($in: CreateWorkspaceInput!) {
	createWorkspace(input: $in) { id name slug mission headcount viewerRole }
}`

const updateWorkspaceMutation = `mutation($id: ID!, $in: UpdateWorkspaceInput!) {
	updateWorkspace(id: $id, input: $in) { id name slug mission headcount }
}`

const addMemberMutation = `mutation($in: AddMemberInput!) {
	addMember(input: $in) { id role user { id email } workspace { id } }
}`

const workspaceQuery = `query($slug: String!) {
	workspace(slug: $slug) {
		id name slug mission headcount viewerRole
		memberships { role user { id } }
	}
}`

type workspaceData struct {
	ID, Name, Slug, Mission string
	Headcount               int
	ViewerRole              string
	Memberships             []struct {
		Role string
		User struct{ ID string }
	}
}

func TestCreateWorkspace(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		owner := s.NewUser(t, "Olive")
		valid := func(change vars) vars {
			in := vars{"name": "Food Bank North", "slug": "food-bank-north", "mission": "No one goes hungry.", "headcount": 40}
			for k, v := range change {
				in[k] = v
			}
			return vars{"in": in}
		}

		t.Run("makes the creator its owner and records WORKSPACE_CREATED", func(t *testing.T) {
			var got struct{ CreateWorkspace workspaceData }
			decode(t, s, owner.Token, createWorkspaceMutation, valid(nil), &got)
			ws := got.CreateWorkspace
			if ws.Name != "Food Bank North" || ws.Slug != "food-bank-north" || ws.Mission != "No one goes hungry." || ws.Headcount != 40 {
				t.Errorf("created %+v, want the input's fields", ws)
			}
			if ws.ViewerRole != "OWNER" {
				t.Errorf("viewerRole = %s, want OWNER", ws.ViewerRole)
			}

			var read struct{ Workspace *workspaceData }
			decode(t, s, owner.Token, workspaceQuery, vars{"slug": "food-bank-north"}, &read)
			if read.Workspace == nil || read.Workspace.ID != ws.ID {
				t.Fatalf("workspace(slug) = %+v, want %s", read.Workspace, ws.ID)
			}
			if m := read.Workspace.Memberships; len(m) != 1 || m[0].Role != "OWNER" || m[0].User.ID != owner.ID {
				t.Errorf("memberships = %+v, want the creator as OWNER", m)
			}
			if kinds := workspaceEventKinds(t, s, ws.ID); len(kinds) == 0 || kinds[0] != "WORKSPACE_CREATED" {
				t.Errorf("workspace events = %v, want WORKSPACE_CREATED first", kinds)
			}
		})

		t.Run("refuses a slug that is taken, by anyone", func(t *testing.T) {
			other := s.NewUser(t, "Otto")
			s.Do(t, other.Token, createWorkspaceMutation, valid(nil)).RequireError(t, "CONFLICT", "")
		})

		for _, tc := range []struct {
			name   string
			change vars
			field  string
		}{
			{"refuses a slug with spaces and capitals", vars{"slug": "Food Bank"}, "slug"},
			{"refuses an empty slug", vars{"slug": ""}, "slug"},
			{"refuses a slug over 64 characters", vars{"slug": long(65)}, "slug"},
			{"refuses an empty name", vars{"name": ""}, "name"},
			{"refuses a name over 200 characters", vars{"name": long(201)}, "name"},
			{"refuses a negative headcount", vars{"headcount": -1}, "headcount"},
			{"refuses a mission over 10,000 characters", vars{"mission": long(10_001)}, "mission"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				change := vars{"slug": "valid-slug-for-" + tc.field}
				for k, v := range tc.change {
					change[k] = v
				}
				s.Do(t, owner.Token, createWorkspaceMutation, valid(change)).RequireError(t, "BAD_USER_INPUT", tc.field)
			})
		}
	})
}

func TestUpdateWorkspace(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		owner := s.NewUser(t, "Olive")
		ws := s.NewWorkspace(t, owner.Token)
		maker := s.NewMember(t, owner.Token, ws.ID, "MAKER")
		viewer := s.NewMember(t, owner.Token, ws.ID, "VIEWER")
		outsider := s.NewUser(t, "Otto")
		taken := s.NewWorkspace(t, outsider.Token)

		t.Run("lets the owner change the details and records WORKSPACE_UPDATED", func(t *testing.T) {
			var got struct{ UpdateWorkspace workspaceData }
			decode(t, s, owner.Token, updateWorkspaceMutation, vars{"id": ws.ID, "in": vars{
				"name": "Renamed", "mission": "A new mission.", "headcount": 12,
			}}, &got)
			w := got.UpdateWorkspace
			if w.Name != "Renamed" || w.Mission != "A new mission." || w.Headcount != 12 || w.Slug != ws.Slug {
				t.Errorf("updated to %+v, want the new name, mission and headcount and the old slug", w)
			}
			if kinds := workspaceEventKinds(t, s, ws.ID); !slices.Contains(kinds, "WORKSPACE_UPDATED") {
				t.Errorf("workspace events = %v, want a WORKSPACE_UPDATED", kinds)
			}
		})

		for _, tc := range []struct {
			name, token, code, field string
			in                       vars
		}{
			{"does not let a maker change it", maker.Token, "FORBIDDEN", "", vars{"name": "Maker's"}},
			{"does not let a viewer change it", viewer.Token, "FORBIDDEN", "", vars{"name": "Viewer's"}},
			{"hides it from a non-member", outsider.Token, "NOT_FOUND", "", vars{"name": "Outsider's"}},
			{"refuses a malformed slug", owner.Token, "BAD_USER_INPUT", "slug", vars{"slug": "Not a slug!"}},
			{"refuses an empty name", owner.Token, "BAD_USER_INPUT", "name", vars{"name": ""}},
			{"refuses a slug another workspace has", owner.Token, "CONFLICT", "", vars{"slug": taken.Slug}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s.Do(t, tc.token, updateWorkspaceMutation, vars{"id": ws.ID, "in": tc.in}).RequireError(t, tc.code, tc.field)
			})
		}

		t.Run("refuses a malformed ID", func(t *testing.T) {
			s.Do(t, owner.Token, updateWorkspaceMutation, vars{"id": "not-an-id", "in": vars{"name": "x"}}).
				RequireError(t, "BAD_USER_INPUT", "")
		})
	})
}

func TestAddMember(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		owner := s.NewUser(t, "Olive")
		ws := s.NewWorkspace(t, owner.Token)
		add := func(token, email, role string) *servertest.Response {
			return s.Do(t, token, addMemberMutation, vars{"in": vars{"workspaceID": ws.ID, "email": email, "role": role}})
		}

		t.Run("adds an existing user with a role and records MEMBER_ADDED", func(t *testing.T) {
			u := s.NewUser(t, "Mia")
			var got struct {
				AddMember struct {
					ID, Role  string
					User      struct{ ID, Email string }
					Workspace struct{ ID string }
				}
			}
			add(owner.Token, u.Email, "MAKER").RequireOK(t).Decode(t, &got)
			m := got.AddMember
			if m.Role != "MAKER" || m.User.ID != u.ID || m.Workspace.ID != ws.ID {
				t.Errorf("membership = %+v, want %s as MAKER of %s", m, u.ID, ws.ID)
			}

			var read struct{ Workspace *workspaceData }
			decode(t, s, u.Token, workspaceQuery, vars{"slug": ws.Slug}, &read)
			if read.Workspace == nil || read.Workspace.ViewerRole != "MAKER" {
				t.Errorf("the new member reads workspace %+v, want it with viewerRole MAKER", read.Workspace)
			}
			if kinds := workspaceEventKinds(t, s, ws.ID); !slices.Contains(kinds, "MEMBER_ADDED") {
				t.Errorf("workspace events = %v, want a MEMBER_ADDED", kinds)
			}
		})

		t.Run("finds the user whatever the email's case", func(t *testing.T) {
			u := s.NewUser(t, "Vic")
			add(owner.Token, strings.ToUpper(u.Email), "VIEWER").RequireOK(t)
		})

		t.Run("refuses an email nobody signed up with", func(t *testing.T) {
			add(owner.Token, "nobody@example.test", "VIEWER").RequireError(t, "NOT_FOUND", "")
		})

		t.Run("refuses to add a member twice", func(t *testing.T) {
			u := s.NewUser(t, "Twice")
			add(owner.Token, u.Email, "VIEWER").RequireOK(t)
			add(owner.Token, u.Email, "MAKER").RequireError(t, "CONFLICT", "")
		})

		t.Run("does not let a maker add members", func(t *testing.T) {
			maker := s.NewMember(t, owner.Token, ws.ID, "MAKER")
			u := s.NewUser(t, "Friend")
			add(maker.Token, u.Email, "VIEWER").RequireError(t, "FORBIDDEN", "")
		})

		t.Run("hides the workspace from a non-member", func(t *testing.T) {
			outsider := s.NewUser(t, "Otto")
			add(outsider.Token, outsider.Email, "OWNER").RequireError(t, "NOT_FOUND", "")
		})
	})
}

func TestWorkspacesAreIsolated(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		a := s.NewLoop(t)
		b := s.NewLoop(t)
		bFeedback := s.LeaveFeedback(t, b.Owner.Token, b.Iteration.ID, nil)
		nodeQuery := `query($id: ID!) { node(id: $id) { id } }`

		t.Run("a member of A reads B's slug as no workspace", func(t *testing.T) {
			requireHidden(t, s.Do(t, a.Owner.Token, `query($slug: String!) { workspace(slug: $slug) { id } }`,
				vars{"slug": b.Workspace.Slug}), "workspace")
		})

		t.Run("a member of A reads B's prototype as no prototype", func(t *testing.T) {
			requireHidden(t, s.Do(t, a.Owner.Token, `query($w: String!, $p: String!) { prototype(workspace: $w, slug: $p) { id } }`,
				vars{"w": b.Workspace.Slug, "p": b.Prototype.Slug}), "prototype")
		})

		for name, id := range map[string]string{
			"workspace": b.Workspace.ID, "prototype": b.Prototype.ID, "iteration": b.Iteration.ID,
			"feedback": bFeedback, "owner": b.Owner.ID,
		} {
			t.Run("a member of A cannot read B's "+name+" by its ID", func(t *testing.T) {
				requireHidden(t, s.Do(t, a.Owner.Token, nodeQuery, vars{"id": id}), "node")
			})
		}

		t.Run("a member of A cannot create a prototype in B", func(t *testing.T) {
			s.Do(t, a.Owner.Token, `mutation($in: CreatePrototypeInput!) { createPrototype(input: $in) { id } }`,
				vars{"in": vars{"workspaceID": b.Workspace.ID, "title": "Intruder", "slug": "intruder"}}).
				RequireError(t, "NOT_FOUND", "")
		})

		t.Run("a member of A cannot leave feedback in B", func(t *testing.T) {
			s.Do(t, a.Owner.Token, `mutation($in: LeaveFeedbackInput!) { leaveFeedback(input: $in) { id } }`,
				vars{"in": vars{"iterationID": b.Iteration.ID, "kind": "BUG", "body": "Let me in"}}).
				RequireError(t, "NOT_FOUND", "")
		})

		t.Run("a member of A cannot change B's feedback", func(t *testing.T) {
			s.Do(t, a.Owner.Token, `mutation($id: ID!) { setFeedbackStatus(id: $id, status: DECLINED) { id } }`,
				vars{"id": bFeedback}).RequireError(t, "NOT_FOUND", "")
		})

		t.Run("B's owner still sees B's feedback", func(t *testing.T) {
			var got struct{ Node *struct{ ID string } }
			decode(t, s, b.Owner.Token, nodeQuery, vars{"id": bFeedback}, &got)
			if got.Node == nil || got.Node.ID != bFeedback {
				t.Errorf("node = %+v, want %s", got.Node, bFeedback)
			}
		})
	})
}

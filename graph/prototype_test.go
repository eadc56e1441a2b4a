package graph_test

import (
	"slices"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

const createPrototypeMutation = `mutation($in: CreatePrototypeInput!) {
	createPrototype(input: $in) {
		id title slug problem missionLink status tags
		owner { id } workspace { id }
	}
}`

const updatePrototypeMutation = `mutation($id: ID!, $in: UpdatePrototypeInput!) {
	updatePrototype(id: $id, input: $in) { id title slug problem missionLink tags }
}`

const setPrototypeStatusMutation = `mutation($id: ID!, $status: PrototypeStatus!) {
	setPrototypeStatus(id: $id, status: $status) { id status }
}`

type prototypeData struct {
	ID, Title, Slug, Problem, MissionLink, Status string
	Tags                                          []string
	Owner, Workspace                              struct{ ID string }
}

func TestCreatePrototype(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		owner := s.NewUser(t, "Olive")
		ws := s.NewWorkspace(t, owner.Token)
		maker := s.NewMember(t, owner.Token, ws.ID, "MAKER")
		viewer := s.NewMember(t, owner.Token, ws.ID, "VIEWER")
		outsider := s.NewUser(t, "Otto")
		valid := func(change vars) vars {
			in := vars{
				"workspaceID": ws.ID,
				"title":       "Shift sign-up in one tap",
				"slug":        "one-tap-shifts",
				"problem":     "Volunteers phone in to sign up for shifts.",
				"missionLink": "More shifts filled, more meals served.",
				"tags":        []string{"volunteers", "mobile"},
			}
			for k, v := range change {
				in[k] = v
			}
			return vars{"in": in}
		}

		t.Run("creates a DRAFT owned by its maker and records PROTOTYPE_CREATED", func(t *testing.T) {
			var got struct{ CreatePrototype prototypeData }
			decode(t, s, maker.Token, createPrototypeMutation, valid(nil), &got)
			p := got.CreatePrototype
			if p.Title != "Shift sign-up in one tap" || p.Slug != "one-tap-shifts" ||
				p.Problem != "Volunteers phone in to sign up for shifts." || p.MissionLink != "More shifts filled, more meals served." ||
				!slices.Equal(p.Tags, []string{"volunteers", "mobile"}) {
				t.Errorf("created %+v, want the input's fields", p)
			}
			if p.Status != "DRAFT" || p.Owner.ID != maker.ID || p.Workspace.ID != ws.ID {
				t.Errorf("created status %s owner %s workspace %s, want DRAFT, %s, %s", p.Status, p.Owner.ID, p.Workspace.ID, maker.ID, ws.ID)
			}

			var read struct{ Prototype *struct{ ID string } }
			decode(t, s, viewer.Token, `query($w: String!, $p: String!) { prototype(workspace: $w, slug: $p) { id } }`,
				vars{"w": ws.Slug, "p": "one-tap-shifts"}, &read)
			if read.Prototype == nil || read.Prototype.ID != p.ID {
				t.Errorf("prototype(workspace, slug) = %+v, want %s", read.Prototype, p.ID)
			}

			events := expectEvents(t, s, owner.Token, p.ID, 0, "PROTOTYPE_CREATED")
			if e := events[0]; e.Subject == nil || e.Subject.ID != p.ID || e.Actor == nil || e.Actor.DisplayName != maker.Name {
				t.Errorf("PROTOTYPE_CREATED subject %+v actor %+v, want the prototype and %s", e.Subject, e.Actor, maker.Name)
			}
		})

		t.Run("allows the same slug in another workspace", func(t *testing.T) {
			other := s.NewWorkspace(t, owner.Token)
			s.Do(t, owner.Token, createPrototypeMutation, valid(vars{"workspaceID": other.ID})).RequireOK(t)
		})

		t.Run("reads an unknown slug as no prototype", func(t *testing.T) {
			requireHidden(t, s.Do(t, owner.Token, `query($w: String!) { prototype(workspace: $w, slug: "nothing-here") { id } }`,
				vars{"w": ws.Slug}), "prototype")
		})

		for _, tc := range []struct {
			name, token, code, field string
			change                   vars
		}{
			{"refuses a slug taken in the workspace", owner.Token, "CONFLICT", "", vars{"slug": "one-tap-shifts"}},
			{"refuses an empty title", owner.Token, "BAD_USER_INPUT", "title", vars{"title": ""}},
			{"refuses a title over 200 characters", owner.Token, "BAD_USER_INPUT", "title", vars{"title": long(201)}},
			{"refuses a malformed slug", owner.Token, "BAD_USER_INPUT", "slug", vars{"slug": "One Tap!"}},
			{"refuses a problem over 10,000 characters", owner.Token, "BAD_USER_INPUT", "problem", vars{"problem": long(10_001)}},
			{"refuses an empty tag", owner.Token, "BAD_USER_INPUT", "tags", vars{"tags": []string{""}}},
			{"refuses more than 20 tags", owner.Token, "BAD_USER_INPUT", "tags", vars{"tags": slices.Repeat([]string{"t"}, 21)}},
			{"refuses a malformed workspace ID", owner.Token, "BAD_USER_INPUT", "", vars{"workspaceID": "ws_?"}},
			{"does not let a viewer create one", viewer.Token, "FORBIDDEN", "", vars{"slug": "viewers-idea"}},
			{"hides the workspace from a non-member", outsider.Token, "NOT_FOUND", "", vars{"slug": "outsiders-idea"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				change := vars{"slug": "fresh-slug"}
				for k, v := range tc.change {
					change[k] = v
				}
				s.Do(t, tc.token, createPrototypeMutation, valid(change)).RequireError(t, tc.code, tc.field)
			})
		}
	})
}

func TestUpdatePrototype(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		maker := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "MAKER")
		viewer := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
		outsider := s.NewUser(t, "Otto")
		other := s.NewPrototype(t, loop.Owner.Token, loop.Workspace.ID)
		p := loop.Prototype

		t.Run("lets a maker change the details and records PROTOTYPE_UPDATED", func(t *testing.T) {
			mark := lastSeq(t, s, maker.Token, p.ID)
			var got struct{ UpdatePrototype prototypeData }
			decode(t, s, maker.Token, updatePrototypeMutation, vars{"id": p.ID, "in": vars{
				"title": "Sharper title", "problem": "Sharper problem.", "tags": []string{"a"}, "appendTags": []string{"b"},
			}}, &got)
			u := got.UpdatePrototype
			if u.Title != "Sharper title" || u.Problem != "Sharper problem." || u.Slug != p.Slug || !slices.Equal(u.Tags, []string{"a", "b"}) {
				t.Errorf("updated to %+v, want the new title, problem and tags [a b] and the old slug", u)
			}
			expectEvents(t, s, maker.Token, p.ID, mark, "PROTOTYPE_UPDATED")
		})

		for _, tc := range []struct {
			name, token, code, field string
			in                       vars
		}{
			{"refuses a title over 200 characters", maker.Token, "BAD_USER_INPUT", "title", vars{"title": long(201)}},
			{"refuses an empty title", maker.Token, "BAD_USER_INPUT", "title", vars{"title": ""}},
			{"refuses a malformed slug", maker.Token, "BAD_USER_INPUT", "slug", vars{"slug": "under_score"}},
			{"refuses a slug another prototype of the workspace has", maker.Token, "CONFLICT", "", vars{"slug": other.Slug}},
			{"does not let a viewer change it", viewer.Token, "FORBIDDEN", "", vars{"title": "Viewer's"}},
			{"hides it from a non-member", outsider.Token, "NOT_FOUND", "", vars{"title": "Outsider's"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				mark := lastSeq(t, s, maker.Token, p.ID)
				s.Do(t, tc.token, updatePrototypeMutation, vars{"id": p.ID, "in": tc.in}).RequireError(t, tc.code, tc.field)
				expectEvents(t, s, maker.Token, p.ID, mark) // a refused change records nothing
			})
		}
	})
}

func TestSetPrototypeStatus(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		owner := s.NewUser(t, "Olive")
		ws := s.NewWorkspace(t, owner.Token)
		viewer := s.NewMember(t, owner.Token, ws.ID, "VIEWER")
		set := func(token, id, status string) *servertest.Response {
			return s.Do(t, token, setPrototypeStatusMutation, vars{"id": id, "status": status})
		}
		status := func(id string) string {
			var got struct{ Node struct{ Status string } }
			decode(t, s, owner.Token, `query($id: ID!) { node(id: $id) { ... on Prototype { status } } }`, vars{"id": id}, &got)
			return got.Node.Status
		}
		// inStatus returns a new prototype moved along allowed steps to status.
		inStatus := func(want string) string {
			p := s.NewPrototype(t, owner.Token, ws.ID).ID
			path := map[string][]string{
				"DRAFT": nil, "TESTING": {"TESTING"}, "ADOPTED": {"TESTING", "ADOPTED"}, "SHELVED": {"TESTING", "SHELVED"},
			}[want]
			for _, st := range path {
				set(owner.Token, p, st).RequireOK(t)
			}
			return p
		}

		t.Run("follows every allowed move and records each", func(t *testing.T) {
			p := s.NewPrototype(t, owner.Token, ws.ID).ID
			for _, to := range []string{"TESTING", "SHELVED", "TESTING", "ADOPTED"} {
				from := status(p)
				mark := lastSeq(t, s, owner.Token, p)
				var got struct{ SetPrototypeStatus struct{ ID, Status string } }
				set(owner.Token, p, to).RequireOK(t).Decode(t, &got)
				if got.SetPrototypeStatus.Status != to {
					t.Fatalf("%s → %s: status is %s", from, to, got.SetPrototypeStatus.Status)
				}
				expectEvents(t, s, owner.Token, p, mark, "PROTOTYPE_STATUS_CHANGED")
			}
		})

		for _, tc := range []struct{ from, to string }{
			{"DRAFT", "ADOPTED"},
			{"DRAFT", "SHELVED"},
			{"TESTING", "DRAFT"},
			{"ADOPTED", "TESTING"},
			{"ADOPTED", "SHELVED"},
			{"ADOPTED", "DRAFT"},
			{"SHELVED", "ADOPTED"},
			{"SHELVED", "DRAFT"},
		} {
			t.Run("refuses "+tc.from+" → "+tc.to, func(t *testing.T) {
				p := inStatus(tc.from)
				mark := lastSeq(t, s, owner.Token, p)
				set(owner.Token, p, tc.to).RequireError(t, "BAD_USER_INPUT", "")
				if got := status(p); got != tc.from {
					t.Errorf("status after the refused move is %s, want %s", got, tc.from)
				}
				expectEvents(t, s, owner.Token, p, mark)
			})
		}

		t.Run("does not let a viewer move it", func(t *testing.T) {
			set(viewer.Token, inStatus("DRAFT"), "TESTING").RequireError(t, "FORBIDDEN", "")
		})
	})
}

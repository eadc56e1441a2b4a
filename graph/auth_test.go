package graph_test

import (
	"strings"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

const signUpMutation = `mutation($in: SignUpInput!) {
	signUp(input: $in) { token user { id email name displayName } }
}`

const logInMutation = `mutation($in: LogInInput!) {
	logIn(input: $in) { token user { id email } }
}`

const viewerQuery = `{ viewer { id email name displayName } }`

type authPayload struct {
	Token string
	User  struct{ ID, Email, Name, DisplayName string }
}

func TestSignUp(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		t.Run("creates an account with a lowercased email and signs it in", func(t *testing.T) {
			var got struct{ SignUp authPayload }
			decode(t, s, "", signUpMutation, vars{"in": vars{
				"email": "  Ada.Lovelace@Example.TEST ", "name": "Ada", "password": "0123456789",
			}}, &got)
			u := got.SignUp.User
			if u.Email != "ada.lovelace@example.test" || u.Name != "Ada" || u.DisplayName != "Ada" {
				t.Errorf("user = %+v, want email ada.lovelace@example.test, name and displayName Ada", u)
			}
			if !strings.HasPrefix(got.SignUp.Token, "plt_") {
				t.Errorf("token %q lacks the plt_ prefix", got.SignUp.Token)
			}

			var me struct{ Viewer *struct{ ID, Email string } }
			decode(t, s, got.SignUp.Token, viewerQuery, nil, &me)
			if me.Viewer == nil || me.Viewer.ID != u.ID {
				t.Errorf("viewer with the new token = %+v, want user %s", me.Viewer, u.ID)
			}
		})

		t.Run("refuses an email taken in another case", func(t *testing.T) {
			in := vars{"email": "grace@example.test", "name": "Grace", "password": servertest.Password}
			s.Do(t, "", signUpMutation, vars{"in": in}).RequireOK(t)
			in["email"] = "Grace@EXAMPLE.test"
			s.Do(t, "", signUpMutation, vars{"in": in}).RequireError(t, "CONFLICT", "")
		})

		for _, tc := range []struct {
			name  string
			in    vars
			field string
		}{
			{"refuses a password under 10 characters", vars{"password": "012345678"}, "password"},
			{"refuses a password over 1024 characters", vars{"password": long(1025)}, "password"},
			{"refuses a malformed email", vars{"email": "not-an-email"}, "email"},
			{"refuses an empty name", vars{"name": ""}, "name"},
			{"refuses a name over 200 characters", vars{"name": long(201)}, "name"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				in := vars{"email": "valid" + tc.field + "@example.test", "name": "Valid", "password": servertest.Password}
				for k, v := range tc.in {
					in[k] = v
				}
				s.Do(t, "", signUpMutation, vars{"in": in}).RequireError(t, "BAD_USER_INPUT", tc.field)
			})
		}
	})
}

func TestLogIn(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		u := s.NewUser(t, "Lin")

		t.Run("issues a new working token for the right password, whatever the email's case", func(t *testing.T) {
			var got struct{ LogIn authPayload }
			decode(t, s, "", logInMutation, vars{"in": vars{
				"email": strings.ToUpper(u.Email), "password": servertest.Password,
			}}, &got)
			if got.LogIn.User.ID != u.ID {
				t.Errorf("logged in as %s, want %s", got.LogIn.User.ID, u.ID)
			}
			if got.LogIn.Token == "" || got.LogIn.Token == u.Token {
				t.Errorf("logIn returned token %q, want a new one", got.LogIn.Token)
			}
			var me struct{ Viewer *struct{ ID string } }
			decode(t, s, got.LogIn.Token, viewerQuery, nil, &me)
			if me.Viewer == nil || me.Viewer.ID != u.ID {
				t.Errorf("viewer = %+v, want %s", me.Viewer, u.ID)
			}
		})

		for _, tc := range []struct {
			name, email, password string
		}{
			{"refuses a wrong password", u.Email, "wrong password!"},
			{"refuses an unknown email the same way", "nobody@example.test", servertest.Password},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s.Do(t, "", logInMutation, vars{"in": vars{"email": tc.email, "password": tc.password}}).
					RequireError(t, "UNAUTHENTICATED", "")
			})
		}
	})
}

func TestViewerAndTokens(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)

		t.Run("viewer is the token's user", func(t *testing.T) {
			var got struct {
				Viewer *struct{ ID, Email, Name string }
			}
			decode(t, s, loop.Owner.Token, viewerQuery, nil, &got)
			if got.Viewer == nil || got.Viewer.ID != loop.Owner.ID || got.Viewer.Email != loop.Owner.Email {
				t.Errorf("viewer = %+v, want %+v", got.Viewer, loop.Owner)
			}
		})

		t.Run("viewer is null without a token", func(t *testing.T) {
			var got struct{ Viewer *struct{ ID string } }
			decode(t, s, "", viewerQuery, nil, &got)
			if got.Viewer != nil {
				t.Errorf("viewer = %+v, want null", got.Viewer)
			}
		})

		for _, tc := range []struct{ name, token string }{
			{"an unknown bearer token is UNAUTHENTICATED", "plt_notarealtokenatall"},
			{"a bearer token of the wrong form is UNAUTHENTICATED", "nonsense"},
			{"a real token with a character added is UNAUTHENTICATED", loop.Owner.Token + "x"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s.Do(t, tc.token, viewerQuery, nil).RequireError(t, "UNAUTHENTICATED", "")
			})
		}

		for _, tc := range []struct {
			name, query string
			vars        vars
		}{
			{"an anonymous caller cannot read a workspace", `query($slug: String!) { workspace(slug: $slug) { id } }`,
				vars{"slug": loop.Workspace.Slug}},
			{"an anonymous caller cannot read a node", `query($id: ID!) { node(id: $id) { id } }`,
				vars{"id": loop.Prototype.ID}},
			{"an anonymous caller cannot read a prototype", `query($w: String!, $p: String!) { prototype(workspace: $w, slug: $p) { id } }`,
				vars{"w": loop.Workspace.Slug, "p": loop.Prototype.Slug}},
			{"an anonymous caller cannot create a workspace", `mutation { createWorkspace(input: {name: "Anon", slug: "anon"}) { id } }`,
				nil},
			{"an anonymous caller cannot leave feedback", `mutation($it: ID!) { leaveFeedback(input: {iterationID: $it, kind: BUG, body: "x"}) { id } }`,
				vars{"it": loop.Iteration.ID}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s.Do(t, "", tc.query, tc.vars).RequireError(t, "UNAUTHENTICATED", "")
			})
		}
	})
}

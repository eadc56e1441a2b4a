package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/graph"
	"github.com/protoloop/protoloop/server/servertest"
)

const tokensQuery = `{ viewer { tokens { id label createdAt lastUsedAt expiresAt revokedAt } } }`

const revokeTokenMutation = `mutation($id: ID!) { revokeToken(id: $id) { id revokedAt } }`

const logOutMutation = `mutation { logOut }`

// tokenData is an AuthToken as the API shows it.
type tokenData struct {
	ID         string
	Label      string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
}

// tokensOf lists the working tokens of token's holder, as they see them.
func tokensOf(t *testing.T, s *servertest.Server, token string) []tokenData {
	t.Helper()
	var got struct {
		Viewer struct{ Tokens []tokenData }
	}
	decode(t, s, token, tokensQuery, nil, &got)
	return got.Viewer.Tokens
}

// logInAgain signs a user in once more and returns the new token.
func logInAgain(t *testing.T, s *servertest.Server, u servertest.User) string {
	t.Helper()
	var got struct{ LogIn struct{ Token string } }
	decode(t, s, "", logInMutation, vars{"in": vars{"email": u.Email, "password": servertest.Password}}, &got)
	return got.LogIn.Token
}

func TestTokens(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner

		t.Run("a user lists their working tokens, newest first", func(t *testing.T) {
			second := logInAgain(t, s, owner)
			tokens := tokensOf(t, s, second)
			if len(tokens) != 2 {
				t.Fatalf("%d tokens, want 2 (sign-up and log-in)", len(tokens))
			}
			if tokens[0].CreatedAt.Before(tokens[1].CreatedAt) {
				t.Errorf("tokens are oldest first: %v, %v", tokens[0].CreatedAt, tokens[1].CreatedAt)
			}
			for _, tok := range tokens {
				if tok.RevokedAt != nil || tok.ExpiresAt == nil || !tok.ExpiresAt.After(time.Now()) {
					t.Errorf("token %+v: want an unrevoked token that expires in the future", tok)
				}
			}
		})

		t.Run("nobody sees another user's tokens", func(t *testing.T) {
			member := s.NewMember(t, owner.Token, loop.Workspace.ID, "VIEWER")
			var got struct {
				Workspace struct {
					Memberships []struct {
						User struct {
							ID     string
							Tokens []tokenData
						}
					}
				}
			}
			decode(t, s, member.Token, `query($slug: String!) { workspace(slug: $slug) { memberships { user { id tokens { id } } } } }`,
				vars{"slug": loop.Workspace.Slug}, &got)
			for _, m := range got.Workspace.Memberships {
				if m.User.ID != member.ID && len(m.User.Tokens) != 0 {
					t.Errorf("a member sees %d tokens of user %s, want none", len(m.User.Tokens), m.User.ID)
				}
			}
		})

		t.Run("a revoked token is gone from the list and UNAUTHENTICATED", func(t *testing.T) {
			spare := logInAgain(t, s, owner)
			before := tokensOf(t, s, owner.Token)
			spareID := before[0].ID // the newest
			var got struct{ RevokeToken tokenData }
			decode(t, s, owner.Token, revokeTokenMutation, vars{"id": spareID}, &got)
			if got.RevokeToken.ID != spareID || got.RevokeToken.RevokedAt == nil {
				t.Errorf("revokeToken = %+v, want %s revoked", got.RevokeToken, spareID)
			}
			s.Do(t, spare, viewerQuery, nil).RequireError(t, "UNAUTHENTICATED", "")
			after := tokensOf(t, s, owner.Token)
			if len(after) != len(before)-1 {
				t.Errorf("%d tokens listed after revoking one of %d", len(after), len(before))
			}
			s.Do(t, owner.Token, revokeTokenMutation, vars{"id": spareID}).RequireOK(t)
		})

		t.Run("another user's token is NOT_FOUND", func(t *testing.T) {
			stranger := s.NewUser(t, "Stranger")
			theirs := tokensOf(t, s, stranger.Token)[0].ID
			s.Do(t, owner.Token, revokeTokenMutation, vars{"id": theirs}).RequireError(t, "NOT_FOUND", "")
			s.Do(t, stranger.Token, viewerQuery, nil).RequireOK(t)
		})

		t.Run("an anonymous caller may neither revoke nor log out", func(t *testing.T) {
			s.Do(t, "", revokeTokenMutation, vars{"id": tokensOf(t, s, owner.Token)[0].ID}).RequireError(t, "UNAUTHENTICATED", "")
			s.Do(t, "", logOutMutation, nil).RequireError(t, "UNAUTHENTICATED", "")
		})

		t.Run("logging out revokes the request's token and no other", func(t *testing.T) {
			session := logInAgain(t, s, owner)
			var got struct{ LogOut bool }
			decode(t, s, session, logOutMutation, nil, &got)
			if !got.LogOut {
				t.Errorf("logOut = false, want true")
			}
			s.Do(t, session, viewerQuery, nil).RequireError(t, "UNAUTHENTICATED", "")
			s.Do(t, owner.Token, viewerQuery, nil).RequireOK(t)
		})
	})
}

func TestAuthenticateCostsAFixedNumberOfStatements(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		cost := func(t *testing.T, token string) int64 {
			t.Helper()
			before := s.Statements()
			s.Do(t, token, `{ __typename }`, nil).RequireOK(t)
			return s.Statements() - before
		}

		newcomer := s.NewUser(t, "Newcomer")
		busy := s.NewUser(t, "Busy")
		var guest string
		for range 3 {
			loop := s.NewLoop(t)
			s.AddMember(t, loop.Owner.Token, loop.Workspace.ID, busy.Email, "VIEWER")
			_, secret := newInvite(t, s, loop.Owner.Token, loop.Prototype.ID, nil)
			redeemAs(t, s, busy.Token, secret, "Busy")
			guest, _ = newGuestOf(t, s, secret, "Guest")
		}

		for _, tc := range []struct {
			name  string
			token string
			want  int64
		}{
			{"a user without workspaces or invites: the token with its memberships and participations, in one", newcomer.Token, 1},
			{"a user in three workspaces testing three prototypes: the same", busy.Token, 1},
			{"a guest: the same", guest, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := cost(t, tc.token); got != tc.want {
					t.Errorf("authenticating cost %d statements, want %d", got, tc.want)
				}
			})
		}
	})
}

func TestTokenUse(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		user := s.NewUser(t, "Uma")

		t.Run("requests write nothing for the token's use", func(t *testing.T) {
			// One request's statements are those of authenticating it:
			// none once the token's identity is cached.
			s.Do(t, user.Token, `{ __typename }`, nil).RequireOK(t)
			before := s.Statements()
			s.Do(t, user.Token, `{ __typename }`, nil).RequireOK(t)
			each := s.Statements() - before

			before = s.Statements()
			for range 50 {
				s.Do(t, user.Token, `{ __typename }`, nil).RequireOK(t)
			}
			// The server's own flush of lastUsedAt is not a request's
			// statement: it is not counted.
			if extra := s.Statements() - before - 50*each; extra != 0 {
				t.Errorf("50 requests cost %d statements more than 50 × %d", extra, each)
			}
		})

		t.Run("a flush writes lastUsedAt of every token touched, in one statement", func(t *testing.T) {
			other := logInAgain(t, s, user)
			ids := make([]gid.ID, 0, 2)
			for _, tok := range tokensOf(t, s, other) {
				id, err := gid.Parse(tok.ID)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			use := graph.NewTokenUse(s.DB.Client)
			for range 3 {
				for _, id := range ids {
					use.Touch(id)
				}
			}
			before, flushedAt := s.Statements(), time.Now()
			n, err := use.Flush(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n != len(ids) {
				t.Errorf("flush wrote %d tokens, want %d", n, len(ids))
			}
			// (The server's own flush, in between or not, is not counted.)
			if got := s.Statements() - before; got != 1 {
				t.Errorf("flush ran %d statements, want 1", got)
			}
			for _, tok := range tokensOf(t, s, other) {
				if tok.LastUsedAt == nil || tok.LastUsedAt.Before(flushedAt.Add(-time.Second)) {
					t.Errorf("token %s: lastUsedAt = %v, want about %v", tok.ID, tok.LastUsedAt, flushedAt)
				}
			}

			for _, id := range ids {
				use.Touch(id)
			}
			if n, err := use.Flush(context.Background()); err != nil || n != 0 {
				t.Errorf("a flush within the minute wrote %d tokens (%v), want none", n, err)
			}
		})

		t.Run("a flush with nothing touched writes nothing", func(t *testing.T) {
			before := s.Statements()
			if n, err := graph.NewTokenUse(s.DB.Client).Flush(context.Background()); err != nil || n != 0 {
				t.Errorf("flush = %d, %v; want 0, nil", n, err)
			}
			if got := s.Statements() - before; got != 0 {
				t.Errorf("an empty flush ran %d statements", got)
			}
		})
	})
}

package graph_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/protoloop/protoloop/server/servertest"
)

const createInviteMutation = `mutation($in: CreateInviteInput!) {
	createInvite(input: $in) {
		token
		invite { id role expiresAt maxUses uses revokedAt prototype { id } createdBy { id } }
	}
}`

const revokeInviteMutation = `mutation($id: ID!) { revokeInvite(id: $id) { id uses revokedAt } }`

const redeemInviteMutation = `mutation($in: RedeemInviteInput!) {
	redeemInvite(input: $in) {
		token
		participant { id displayName email user { id } }
		prototype { id title }
	}
}`

const claimGuestMutation = `mutation($t: String!) { claimGuest(guestToken: $t) { id displayName user { id } } }`

// inviteData is an invite as createInvite and revokeInvite show it.
type inviteData struct {
	ID        string
	Role      string
	ExpiresAt *time.Time
	MaxUses   *int
	Uses      int
	RevokedAt *time.Time
	Prototype struct{ ID string }
	CreatedBy struct{ ID string }
}

// redeemed is what redeemInvite returns.
type redeemed struct {
	Token       *string
	Participant struct {
		ID, DisplayName string
		Email           *string
		User            *struct{ ID string }
	}
	Prototype struct{ ID, Title string }
}

// newInvite creates an invite to a prototype with token, an editor's,
// and returns it and its secret. extra adds to CreateInviteInput.
func newInvite(t *testing.T, s *servertest.Server, token, prototypeID string, extra vars) (inviteData, string) {
	t.Helper()
	in := vars{"prototypeID": prototypeID}
	for k, v := range extra {
		in[k] = v
	}
	var got struct {
		CreateInvite struct {
			Token  string
			Invite inviteData
		}
	}
	decode(t, s, token, createInviteMutation, vars{"in": in}, &got)
	return got.CreateInvite.Invite, got.CreateInvite.Token
}

// redeemAs redeems an invite's secret with token ("" for a guest) and
// returns what it gave.
func redeemAs(t *testing.T, s *servertest.Server, token, secret, name string) redeemed {
	t.Helper()
	var got struct{ RedeemInvite redeemed }
	decode(t, s, token, redeemInviteMutation, vars{"in": vars{"token": secret, "displayName": name}}, &got)
	return got.RedeemInvite
}

// newGuestOf redeems an invite as a new guest and returns the guest's
// bearer token and participant ID.
func newGuestOf(t *testing.T, s *servertest.Server, secret, name string) (token, participantID string) {
	t.Helper()
	r := redeemAs(t, s, "", secret, name)
	if r.Token == nil {
		t.Fatalf("redeeming as a guest gave no token")
	}
	return *r.Token, r.Participant.ID
}

// seesPrototype reports whether token's holder can read a prototype.
func seesPrototype(t *testing.T, s *servertest.Server, token, prototypeID string) bool {
	t.Helper()
	r := s.Do(t, token, `query($id: ID!) { node(id: $id) { id } }`, vars{"id": prototypeID})
	if len(r.Errors) > 0 {
		if r.Code() != "NOT_FOUND" {
			t.Fatalf("reading prototype %s: %s: %s", prototypeID, r.Code(), r.Errors[0].Message)
		}
		return false
	}
	var got struct{ Node *struct{ ID string } }
	r.Decode(t, &got)
	return got.Node != nil
}

func TestCreateInvite(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		maker := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "MAKER")
		viewer := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
		outsider := s.NewLoop(t).Owner

		t.Run("an owner gets the link's token once, and the invite keeps its limits", func(t *testing.T) {
			mark := lastSeq(t, s, loop.Owner.Token, loop.Prototype.ID)
			expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
			inv, token := newInvite(t, s, loop.Owner.Token, loop.Prototype.ID, vars{"expiresAt": expires, "maxUses": 5})
			if !strings.HasPrefix(token, "pli_") || len(token) < 40 {
				t.Errorf("token %q: want pli_ and 32 random bytes", token)
			}
			if inv.Role != "TESTER" || inv.Uses != 0 || inv.MaxUses == nil || *inv.MaxUses != 5 ||
				inv.ExpiresAt == nil || !inv.ExpiresAt.Equal(expires) || inv.RevokedAt != nil {
				t.Errorf("invite = %+v, want a TESTER invite for 5 uses until %v", inv, expires)
			}
			if inv.Prototype.ID != loop.Prototype.ID || inv.CreatedBy.ID != loop.Owner.ID {
				t.Errorf("invite is for %s by %s, want %s by %s", inv.Prototype.ID, inv.CreatedBy.ID, loop.Prototype.ID, loop.Owner.ID)
			}
			events := expectEvents(t, s, loop.Owner.Token, loop.Prototype.ID, mark, "INVITE_CREATED")
			if events[0].Subject == nil || events[0].Subject.ID != inv.ID {
				t.Errorf("INVITE_CREATED is about %+v, want the invite %s", events[0].Subject, inv.ID)
			}
		})

		t.Run("a maker may invite, without limits", func(t *testing.T) {
			inv, _ := newInvite(t, s, maker.Token, loop.Prototype.ID, nil)
			if inv.ExpiresAt != nil || inv.MaxUses != nil {
				t.Errorf("invite = %+v, want no expiry and no limit on uses", inv)
			}
		})

		t.Run("the prototype lists its invites to its editors", func(t *testing.T) {
			var got struct {
				Node struct{ Invites struct{ TotalCount int } }
			}
			decode(t, s, maker.Token, `query($id: ID!) { node(id: $id) { ... on Prototype { invites { totalCount } } } }`,
				vars{"id": loop.Prototype.ID}, &got)
			if got.Node.Invites.TotalCount != 2 {
				t.Errorf("invites: %d, want 2", got.Node.Invites.TotalCount)
			}
		})

		for _, tc := range []struct {
			name, token string
			in          vars
			code, field string
		}{
			{"a viewer may not invite", viewer.Token, nil, "FORBIDDEN", ""},
			{"a member of another workspace cannot find the prototype", outsider.Token, nil, "NOT_FOUND", ""},
			{"an anonymous caller must sign in", "", nil, "UNAUTHENTICATED", ""},
			{"an expiry in the past is refused", loop.Owner.Token, vars{"expiresAt": time.Now().Add(-time.Minute)}, "BAD_USER_INPUT", "expiresAt"},
			{"no uses at all is refused", loop.Owner.Token, vars{"maxUses": 0}, "BAD_USER_INPUT", "maxUses"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				in := vars{"prototypeID": loop.Prototype.ID}
				for k, v := range tc.in {
					in[k] = v
				}
				s.Do(t, tc.token, createInviteMutation, vars{"in": in}).RequireError(t, tc.code, tc.field)
			})
		}
	})
}

func TestRevokeInvite(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		viewer := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
		inv, secret := newInvite(t, s, loop.Owner.Token, loop.Prototype.ID, nil)
		guest, _ := newGuestOf(t, s, secret, "Early guest")

		t.Run("a viewer cannot see invites to revoke them", func(t *testing.T) {
			s.Do(t, viewer.Token, revokeInviteMutation, vars{"id": inv.ID}).RequireError(t, "NOT_FOUND", "")
		})

		t.Run("revoking stops the link, once, and the guests it admitted stay", func(t *testing.T) {
			mark := lastSeq(t, s, loop.Owner.Token, loop.Prototype.ID)
			var first, again struct{ RevokeInvite inviteData }
			decode(t, s, loop.Owner.Token, revokeInviteMutation, vars{"id": inv.ID}, &first)
			if first.RevokeInvite.RevokedAt == nil {
				t.Fatalf("revoked invite has no revokedAt")
			}
			decode(t, s, loop.Owner.Token, revokeInviteMutation, vars{"id": inv.ID}, &again)
			if again.RevokeInvite.RevokedAt == nil || !again.RevokeInvite.RevokedAt.Equal(*first.RevokeInvite.RevokedAt) {
				t.Errorf("revoking again moved revokedAt from %v to %v", first.RevokeInvite.RevokedAt, again.RevokeInvite.RevokedAt)
			}
			expectEvents(t, s, loop.Owner.Token, loop.Prototype.ID, mark, "INVITE_REVOKED")

			s.Do(t, "", redeemInviteMutation, vars{"in": vars{"token": secret, "displayName": "Late"}}).
				RequireError(t, "BAD_USER_INPUT", "token")
			if !seesPrototype(t, s, guest, loop.Prototype.ID) {
				t.Errorf("the guest admitted before the invite was revoked lost access")
			}
		})
	})
}

func TestRedeemInvite(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		other := s.NewPrototype(t, loop.Owner.Token, loop.Workspace.ID)
		_, secret := newInvite(t, s, loop.Owner.Token, loop.Prototype.ID, nil)

		t.Run("a guest gets a token that works on that prototype and nothing else", func(t *testing.T) {
			mark := lastSeq(t, s, loop.Owner.Token, loop.Prototype.ID)
			var got struct{ RedeemInvite redeemed }
			decode(t, s, "", redeemInviteMutation, vars{"in": vars{
				"token": secret, "displayName": "  Grace  ", "email": " Grace@Example.TEST",
			}}, &got)
			r := got.RedeemInvite
			if r.Token == nil || !strings.HasPrefix(*r.Token, "plt_") {
				t.Fatalf("token = %v, want a plt_ bearer token", r.Token)
			}
			if r.Participant.DisplayName != "Grace" || r.Participant.Email == nil ||
				*r.Participant.Email != "grace@example.test" || r.Participant.User != nil {
				t.Errorf("participant = %+v, want guest Grace <grace@example.test> without an account", r.Participant)
			}
			for _, who := range []struct{ name, token string }{{"the guest", *r.Token}, {"the owner", loop.Owner.Token}} {
				var p struct {
					Node struct {
						DisplayName string
						Email       *string
					}
				}
				decode(t, s, who.token, `query($id: ID!) { node(id: $id) { ... on Participant { displayName email } } }`,
					vars{"id": r.Participant.ID}, &p)
				if p.Node.DisplayName != "Grace" || p.Node.Email == nil || *p.Node.Email != "grace@example.test" {
					t.Errorf("%s sees the guest as %q <%v>, want Grace <grace@example.test>", who.name, p.Node.DisplayName, p.Node.Email)
				}
			}
			if r.Prototype.ID != loop.Prototype.ID || r.Prototype.Title != loop.Prototype.Title {
				t.Errorf("prototype = %+v, want %+v", r.Prototype, loop.Prototype)
			}
			events := expectEvents(t, s, loop.Owner.Token, loop.Prototype.ID, mark, "TESTER_JOINED")
			if a := events[0].Actor; a == nil || a.ID != r.Participant.ID {
				t.Errorf("TESTER_JOINED actor = %+v, want the participant %s", a, r.Participant.ID)
			}

			if !seesPrototype(t, s, *r.Token, loop.Prototype.ID) {
				t.Errorf("the guest cannot see the prototype it was invited to")
			}
			if seesPrototype(t, s, *r.Token, other.ID) {
				t.Errorf("the guest can see another prototype of the workspace")
			}
			id := s.LeaveFeedback(t, *r.Token, loop.Iteration.ID, nil)
			var fb struct {
				Node struct{ Author struct{ ID string } }
			}
			decode(t, s, loop.Owner.Token, `query($id: ID!) { node(id: $id) { ... on Feedback { author { id } } } }`,
				vars{"id": id}, &fb)
			if fb.Node.Author.ID != r.Participant.ID {
				t.Errorf("the guest's feedback is by %s, want %s", fb.Node.Author.ID, r.Participant.ID)
			}
		})

		t.Run("an empty email means none", func(t *testing.T) {
			var got struct{ RedeemInvite redeemed }
			decode(t, s, "", redeemInviteMutation, vars{"in": vars{"token": secret, "displayName": "Ann", "email": ""}}, &got)
			if got.RedeemInvite.Participant.Email != nil {
				t.Errorf("email = %q, want null", *got.RedeemInvite.Participant.Email)
			}
		})

		t.Run("a signed-in user becomes a tester on their account", func(t *testing.T) {
			user := s.NewUser(t, "Ulla")
			if seesPrototype(t, s, user.Token, loop.Prototype.ID) {
				t.Fatalf("a stranger can see the prototype before redeeming")
			}
			r := redeemAs(t, s, user.Token, secret, "Ulla tests")
			if r.Token != nil {
				t.Errorf("token = %q, want null for a signed-in user", *r.Token)
			}
			if r.Participant.User == nil || r.Participant.User.ID != user.ID || r.Prototype.ID != loop.Prototype.ID {
				t.Errorf("payload = %+v, want a participant of user %s on %s", r, user.ID, loop.Prototype.ID)
			}
			if !seesPrototype(t, s, user.Token, loop.Prototype.ID) {
				t.Errorf("the user cannot see the prototype after redeeming")
			}

			uses := inviteUses(t, s, loop.Owner.Token, loop.Prototype.ID)
			again := redeemAs(t, s, user.Token, secret, "Ulla again")
			if again.Participant.ID != r.Participant.ID {
				t.Errorf("redeeming again made participant %s, want %s again", again.Participant.ID, r.Participant.ID)
			}
			if got := inviteUses(t, s, loop.Owner.Token, loop.Prototype.ID); got != uses {
				t.Errorf("redeeming again counted a use: %d, want %d", got, uses)
			}
		})

		t.Run("a former member keeps their participant and what they said", func(t *testing.T) {
			member := s.NewUser(t, "Mo")
			membership := s.AddMember(t, loop.Owner.Token, loop.Workspace.ID, member.Email, "VIEWER")
			said := s.LeaveFeedback(t, member.Token, loop.Iteration.ID, nil)
			var before struct {
				Node struct{ Author struct{ ID string } }
			}
			decode(t, s, member.Token, `query($id: ID!) { node(id: $id) { ... on Feedback { author { id } } } }`,
				vars{"id": said}, &before)
			s.Do(t, loop.Owner.Token, removeMemberMutation, vars{"id": membership}).RequireOK(t)
			if seesPrototype(t, s, member.Token, loop.Prototype.ID) {
				t.Fatalf("a removed member still sees the prototype")
			}

			r := redeemAs(t, s, member.Token, secret, "Mo")
			if r.Participant.ID != before.Node.Author.ID {
				t.Errorf("redeeming made participant %s, want their participant %s", r.Participant.ID, before.Node.Author.ID)
			}
			if !seesPrototype(t, s, member.Token, loop.Prototype.ID) {
				t.Errorf("the former member cannot see the prototype as a tester")
			}
		})

		for _, tc := range []struct {
			name string
			in   vars
			want string
		}{
			{"an unknown token is not a valid link", vars{"token": "pli_nothing"}, "this invite link is not valid"},
			{"a bearer token is not an invite link", vars{"token": loop.Owner.Token}, "this invite link is not valid"},
			{"an empty name is refused", vars{"displayName": "   "}, "displayName"},
			{"a name over 200 characters is refused", vars{"displayName": long(201)}, "displayName"},
			{"a malformed email is refused", vars{"email": "not an email"}, "email"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				in := vars{"token": secret, "displayName": "Someone"}
				for k, v := range tc.in {
					in[k] = v
				}
				r := s.Do(t, "", redeemInviteMutation, vars{"in": in})
				if strings.Contains(tc.want, " ") {
					r.RequireError(t, "BAD_USER_INPUT", "token")
					if r.Errors[0].Message != tc.want {
						t.Errorf("message %q, want %q", r.Errors[0].Message, tc.want)
					}
					return
				}
				r.RequireError(t, "BAD_USER_INPUT", tc.want)
			})
		}

		t.Run("a used-up link says so", func(t *testing.T) {
			_, once := newInvite(t, s, loop.Owner.Token, loop.Prototype.ID, vars{"maxUses": 1})
			newGuestOf(t, s, once, "First")
			r := s.Do(t, "", redeemInviteMutation, vars{"in": vars{"token": once, "displayName": "Second"}})
			r.RequireError(t, "BAD_USER_INPUT", "token")
			if want := "this invite link has been used up"; r.Errors[0].Message != want {
				t.Errorf("message %q, want %q", r.Errors[0].Message, want)
			}
		})

		t.Run("a revoked link says so", func(t *testing.T) {
			inv, revoked := newInvite(t, s, loop.Owner.Token, loop.Prototype.ID, nil)
			s.Do(t, loop.Owner.Token, revokeInviteMutation, vars{"id": inv.ID}).RequireOK(t)
			r := s.Do(t, "", redeemInviteMutation, vars{"in": vars{"token": revoked, "displayName": "Late"}})
			r.RequireError(t, "BAD_USER_INPUT", "token")
			if want := "this invite link has been revoked"; r.Errors[0].Message != want {
				t.Errorf("message %q, want %q", r.Errors[0].Message, want)
			}
		})

		t.Run("an expired link says so, and its guests' tokens expire with it", func(t *testing.T) {
			expires := time.Now().Add(1500 * time.Millisecond)
			_, brief := newInvite(t, s, loop.Owner.Token, loop.Prototype.ID, vars{"expiresAt": expires})
			guest, _ := newGuestOf(t, s, brief, "Quick")
			time.Sleep(time.Until(expires) + 100*time.Millisecond)
			r := s.Do(t, "", redeemInviteMutation, vars{"in": vars{"token": brief, "displayName": "Slow"}})
			r.RequireError(t, "BAD_USER_INPUT", "token")
			if want := "this invite link has expired"; r.Errors[0].Message != want {
				t.Errorf("message %q, want %q", r.Errors[0].Message, want)
			}
			s.Do(t, guest, `{ __typename }`, nil).RequireError(t, "UNAUTHENTICATED", "")
		})
	})
}

// inviteUses returns the uses of a prototype's invites, added up.
func inviteUses(t *testing.T, s *servertest.Server, token, prototypeID string) int {
	t.Helper()
	var got struct {
		Node struct {
			Invites struct {
				Edges []struct{ Node struct{ Uses int } }
			}
		}
	}
	decode(t, s, token, `query($id: ID!) { node(id: $id) { ... on Prototype { invites(first: 100) { edges { node { uses } } } } } }`,
		vars{"id": prototypeID}, &got)
	n := 0
	for _, e := range got.Node.Invites.Edges {
		n += e.Node.Uses
	}
	return n
}

func TestRedeemInviteConcurrentlyNeverExceedsMaxUses(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		inv, secret := newInvite(t, s, loop.Owner.Token, loop.Prototype.ID, vars{"maxUses": 3})

		const guests = 10
		var (
			wg               sync.WaitGroup
			mu               sync.Mutex
			admitted, usedUp int
			failures         []error
		)
		start := make(chan struct{})
		for i := range guests {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r, err := s.Post(context.Background(), "", redeemInviteMutation,
					vars{"in": vars{"token": secret, "displayName": "Guest " + string(rune('A'+i))}})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					failures = append(failures, err)
				case r.Err() == nil:
					admitted++
				case r.Code() == "BAD_USER_INPUT" && r.Errors[0].Message == "this invite link has been used up":
					usedUp++
				default:
					failures = append(failures, r.Err())
				}
			}()
		}
		close(start)
		wg.Wait()
		for _, err := range failures {
			t.Errorf("redeem: %v", err)
		}
		if admitted != 3 || usedUp != guests-3 {
			t.Errorf("%d admitted, %d told the link is used up; want 3 and %d", admitted, usedUp, guests-3)
		}
		var got struct {
			Node struct {
				Invites struct{ Edges []struct{ Node inviteData } }
			}
		}
		decode(t, s, loop.Owner.Token, `query($id: ID!) { node(id: $id) { ... on Prototype {
			invites(first: 10) { edges { node { id uses } } } } } }`, vars{"id": loop.Prototype.ID}, &got)
		if edges := got.Node.Invites.Edges; len(edges) != 1 || edges[0].Node.ID != inv.ID || edges[0].Node.Uses != 3 {
			t.Errorf("invites = %+v, want %s with 3 uses", edges, inv.ID)
		}
	})
}

func TestGuestToken(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		_, secret := newInvite(t, s, loop.Owner.Token, loop.Prototype.ID, nil)

		t.Run("a guest has no account", func(t *testing.T) {
			guest, _ := newGuestOf(t, s, secret, "Gus")
			var got struct{ Viewer *struct{ ID string } }
			decode(t, s, guest, viewerQuery, nil, &got)
			if got.Viewer != nil {
				t.Errorf("viewer = %+v, want null for a guest", got.Viewer)
			}
		})

		t.Run("a guest that logs out is UNAUTHENTICATED from then on", func(t *testing.T) {
			guest, _ := newGuestOf(t, s, secret, "Gwen")
			var got struct{ LogOut bool }
			decode(t, s, guest, logOutMutation, nil, &got)
			if !got.LogOut {
				t.Errorf("logOut = false, want true")
			}
			s.Do(t, guest, `query($id: ID!) { node(id: $id) { id } }`, vars{"id": loop.Prototype.ID}).
				RequireError(t, "UNAUTHENTICATED", "")
		})

		t.Run("a guest may not invite others", func(t *testing.T) {
			guest, _ := newGuestOf(t, s, secret, "Gil")
			s.Do(t, guest, createInviteMutation, vars{"in": vars{"prototypeID": loop.Prototype.ID}}).
				RequireError(t, "FORBIDDEN", "")
		})
	})
}

func TestClaimGuest(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		_, secret := newInvite(t, s, loop.Owner.Token, loop.Prototype.ID, nil)

		t.Run("claiming moves the guest's feedback to the account and retires the guest token", func(t *testing.T) {
			guest, participant := newGuestOf(t, s, secret, "Guest Gina")
			said := s.LeaveFeedback(t, guest, loop.Iteration.ID, nil)
			user := s.NewUser(t, "Gina")
			mark := lastSeq(t, s, loop.Owner.Token, loop.Prototype.ID)

			var got struct {
				ClaimGuest struct {
					ID   string
					User *struct{ ID string }
				}
			}
			decode(t, s, user.Token, claimGuestMutation, vars{"t": guest}, &got)
			if got.ClaimGuest.ID != participant || got.ClaimGuest.User == nil || got.ClaimGuest.User.ID != user.ID {
				t.Errorf("claimGuest = %+v, want participant %s of user %s", got.ClaimGuest, participant, user.ID)
			}
			expectEvents(t, s, loop.Owner.Token, loop.Prototype.ID, mark, "TESTER_JOINED")
			s.Do(t, guest, `{ __typename }`, nil).RequireError(t, "UNAUTHENTICATED", "")

			// The account now acts as the participant the guest was.
			again := s.LeaveFeedback(t, user.Token, loop.Iteration.ID, nil)
			var fbs struct {
				Nodes []struct{ Author struct{ ID string } }
			}
			decode(t, s, user.Token, `query($ids: [ID!]!) { nodes(ids: $ids) { ... on Feedback { author { id } } } }`,
				vars{"ids": []string{said, again}}, &fbs)
			for i, fb := range fbs.Nodes {
				if fb.Author.ID != participant {
					t.Errorf("feedback %d is by %s, want %s", i, fb.Author.ID, participant)
				}
			}
			s.Do(t, user.Token, editFeedbackMutation, vars{"id": said, "in": vars{"body": "Said as a guest, kept as me."}}).
				RequireOK(t)
		})

		t.Run("a user who takes part already cannot also take a guest's part", func(t *testing.T) {
			guest, _ := newGuestOf(t, s, secret, "Guest Hal")
			user := s.NewUser(t, "Hal")
			redeemAs(t, s, user.Token, secret, "Hal")
			s.Do(t, user.Token, claimGuestMutation, vars{"t": guest}).RequireError(t, "CONFLICT", "")
			if !seesPrototype(t, s, guest, loop.Prototype.ID) {
				t.Errorf("a refused claim retired the guest token")
			}
		})

		for _, tc := range []struct{ name, token string }{
			{"an unknown token is refused", "plt_nothing"},
			{"a user's own token is not a guest's", loop.Owner.Token},
			{"an invite link is not a guest token", secret},
		} {
			t.Run(tc.name, func(t *testing.T) {
				user := s.NewUser(t, "Claimant")
				s.Do(t, user.Token, claimGuestMutation, vars{"t": tc.token}).RequireError(t, "BAD_USER_INPUT", "guestToken")
			})
		}

		t.Run("a claimed guest token cannot be claimed again", func(t *testing.T) {
			guest, _ := newGuestOf(t, s, secret, "Guest Ida")
			s.Do(t, s.NewUser(t, "Ida").Token, claimGuestMutation, vars{"t": guest}).RequireOK(t)
			s.Do(t, s.NewUser(t, "Not Ida").Token, claimGuestMutation, vars{"t": guest}).
				RequireError(t, "BAD_USER_INPUT", "guestToken")
		})

		t.Run("only a signed-in user may claim", func(t *testing.T) {
			guest, _ := newGuestOf(t, s, secret, "Guest Jo")
			other, _ := newGuestOf(t, s, secret, "Guest Kim")
			s.Do(t, "", claimGuestMutation, vars{"t": guest}).RequireError(t, "UNAUTHENTICATED", "")
			s.Do(t, other, claimGuestMutation, vars{"t": guest}).RequireError(t, "UNAUTHENTICATED", "")
		})
	})
}

package graph_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

// testerWorld is a workspace whose prototype p has testers: two guests
// and a user with an account who is no member, each admitted by an
// invite. p has a published iteration and a draft; the workspace has a
// second prototype q, and another workspace exists beside it.
type testerWorld struct {
	loop          servertest.Loop
	viewer        servertest.User // a VIEWER of the workspace
	draft         string          // a draft iteration of p
	q             servertest.Prototype
	qIteration    string
	other         servertest.Loop
	ada, bo       worldTester // guests
	cy            worldTester // a user with an account, testing p on it
	ownerFeedback string
	// ownerParticipant is the owner's participant on p: the team's, whose
	// name testers see.
	ownerParticipant string
}

// worldTester is a tester: its bearer token, participant, and the feedback
// and trial it left on p.
type worldTester struct {
	name, email string
	token       string
	participant string
	feedback    string
	trial       string
}

func newTesterWorld(t *testing.T, s *servertest.Server) *testerWorld {
	t.Helper()
	w := &testerWorld{loop: s.NewLoop(t), other: s.NewLoop(t)}
	owner := w.loop.Owner.Token
	w.viewer = s.NewMember(t, owner, w.loop.Workspace.ID, "VIEWER")
	w.draft = s.NewIteration(t, owner, w.loop.Prototype.ID).ID
	w.q = s.NewPrototype(t, owner, w.loop.Workspace.ID)
	w.qIteration = s.NewPublishedIteration(t, owner, w.q.ID).ID
	w.ownerFeedback = s.LeaveFeedback(t, owner, w.loop.Iteration.ID, nil)
	var fb struct {
		Node struct{ Author struct{ ID string } }
	}
	decode(t, s, owner, `query($id: ID!) { node(id: $id) { ... on Feedback { author { id } } } }`, vars{"id": w.ownerFeedback}, &fb)
	w.ownerParticipant = fb.Node.Author.ID

	var inv struct{ CreateInvite struct{ Token string } }
	decode(t, s, owner, `mutation($in: CreateInviteInput!) { createInvite(input: $in) { token } }`,
		vars{"in": vars{"prototypeID": w.loop.Prototype.ID}}, &inv)
	secret := inv.CreateInvite.Token
	redeem := func(token, name, email string) worldTester {
		var got struct {
			RedeemInvite struct {
				Token       *string
				Participant struct{ ID string }
			}
		}
		decode(t, s, token, `mutation($in: RedeemInviteInput!) {
			redeemInvite(input: $in) { token participant { id } }
		}`, vars{"in": vars{"token": secret, "displayName": name, "email": email}}, &got)
		tt := worldTester{name: name, email: email, token: token, participant: got.RedeemInvite.Participant.ID}
		if got.RedeemInvite.Token != nil {
			tt.token = *got.RedeemInvite.Token
		}
		tt.trial = s.StartTrial(t, tt.token, w.loop.Iteration.ID)
		tt.feedback = s.LeaveFeedback(t, tt.token, w.loop.Iteration.ID, nil)
		return tt
	}
	w.ada = redeem("", "Ada Guest", "ada@example.test")
	w.bo = redeem("", "Bo Guest", "bo@example.test")
	cy := s.NewUser(t, "Cy User")
	w.cy = redeem(cy.Token, "Cy Tester", "cy@example.test")
	return w
}

// participantView is a participant as a caller sees it.
type participantView struct {
	ID          string
	DisplayName string
	Email       *string
	User        *struct{ ID string }
}

// participantsAs returns p's participants as token's holder sees them,
// by ID.
func (w *testerWorld) participantsAs(t *testing.T, s *servertest.Server, token string) map[string]participantView {
	t.Helper()
	var got struct {
		Node struct {
			Participants struct {
				Edges []struct{ Node participantView }
			}
		}
	}
	decode(t, s, token, `query($id: ID!) { node(id: $id) { ... on Prototype {
		participants(first: 100) { edges { node { id displayName email user { id } } } }
	} } }`, vars{"id": w.loop.Prototype.ID}, &got)
	byID := map[string]participantView{}
	for _, e := range got.Node.Participants.Edges {
		byID[e.Node.ID] = e.Node
	}
	return byID
}

func isMasked(name string) bool {
	return strings.HasPrefix(name, "Tester ") && len(name) == len("Tester ")+4
}

func TestTestersSeeOnlyTheirPrototype(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newTesterWorld(t, s)
		p := w.loop.Prototype.ID
		for _, tester := range []struct {
			name string
			worldTester
		}{{"a guest", w.ada}, {"a user testing on their account", w.cy}} {
			tok := tester.token
			t.Run(tester.name+" reads the prototype, its workspace and its owner", func(t *testing.T) {
				var got struct {
					Node *struct {
						Title     string
						Workspace struct{ Name, Mission string }
						Owner     struct{ Name string }
					}
				}
				decode(t, s, tok, `query($id: ID!) { node(id: $id) { ... on Prototype {
					title workspace { name mission } owner { name }
				} } }`, vars{"id": p}, &got)
				if got.Node == nil || got.Node.Title != w.loop.Prototype.Title || got.Node.Workspace.Name != w.loop.Workspace.Name ||
					got.Node.Owner.Name != w.loop.Owner.Name {
					t.Errorf("got %+v", got.Node)
				}
			})
			t.Run(tester.name+" sees published iterations, not drafts", func(t *testing.T) {
				var got struct {
					Node struct {
						Iterations struct {
							TotalCount int
							Edges      []struct{ Node struct{ ID string } }
						}
					}
				}
				decode(t, s, tok, `query($id: ID!) { node(id: $id) { ... on Prototype {
					iterations(first: 10) { totalCount edges { node { id } } }
				} } }`, vars{"id": p}, &got)
				its := got.Node.Iterations
				if its.TotalCount != 1 || len(its.Edges) != 1 || its.Edges[0].Node.ID != w.loop.Iteration.ID {
					t.Errorf("iterations: %+v, want only %s", its, w.loop.Iteration.ID)
				}
				requireHidden(t, s.Do(t, tok, `query($id: ID!) { node(id: $id) { id } }`, vars{"id": w.draft}), "node")
			})
			t.Run(tester.name+" finds nothing of other prototypes and workspaces", func(t *testing.T) {
				for _, id := range []string{w.q.ID, w.qIteration, w.other.Prototype.ID, w.other.Workspace.ID, w.other.Iteration.ID} {
					requireHidden(t, s.Do(t, tok, `query($id: ID!) { node(id: $id) { id } }`, vars{"id": id}), "node")
				}
				r := s.Do(t, tok, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`,
					vars{"ids": []string{p, w.q.ID, w.other.Prototype.ID}})
				for _, e := range r.Errors {
					if e.Code() != "NOT_FOUND" {
						t.Errorf("nodes: %s", e)
					}
				}
				var got struct{ Nodes []*struct{ ID string } }
				r.Decode(t, &got)
				if len(got.Nodes) != 3 || got.Nodes[0] == nil || got.Nodes[1] != nil || got.Nodes[2] != nil {
					t.Errorf("nodes: %+v, want only the first", got.Nodes)
				}
			})
			t.Run(tester.name+" sees no members, invites or other prototypes of the workspace", func(t *testing.T) {
				var got struct {
					Node struct {
						Invites   struct{ TotalCount int }
						Workspace struct {
							Memberships []struct{ ID string }
							Prototypes  struct{ TotalCount int }
						}
					}
				}
				decode(t, s, tok, `query($id: ID!) { node(id: $id) { ... on Prototype {
					invites { totalCount }
					workspace { memberships { id } prototypes { totalCount } }
				} } }`, vars{"id": p}, &got)
				if n := got.Node; n.Invites.TotalCount != 0 || len(n.Workspace.Memberships) != 0 || n.Workspace.Prototypes.TotalCount != 1 {
					t.Errorf("got %+v, want no invites, no memberships, one prototype", n)
				}
			})
			t.Run(tester.name+" sees every tester's feedback but only its own trials", func(t *testing.T) {
				var got struct {
					Node struct {
						Feedback   struct{ TotalCount int }
						Iterations struct {
							Edges []struct {
								Node struct {
									Trials struct {
										Edges []struct{ Node struct{ ID string } }
									}
								}
							}
						}
					}
				}
				decode(t, s, tok, `query($id: ID!) { node(id: $id) { ... on Prototype {
					feedback { totalCount }
					iterations(first: 10) { edges { node { trials(first: 10) { edges { node { id } } } } } }
				} } }`, vars{"id": p}, &got)
				if got.Node.Feedback.TotalCount != 4 {
					t.Errorf("feedback: %d, want the owner's and three testers'", got.Node.Feedback.TotalCount)
				}
				trials := got.Node.Iterations.Edges[0].Node.Trials.Edges
				if len(trials) != 1 || trials[0].Node.ID != tester.trial {
					t.Errorf("trials: %+v, want only %s", trials, tester.trial)
				}
			})
			t.Run(tester.name+" sees the timeline without drafts and invites", func(t *testing.T) {
				kinds := eventKinds(timeline(t, s, tok, p, nil))
				all := eventKinds(timeline(t, s, w.loop.Owner.Token, p, nil))
				for _, hidden := range []string{"ITERATION_CREATED", "INVITE_CREATED"} {
					if !slices.Contains(all, hidden) || slices.Contains(kinds, hidden) {
						t.Errorf("%s: owner sees %v, tester %v", hidden, all, kinds)
					}
				}
				for _, shown := range []string{"ITERATION_PUBLISHED", "TESTER_JOINED", "FEEDBACK_ADDED"} {
					if !slices.Contains(kinds, shown) {
						t.Errorf("%s missing from the tester's timeline %v", shown, kinds)
					}
				}
			})
			t.Run(tester.name+" filtering with a foreign ID finds nothing", func(t *testing.T) {
				var got struct {
					Node struct{ Feedback struct{ TotalCount int } }
				}
				decode(t, s, tok, `query($id: ID!, $other: ID!) { node(id: $id) { ... on Prototype {
					feedback(where: {iterationID: $other}) { totalCount }
				} } }`, vars{"id": p, "other": w.other.Iteration.ID}, &got)
				if got.Node.Feedback.TotalCount != 0 {
					t.Errorf("got %d", got.Node.Feedback.TotalCount)
				}
				// Through a related object, testers may not filter at all
				// (see edgeFilter).
				s.Do(t, tok, `query($id: ID!, $other: ID!) { node(id: $id) { ... on Prototype {
					feedback(where: {hasIterationWith: {id: $other}}) { totalCount }
				} } }`, vars{"id": p, "other": w.other.Iteration.ID}).RequireError(t, "BAD_USER_INPUT", "where")
			})
		}
	})
}

func TestTesterIdentitiesAreMasked(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newTesterWorld(t, s)
		testers := []worldTester{w.ada, w.bo, w.cy}
		t.Run("members see every name and email", func(t *testing.T) {
			for _, tok := range []string{w.loop.Owner.Token, w.viewer.Token} {
				seen := w.participantsAs(t, s, tok)
				for _, tt := range testers {
					p := seen[tt.participant]
					if p.DisplayName != tt.name || p.Email == nil || *p.Email != tt.email {
						t.Errorf("%s as a member sees %+v", tt.name, p)
					}
				}
			}
		})
		t.Run("a tester sees itself, and other testers as stable labels without email", func(t *testing.T) {
			for _, me := range testers {
				seen := w.participantsAs(t, s, me.token)
				again := w.participantsAs(t, s, me.token)
				if len(seen) != 4 {
					t.Errorf("%s sees %d participants, want 4", me.name, len(seen))
				}
				for id, p := range seen {
					if id == w.ownerParticipant {
						if p.DisplayName != w.loop.Owner.Name || p.Email != nil {
							t.Errorf("%s sees the owner's participant as %+v, want the owner's name", me.name, p)
						}
						continue
					}
					if id == me.participant {
						if p.DisplayName != me.name || p.Email == nil || *p.Email != me.email {
							t.Errorf("%s sees itself as %+v", me.name, p)
						}
						continue
					}
					if !isMasked(p.DisplayName) || p.Email != nil || again[id].DisplayName != p.DisplayName {
						t.Errorf("%s sees %s as %+v, then %+v: want a stable mask and no email", me.name, id, p, again[id])
					}
				}
			}
			if a, b := w.participantsAs(t, s, w.ada.token)[w.bo.participant], w.participantsAs(t, s, w.cy.token)[w.bo.participant]; a.DisplayName != b.DisplayName {
				t.Errorf("two testers see Bo as %q and %q: the label should be Bo's, whoever looks", a.DisplayName, b.DisplayName)
			}
		})
		t.Run("a tester cannot reach another tester's account", func(t *testing.T) {
			if u := w.participantsAs(t, s, w.ada.token)[w.cy.participant].User; u != nil {
				t.Errorf("ada sees cy's user %s", u.ID)
			}
			if u := w.participantsAs(t, s, w.cy.token)[w.cy.participant].User; u == nil {
				t.Errorf("cy does not see its own user")
			}
		})
		t.Run("the masks hold on every path to a participant", func(t *testing.T) {
			var got struct {
				Node struct {
					Author struct{ DisplayName string }
					Votes  struct {
						Edges []struct {
							Node struct {
								Participant struct{ DisplayName string }
							}
						}
					}
				}
			}
			decode(t, s, w.ada.token, `mutation($id: ID!) { vote(feedbackID: $id) { id } }`, vars{"id": w.bo.feedback}, &struct{}{})
			decode(t, s, w.cy.token, `mutation($id: ID!) { vote(feedbackID: $id) { id } }`, vars{"id": w.bo.feedback}, &struct{}{})
			decode(t, s, w.ada.token, `query($id: ID!) { node(id: $id) { ... on Feedback {
				author { displayName } votes(first: 10) { edges { node { participant { displayName } } } }
			} } }`, vars{"id": w.bo.feedback}, &got)
			if !isMasked(got.Node.Author.DisplayName) {
				t.Errorf("author: %q", got.Node.Author.DisplayName)
			}
			names := map[string]bool{}
			for _, e := range got.Node.Votes.Edges {
				names[e.Node.Participant.DisplayName] = true
			}
			if len(names) != 2 || !names["Ada Guest"] {
				t.Errorf("voters: %v, want Ada and a masked Cy", names)
			}
			for _, e := range timeline(t, s, w.ada.token, w.loop.Prototype.ID, nil) {
				mine := e.Actor != nil && (e.Actor.ID == w.ada.participant || e.Actor.ID == w.ownerParticipant)
				if e.Actor != nil && e.Actor.Typename == "Participant" && !mine && !isMasked(e.Actor.DisplayName) {
					t.Errorf("%s event by %s shows %q", e.Kind, e.Actor.ID, e.Actor.DisplayName)
				}
			}
		})
		t.Run("open feedback shows testers each other's names, never their emails", func(t *testing.T) {
			decode(t, s, w.loop.Owner.Token, `mutation($id: ID!) { updatePrototype(id: $id, input: {openFeedback: true}) { id } }`,
				vars{"id": w.loop.Prototype.ID}, &struct{}{})
			seen := w.participantsAs(t, s, w.ada.token)
			for _, tt := range []worldTester{w.bo, w.cy} {
				if p := seen[tt.participant]; p.DisplayName != tt.name || p.Email != nil {
					t.Errorf("ada sees %s as %+v", tt.name, p)
				}
			}
		})
	})
}

func TestTestersChangeOnlyWhatIsTheirs(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newTesterWorld(t, s)
		ada := w.ada.token
		cases := []struct {
			name, query string
			vars        vars
			want        string // "" for success, else the error code
		}{
			{"votes on another tester's feedback", `mutation($id: ID!) { vote(feedbackID: $id) { id } }`,
				vars{"id": w.bo.feedback}, ""},
			{"takes its vote back", `mutation($id: ID!) { unvote(feedbackID: $id) { id } }`,
				vars{"id": w.bo.feedback}, ""},
			{"comments on its own feedback", `mutation($in: AddCommentInput!) { addComment(input: $in) { id } }`,
				vars{"in": vars{"feedbackID": w.ada.feedback, "body": "More detail."}}, ""},
			{"comments on another tester's feedback", `mutation($in: AddCommentInput!) { addComment(input: $in) { id } }`,
				vars{"in": vars{"feedbackID": w.bo.feedback, "body": "Same here."}}, "FORBIDDEN"},
			{"comments on the owner's feedback", `mutation($in: AddCommentInput!) { addComment(input: $in) { id } }`,
				vars{"in": vars{"feedbackID": w.ownerFeedback, "body": "Same here."}}, "FORBIDDEN"},
			{"edits its own feedback", `mutation($id: ID!) { editFeedback(id: $id, input: {body: "Clearer."}) { id } }`,
				vars{"id": w.ada.feedback}, ""},
			{"edits another tester's feedback", `mutation($id: ID!) { editFeedback(id: $id, input: {body: "Mine now."}) { id } }`,
				vars{"id": w.bo.feedback}, "FORBIDDEN"},
			{"retracts another tester's feedback", `mutation($id: ID!) { retractFeedback(id: $id) { id } }`,
				vars{"id": w.bo.feedback}, "FORBIDDEN"},
			{"triages feedback", `mutation($id: ID!) { setFeedbackStatus(id: $id, status: ACKNOWLEDGED) { id } }`,
				vars{"id": w.ada.feedback}, "FORBIDDEN"},
			{"retracts its own feedback", `mutation($id: ID!) { retractFeedback(id: $id) { status } }`,
				vars{"id": w.ada.feedback}, ""},
			{"ends its own trial", `mutation($id: ID!) { endTrial(id: $id, outcome: COMPLETED) { id } }`,
				vars{"id": w.ada.trial}, ""},
			{"ends another tester's trial", `mutation($id: ID!) { endTrial(id: $id, outcome: COMPLETED) { id } }`,
				vars{"id": w.bo.trial}, "NOT_FOUND"},
			{"starts a trial of a prototype it does not test", `mutation($in: StartTrialInput!) { startTrial(input: $in) { id } }`,
				vars{"in": vars{"iterationID": w.qIteration}}, "NOT_FOUND"},
			{"leaves feedback in another workspace", `mutation($in: LeaveFeedbackInput!) { leaveFeedback(input: $in) { id } }`,
				vars{"in": vars{"iterationID": w.other.Iteration.ID, "kind": "IDEA", "body": "Hi."}}, "NOT_FOUND"},
			{"changes the prototype", `mutation($id: ID!) { updatePrototype(id: $id, input: {title: "Mine"}) { id } }`,
				vars{"id": w.loop.Prototype.ID}, "FORBIDDEN"},
			{"invites more testers", `mutation($in: CreateInviteInput!) { createInvite(input: $in) { token } }`,
				vars{"in": vars{"prototypeID": w.loop.Prototype.ID}}, "FORBIDDEN"},
			{"drafts an iteration", `mutation($p: ID!) { createIteration(prototypeID: $p, input: {title: "Next"}) { id } }`,
				vars{"p": w.loop.Prototype.ID}, "FORBIDDEN"},
		}
		for _, c := range cases {
			t.Run("a guest "+c.name, func(t *testing.T) {
				r := s.Do(t, ada, c.query, c.vars)
				if c.want == "" {
					r.RequireOK(t)
					return
				}
				r.RequireError(t, c.want, "")
			})
		}
		t.Run("a member still comments anywhere and sees the retraction", func(t *testing.T) {
			s.AddComment(t, w.viewer.Token, w.bo.feedback, "")
			var got struct{ Node struct{ Status string } }
			decode(t, s, w.viewer.Token, `query($id: ID!) { node(id: $id) { ... on Feedback { status } } }`,
				vars{"id": w.ada.feedback}, &got)
			if got.Node.Status != "RETRACTED" {
				t.Errorf("status %s", got.Node.Status)
			}
		})
	})
}

// Masking costs a guest the same few statements whatever the number of
// names shown: who takes part in its prototype, and who of them is on the
// team, are read once per request.
func TestMaskingCostsAGuestAFixedNumberOfStatements(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newTesterWorld(t, s)
		cost := func(query, id, fields string) int64 {
			before := s.Statements()
			decode(t, s, w.ada.token, strings.ReplaceAll(query, "FIELDS", fields), vars{"id": id}, &struct{}{})
			return s.Statements() - before
		}
		const (
			one = `query($id: ID!) { node(id: $id) { ... on Feedback { author { FIELDS } } } }`
			all = `query($id: ID!) { node(id: $id) { ... on Prototype {
				feedback(first: 50) { edges { node { author { FIELDS } } } }
			} } }`
		)
		forOne := cost(one, w.bo.feedback, "id displayName email") - cost(one, w.bo.feedback, "id")
		forAll := cost(all, w.loop.Prototype.ID, "id displayName email") - cost(all, w.loop.Prototype.ID, "id")
		if forOne != forAll || forAll > 2 {
			t.Errorf("names cost %d more statements for one author, %d for four: want the same, at most 2", forOne, forAll)
		}
	})
}

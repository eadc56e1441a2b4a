package rule_test

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"testing"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/authtoken"
	"github.com/protoloop/protoloop/ent/comment"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/feedback"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/rule"
	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/ent/trial"
	"github.com/protoloop/protoloop/ent/vote"
	"github.com/protoloop/protoloop/server/servertest"
)

// These tests hold the privacy rules to the role model for testers, with
// identities built the way Authenticate builds them, against the ent
// client of a real server on both databases. The members' side of the
// world is seeded through the API; what only redeeming an invite makes
// (invites, guest participants, guest tokens) is written as the system.

// world is a workspace with two prototypes, testers on them, and a second
// workspace nobody in the first belongs to.
type world struct {
	c     *ent.Client
	owner gid.ID // owner of ws
	ws    gid.ID
	p, q  gid.ID // prototypes of ws: tess and theo test p, quinn tests q
	// iterations of p: one published, one retired, one draft
	published, retired, draft gid.ID
	qIteration                gid.ID
	otherWS, otherP           gid.ID // another workspace and its prototype
	ownerFeedback             gid.ID // the owner's feedback on p
	ownerComment              gid.ID // the owner's comment on it
	invite                    gid.ID // the invite to p

	tess, theo, quinn *ent.Participant // guest testers
	tessToken         gid.ID           // tess's guest token
	ownerToken        gid.ID
}

func sys() context.Context { return privacy.DecisionContext(context.Background(), privacy.Allow) }

func mustID(t *testing.T, s string) gid.ID {
	t.Helper()
	id, err := gid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newWorld(t *testing.T, s *servertest.Server) *world {
	t.Helper()
	loop := s.NewLoop(t)
	w := &world{c: s.DB.Client, owner: mustID(t, loop.Owner.ID), ws: mustID(t, loop.Workspace.ID), p: mustID(t, loop.Prototype.ID)}
	w.published = mustID(t, loop.Iteration.ID)
	retired := s.NewPublishedIteration(t, loop.Owner.Token, loop.Prototype.ID)
	s.Do(t, loop.Owner.Token, `mutation($id: ID!) { retireIteration(id: $id) { id } }`, map[string]any{"id": retired.ID}).RequireOK(t)
	w.retired = mustID(t, retired.ID)
	w.draft = mustID(t, s.NewIteration(t, loop.Owner.Token, loop.Prototype.ID).ID)
	q := s.NewPrototype(t, loop.Owner.Token, loop.Workspace.ID)
	w.q = mustID(t, q.ID)
	w.qIteration = mustID(t, s.NewPublishedIteration(t, loop.Owner.Token, q.ID).ID)
	w.ownerFeedback = mustID(t, s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil))
	w.ownerComment = mustID(t, s.AddComment(t, loop.Owner.Token, w.ownerFeedback.String(), ""))
	other := s.NewLoop(t)
	w.otherWS, w.otherP = mustID(t, other.Workspace.ID), mustID(t, other.Prototype.ID)

	w.invite = w.c.Invite.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetCreatedByID(w.owner).
		SetTokenHash(random(t)).SaveX(sys()).ID
	qInvite := w.c.Invite.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.q).SetCreatedByID(w.owner).
		SetTokenHash(random(t)).SaveX(sys()).ID
	guest := func(prototype, invite gid.ID, name, email string) *ent.Participant {
		return w.c.Participant.Create().SetWorkspaceID(w.ws).SetPrototypeID(prototype).SetInviteID(invite).
			SetDisplayName(name).SetEmail(email).SaveX(sys())
	}
	w.tess = guest(w.p, w.invite, "Tess", "tess@example.test")
	w.theo = guest(w.p, w.invite, "Theo", "theo@example.test")
	w.quinn = guest(w.q, qInvite, "Quinn", "quinn@example.test")
	w.tessToken = w.c.AuthToken.Create().SetParticipantID(w.tess.ID).SetTokenHash(random(t)).SaveX(sys()).ID
	w.c.AuthToken.Create().SetParticipantID(w.theo.ID).SetTokenHash(random(t)).SaveX(sys())
	ownerTokens := w.c.AuthToken.Query().Where(authtoken.UserID(w.owner)).IDsX(sys())
	w.ownerToken = ownerTokens[0]
	return w
}

func random(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// as returns a context in which p's guest acts.
func (w *world) as(p *ent.Participant) context.Context {
	return viewer.NewContext(context.Background(), viewer.NewGuest(0, w.tester(p)))
}

func (w *world) tester(p *ent.Participant) viewer.Tester {
	return viewer.Tester{Prototype: p.PrototypeID, Workspace: p.WorkspaceID, Participant: p.ID}
}

// outcome names how a rule decided: "ok", FORBIDDEN, or NOT_FOUND (a row
// that is not there or that privacy hides without a reason), as the API
// presents them.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, rule.ErrForbidden):
		return "FORBIDDEN"
	case errors.Is(err, rule.ErrUnauthenticated):
		return "UNAUTHENTICATED"
	case ent.IsNotFound(err), errors.Is(err, privacy.Deny):
		return "NOT_FOUND"
	}
	return err.Error()
}

// byTable tells the Noder which table an ID's row is in, as the API does.
var byTable = ent.WithNodeType(func(_ context.Context, id gid.ID) (string, error) { return id.Table(), nil })

func sameIDs(t *testing.T, what string, got []gid.ID, want ...gid.ID) {
	t.Helper()
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func TestTesterSeesOnlyItsPrototype(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newWorld(t, s)
		tess := w.as(w.tess)
		tessTrial := w.c.Trial.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetIterationID(w.published).
			SetParticipantID(w.tess.ID).SaveX(tess).ID
		w.c.Trial.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetIterationID(w.published).
			SetParticipantID(w.theo.ID).SaveX(w.as(w.theo))
		w.c.Trial.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.q).SetIterationID(w.qIteration).
			SetParticipantID(w.quinn.ID).SaveX(w.as(w.quinn))
		theoFeedback := w.c.Feedback.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetIterationID(w.published).
			SetAuthorID(w.theo.ID).SetKind(feedback.KindBUG).SetBody("The button hides.").SaveX(w.as(w.theo)).ID
		w.c.Feedback.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.q).SetIterationID(w.qIteration).
			SetAuthorID(w.quinn.ID).SetKind(feedback.KindIDEA).SetBody("Fewer steps.").SaveX(w.as(w.quinn))
		w.c.Event.Create().SetSeq(1_000_000).SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetKind(event.KindINVITE_CREATED).
			SetSubjectID(w.invite).SetActorUserID(w.owner).SaveX(sys())

		ids := func(t *testing.T, what string, got []gid.ID, err error, want ...gid.ID) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			sameIDs(t, what, got, want...)
		}
		t.Run("workspaces: only the tested one", func(t *testing.T) {
			got, err := w.c.Workspace.Query().IDs(tess)
			ids(t, "workspaces", got, err, w.ws)
		})
		t.Run("prototypes: only the tested one", func(t *testing.T) {
			got, err := w.c.Prototype.Query().IDs(tess)
			ids(t, "prototypes", got, err, w.p)
		})
		t.Run("iterations: published and retired, no drafts", func(t *testing.T) {
			got, err := w.c.Iteration.Query().IDs(tess)
			ids(t, "iterations", got, err, w.published, w.retired)
		})
		t.Run("feedback: everyone's on the prototype", func(t *testing.T) {
			got, err := w.c.Feedback.Query().IDs(tess)
			ids(t, "feedback", got, err, w.ownerFeedback, theoFeedback)
		})
		t.Run("comments on the prototype", func(t *testing.T) {
			got, err := w.c.Comment.Query().IDs(tess)
			ids(t, "comments", got, err, w.ownerComment)
		})
		t.Run("trials: only its own", func(t *testing.T) {
			got, err := w.c.Trial.Query().IDs(tess)
			ids(t, "trials", got, err, tessTrial)
		})
		t.Run("participants of the prototype", func(t *testing.T) {
			got, err := w.c.Participant.Query().IDs(tess)
			ownerP := w.c.Feedback.GetX(sys(), w.ownerFeedback).AuthorID
			ids(t, "participants", got, err, w.tess.ID, w.theo.ID, ownerP)
		})
		t.Run("no memberships, no invites", func(t *testing.T) {
			m, err := w.c.Membership.Query().IDs(tess)
			ids(t, "memberships", m, err)
			i, err := w.c.Invite.Query().IDs(tess)
			ids(t, "invites", i, err)
		})
		t.Run("users: the team of the tested workspace", func(t *testing.T) {
			got, err := w.c.User.Query().IDs(tess)
			ids(t, "users", got, err, w.owner)
		})
		t.Run("tokens: only its own", func(t *testing.T) {
			got, err := w.c.AuthToken.Query().IDs(tess)
			ids(t, "tokens", got, err, w.tessToken)
		})
		t.Run("timeline without drafts and invites", func(t *testing.T) {
			events, err := w.c.Event.Query().All(tess)
			if err != nil {
				t.Fatal(err)
			}
			all := w.c.Event.Query().Where(event.PrototypeID(w.p)).AllX(sys())
			var want []gid.ID
			for _, e := range all {
				switch e.Kind {
				case event.KindITERATION_CREATED, event.KindITERATION_UPDATED, event.KindINVITE_CREATED, event.KindINVITE_REVOKED, event.KindALERT:
				default:
					want = append(want, e.ID)
				}
			}
			got := make([]gid.ID, len(events))
			for i, e := range events {
				got[i] = e.ID
			}
			sameIDs(t, "events", got, want...)
			if len(want) == len(all) || len(want) == 0 {
				t.Fatalf("the world has %d events of p, %d of them for testers: the test shows nothing", len(all), len(want))
			}
		})
		t.Run("a foreign ID is not found, not forbidden", func(t *testing.T) {
			for _, id := range []gid.ID{w.q, w.otherP, w.draft, w.qIteration, w.otherWS} {
				_, err := w.c.Noder(tess, id, byTable)
				if got := outcome(err); got != "NOT_FOUND" {
					t.Errorf("node %s: %s, want NOT_FOUND", id, got)
				}
			}
		})
		t.Run("a where naming foreign rows finds nothing", func(t *testing.T) {
			got, err := w.c.Feedback.Query().Where(feedback.PrototypeID(w.q)).IDs(tess)
			ids(t, "feedback of q", got, err)
			trials, err := w.c.Trial.Query().Where(trial.ParticipantID(w.theo.ID)).IDs(tess)
			ids(t, "theo's trials", trials, err)
		})
		t.Run("a member who also tests sees as a member", func(t *testing.T) {
			id := viewer.NewIdentity(w.owner, 0, map[gid.ID]viewer.Role{w.ws: viewer.Viewer})
			id.AddTester(w.tester(w.tess))
			ctx := viewer.NewContext(context.Background(), id)
			its, err := w.c.Iteration.Query().IDs(ctx)
			ids(t, "iterations", its, err, w.published, w.retired, w.draft, w.qIteration)
			invites, err := w.c.Invite.Query().IDs(ctx)
			ids(t, "invites (a viewer's)", invites, err)
		})
	})
}

func TestTesterChangesOnlyWhatIsItsOwn(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newWorld(t, s)
		tess, theo := w.as(w.tess), w.as(w.theo)
		theoTrial := w.c.Trial.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetIterationID(w.published).
			SetParticipantID(w.theo.ID).SaveX(theo).ID
		theoFeedback := w.c.Feedback.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetIterationID(w.published).
			SetAuthorID(w.theo.ID).SetKind(feedback.KindBUG).SetBody("The button hides.").SaveX(theo).ID
		tessFeedback := w.c.Feedback.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetIterationID(w.published).
			SetAuthorID(w.tess.ID).SetKind(feedback.KindIDEA).SetBody("Skip step two.").SaveX(tess).ID
		w.c.Vote.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetFeedbackID(w.ownerFeedback).
			SetParticipantID(w.theo.ID).SaveX(theo)

		cases := []struct {
			name string
			do   func(ctx context.Context) error
			want string
		}{
			{"starts its own trial", func(ctx context.Context) error {
				return w.c.Trial.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetIterationID(w.published).
					SetParticipantID(w.tess.ID).Exec(ctx)
			}, "ok"},
			{"starts a trial as another tester", func(ctx context.Context) error {
				return w.c.Trial.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetIterationID(w.published).
					SetParticipantID(w.theo.ID).Exec(ctx)
			}, "FORBIDDEN"},
			{"starts a trial on a prototype it does not test", func(ctx context.Context) error {
				return w.c.Trial.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.q).SetIterationID(w.qIteration).
					SetParticipantID(w.tess.ID).Exec(ctx)
			}, "NOT_FOUND"}, // the tester cannot see q, though it is in the same workspace
			{"starts a trial in another workspace", func(ctx context.Context) error {
				return w.c.Trial.Create().SetWorkspaceID(w.otherWS).SetPrototypeID(w.p).SetIterationID(w.published).
					SetParticipantID(w.tess.ID).Exec(ctx)
			}, "NOT_FOUND"},
			{"ends another tester's trial", func(ctx context.Context) error {
				return w.c.Trial.UpdateOneID(theoTrial).SetOutcome(trial.OutcomeCOMPLETED).Exec(ctx)
			}, "NOT_FOUND"},
			{"leaves feedback as another tester", func(ctx context.Context) error {
				return w.c.Feedback.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetIterationID(w.published).
					SetAuthorID(w.theo.ID).SetKind(feedback.KindBUG).SetBody("Not mine.").Exec(ctx)
			}, "FORBIDDEN"},
			{"edits its own feedback", func(ctx context.Context) error {
				return w.c.Feedback.UpdateOneID(tessFeedback).SetBody("Skip steps two and three.").ClearRating().Exec(ctx)
			}, "ok"},
			{"edits another tester's feedback", func(ctx context.Context) error {
				return w.c.Feedback.UpdateOneID(theoFeedback).SetBody("Changed.").Exec(ctx)
			}, "FORBIDDEN"},
			{"triages its own feedback", func(ctx context.Context) error {
				return w.c.Feedback.UpdateOneID(tessFeedback).SetStatus(feedback.StatusACKNOWLEDGED).Exec(ctx)
			}, "FORBIDDEN"},
			{"sets its own vote count", func(ctx context.Context) error {
				return w.c.Feedback.UpdateOneID(tessFeedback).AddVoteCount(10).Exec(ctx)
			}, "FORBIDDEN"},
			{"retracts another tester's feedback", func(ctx context.Context) error {
				return w.c.Feedback.UpdateOneID(theoFeedback).SetStatus(feedback.StatusRETRACTED).Exec(ctx)
			}, "FORBIDDEN"},
			{"retracts its own feedback", func(ctx context.Context) error {
				return w.c.Feedback.UpdateOneID(tessFeedback).SetStatus(feedback.StatusRETRACTED).Exec(ctx)
			}, "ok"},
			{"marks feedback addressed in bulk", func(ctx context.Context) error {
				n, err := w.c.Feedback.Update().Where(feedback.PrototypeID(w.p)).SetStatus(feedback.StatusADDRESSED).Save(ctx)
				if err == nil && n > 0 {
					return errors.New("changed feedback in bulk")
				}
				return err
			}, "ok"}, // nothing to change: bulk changes reach no feedback of a tester
			{"votes as itself", func(ctx context.Context) error {
				return w.c.Vote.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetFeedbackID(w.ownerFeedback).
					SetParticipantID(w.tess.ID).Exec(ctx)
			}, "ok"},
			{"votes as another tester", func(ctx context.Context) error {
				return w.c.Vote.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetFeedbackID(theoFeedback).
					SetParticipantID(w.theo.ID).Exec(ctx)
			}, "FORBIDDEN"},
			{"takes back every vote on feedback, removing only its own", func(ctx context.Context) error {
				n, err := w.c.Vote.Delete().Where(vote.FeedbackID(w.ownerFeedback)).Exec(ctx)
				if err == nil && n != 1 {
					return errors.New("removed votes that were not its own")
				}
				return err
			}, "ok"},
			{"comments on its own feedback", func(ctx context.Context) error {
				return w.c.Comment.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetFeedbackID(tessFeedback).
					SetAuthorID(w.tess.ID).SetBody("More detail.").Exec(ctx)
			}, "ok"},
			{"comments on another's feedback", func(ctx context.Context) error {
				return w.c.Comment.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetFeedbackID(w.ownerFeedback).
					SetAuthorID(w.tess.ID).SetBody("Same here.").Exec(ctx)
			}, "FORBIDDEN"},
			{"comments as another tester", func(ctx context.Context) error {
				return w.c.Comment.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetFeedbackID(tessFeedback).
					SetAuthorID(w.theo.ID).SetBody("Pretending.").Exec(ctx)
			}, "FORBIDDEN"},
			{"changes the prototype", func(ctx context.Context) error {
				return w.c.Prototype.UpdateOneID(w.p).SetTitle("Mine now").Exec(ctx)
			}, "FORBIDDEN"},
			{"changes the workspace", func(ctx context.Context) error {
				return w.c.Workspace.UpdateOneID(w.ws).SetName("Mine now").Exec(ctx)
			}, "FORBIDDEN"},
			{"changes a prototype it does not test", func(ctx context.Context) error {
				return w.c.Prototype.UpdateOneID(w.q).SetTitle("Mine now").Exec(ctx)
			}, "NOT_FOUND"},
			{"changes a published iteration", func(ctx context.Context) error {
				return w.c.Iteration.UpdateOneID(w.published).SetTitle("Mine now").Exec(ctx)
			}, "FORBIDDEN"},
			{"changes a draft", func(ctx context.Context) error {
				return w.c.Iteration.UpdateOneID(w.draft).SetTitle("Mine now").Exec(ctx)
			}, "NOT_FOUND"},
			{"drafts an iteration", func(ctx context.Context) error {
				return w.c.Iteration.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetTitle("Next").Exec(ctx)
			}, "FORBIDDEN"},
			{"creates a prototype in the tested workspace", func(ctx context.Context) error {
				return w.c.Prototype.Create().SetWorkspaceID(w.ws).SetOwnerID(w.owner).SetTitle("Mine").SetSlug("mine").Exec(ctx)
			}, "FORBIDDEN"},
			{"invites testers", func(ctx context.Context) error {
				return w.c.Invite.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetCreatedByID(w.owner).
					SetTokenHash([]byte("x")).Exec(ctx)
			}, "FORBIDDEN"},
			{"revokes the invite", func(ctx context.Context) error {
				return w.c.Invite.UpdateOneID(w.invite).SetUses(0).Exec(ctx)
			}, "NOT_FOUND"},
			{"renames a participant", func(ctx context.Context) error {
				return w.c.Participant.UpdateOneID(w.theo.ID).SetDisplayName("Hacked").Exec(ctx)
			}, "FORBIDDEN"},
			{"adds a participant", func(ctx context.Context) error {
				return w.c.Participant.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetDisplayName("Sock").Exec(ctx)
			}, "FORBIDDEN"},
			{"starts a workspace, having no account to own it", func(ctx context.Context) error {
				return w.c.Workspace.Create().SetName("Mine").SetSlug("mine").Exec(ctx)
			}, "UNAUTHENTICATED"},
			{"rewrites history", func(ctx context.Context) error {
				_, err := w.c.Event.Delete().Where(event.PrototypeID(w.p)).Exec(ctx)
				return err
			}, "NOT_FOUND"},
			{"revokes its own token", func(ctx context.Context) error {
				return w.c.AuthToken.UpdateOneID(w.tessToken).SetLabel("old").Exec(ctx)
			}, "ok"},
			{"extends its own token", func(ctx context.Context) error {
				return w.c.AuthToken.UpdateOneID(w.tessToken).ClearExpiresAt().Exec(ctx)
			}, "FORBIDDEN"},
			{"revokes someone else's token", func(ctx context.Context) error {
				return w.c.AuthToken.UpdateOneID(w.ownerToken).SetLabel("gone").Exec(ctx)
			}, "NOT_FOUND"},
			{"issues itself a token", func(ctx context.Context) error {
				return w.c.AuthToken.Create().SetParticipantID(w.tess.ID).SetTokenHash([]byte("y")).Exec(ctx)
			}, "FORBIDDEN"},
		}
		for _, c := range cases {
			t.Run("a tester "+c.name, func(t *testing.T) {
				if got := outcome(c.do(tess)); got != c.want {
					t.Errorf("got %s, want %s", got, c.want)
				}
			})
		}
		t.Run("the author's retraction and edit stuck; the rest did not", func(t *testing.T) {
			fb := w.c.Feedback.GetX(sys(), tessFeedback)
			if fb.Status != feedback.StatusRETRACTED || fb.Body != "Skip steps two and three." || fb.VoteCount != 0 {
				t.Errorf("tess's feedback: status %s, body %q, votes %d", fb.Status, fb.Body, fb.VoteCount)
			}
			if n := w.c.Vote.Query().Where(vote.ParticipantID(w.theo.ID)).CountX(sys()); n != 1 {
				t.Errorf("theo has %d votes, want 1", n)
			}
			if n := w.c.Comment.Query().Where(comment.AuthorID(w.theo.ID)).CountX(sys()); n != 0 {
				t.Errorf("theo has %d comments, want 0", n)
			}
		})
	})
}

func TestMembersStillWorkAsBefore(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newWorld(t, s)
		member := func(role viewer.Role) context.Context {
			return viewer.NewContext(context.Background(), viewer.NewIdentity(w.owner, w.ownerToken, map[gid.ID]viewer.Role{w.ws: role}))
		}
		t.Run("a viewer may not triage, and is told so", func(t *testing.T) {
			err := w.c.Feedback.UpdateOneID(w.ownerFeedback).SetStatus(feedback.StatusACKNOWLEDGED).Exec(member(viewer.Viewer))
			if got := outcome(err); got != "FORBIDDEN" {
				t.Errorf("got %s, want FORBIDDEN", got)
			}
		})
		t.Run("a viewer edits and retracts its own feedback", func(t *testing.T) {
			ctx := member(viewer.Viewer)
			if err := w.c.Feedback.UpdateOneID(w.ownerFeedback).SetBody("Better words.").Exec(ctx); err != nil {
				t.Fatalf("edit: %v", err)
			}
			if err := w.c.Feedback.UpdateOneID(w.ownerFeedback).SetStatus(feedback.StatusRETRACTED).Exec(ctx); err != nil {
				t.Fatalf("retract: %v", err)
			}
		})
		t.Run("a viewer may not edit a tester's feedback", func(t *testing.T) {
			theoFeedback := w.c.Feedback.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetIterationID(w.published).
				SetAuthorID(w.theo.ID).SetKind(feedback.KindBUG).SetBody("The button hides.").SaveX(w.as(w.theo)).ID
			err := w.c.Feedback.UpdateOneID(theoFeedback).SetBody("Changed.").Exec(member(viewer.Viewer))
			if got := outcome(err); got != "FORBIDDEN" {
				t.Errorf("got %s, want FORBIDDEN", got)
			}
		})
		t.Run("only the author edits or retracts what they said", func(t *testing.T) {
			tessFeedback := w.c.Feedback.Create().SetWorkspaceID(w.ws).SetPrototypeID(w.p).SetIterationID(w.published).
				SetAuthorID(w.tess.ID).SetKind(feedback.KindBUG).SetBody("It logs me out.").SaveX(w.as(w.tess)).ID
			maker := member(viewer.Maker)
			for name, upd := range map[string]*ent.FeedbackUpdateOne{
				"edit":    w.c.Feedback.UpdateOneID(tessFeedback).SetBody("Said better."),
				"clear":   w.c.Feedback.UpdateOneID(tessFeedback).ClearRating(),
				"retract": w.c.Feedback.UpdateOneID(tessFeedback).SetStatus(feedback.StatusRETRACTED),
				"nothing": w.c.Feedback.UpdateOneID(tessFeedback),
			} {
				if got := outcome(upd.Exec(maker)); got != "FORBIDDEN" {
					t.Errorf("a maker's %s of a tester's feedback: %s, want FORBIDDEN", name, got)
				}
			}
			n, err := w.c.Feedback.Update().Where(feedback.ID(tessFeedback)).SetBody("Bulk.").Save(maker)
			if got := outcome(err); got != "FORBIDDEN" || n != 0 {
				t.Errorf("a maker's bulk edit: %s, %d rows, want FORBIDDEN", got, n)
			}
			if err := w.c.Feedback.UpdateOneID(tessFeedback).SetStatus(feedback.StatusACKNOWLEDGED).Exec(maker); err != nil {
				t.Errorf("a maker's triage: %v", err)
			}
			if got := outcome(w.c.Feedback.UpdateOneID(w.ownerFeedback).SetBody("Mine.").SetStatus(feedback.StatusPLANNED).Exec(maker)); got != "FORBIDDEN" {
				t.Errorf("an author's edit and triage at once: %s, want FORBIDDEN", got)
			}
		})
		t.Run("a member sees only their own tokens", func(t *testing.T) {
			got, err := w.c.AuthToken.Query().IDs(member(viewer.Owner))
			if err != nil {
				t.Fatal(err)
			}
			sameIDs(t, "tokens", got, w.ownerToken)
		})
		t.Run("anonymous callers see no tokens", func(t *testing.T) {
			_, err := w.c.AuthToken.Query().IDs(context.Background())
			if got := outcome(err); got != "UNAUTHENTICATED" {
				t.Errorf("got %s, want UNAUTHENTICATED", got)
			}
		})
	})
}

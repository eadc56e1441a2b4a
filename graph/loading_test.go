package graph_test

import (
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

// TestTimelineCostFollowsTypesNotEvents reads a timeline whose events
// were made by the team and by two guest testers, about objects of every
// kind, a short page and a long one: the actors and subjects of a page are
// loaded together, one query per type, so the long page costs what the
// short one does. A resolver that loads them per event makes the long
// page cost 100 statements more, and fails this test. It also checks that
// the batch keeps what each viewer may see: a tester's view masks the other
// tester's name and hides their trials.
func TestTimelineCostFollowsTypesNotEvents(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner
		_, secret := newInvite(t, s, owner.Token, loop.Prototype.ID, nil)
		ada, adaParticipant := newGuestOf(t, s, secret, "Ada")
		bo, boParticipant := newGuestOf(t, s, secret, "Bo")

		// round makes one of every kind of event a page may show: trials,
		// feedback, comments and votes, by the owner and both testers.
		round := func() {
			trial := s.StartTrial(t, bo, loop.Iteration.ID)
			fb := s.LeaveFeedback(t, ada, loop.Iteration.ID, nil)
			s.LeaveFeedback(t, bo, loop.Iteration.ID, vars{"trialID": trial})
			s.AddComment(t, owner.Token, fb, "")
			s.Do(t, bo, voteMutation, vars{"id": fb}).RequireOK(t)
		}
		// 14 rounds: the events before them, then 70 more.
		for range 14 {
			round()
		}
		all := timeline(t, s, owner.Token, loop.Prototype.ID, nil)
		short := len(all) - 13*5 // the events before the rounds, and one round
		long := len(all)
		if long < 70 {
			t.Fatalf("%d events on the timeline, want at least 70", long)
		}

		cost := func(t *testing.T, token string, first int) (int64, []timelineEvent) {
			t.Helper()
			before := s.Statements()
			events := timeline(t, s, token, loop.Prototype.ID, vars{"first": first})
			return s.Statements() - before, events
		}

		t.Run("the team's view: every actor and subject, at the cost of a short page", func(t *testing.T) {
			shortCost, _ := cost(t, owner.Token, short)
			longCost, events := cost(t, owner.Token, long)
			t.Logf("%s: a timeline page of %d events took %d statements, one of %d took %d", s.Backend, short, shortCost, long, longCost)
			if longCost != shortCost {
				t.Errorf("a page of %d events took %d statements, one of %d took %d: actors or subjects are loaded per event",
					long, longCost, short, shortCost)
			}
			for _, e := range events {
				if e.Actor == nil || e.Subject == nil || e.Actor.DisplayName == "" {
					t.Errorf("%s (seq %d): actor %+v, subject %+v; the team sees both", e.Kind, e.Seq, e.Actor, e.Subject)
				}
			}
		})

		t.Run("a tester's view: masked names and hidden trials, at the cost of a short page", func(t *testing.T) {
			shortCost, _ := cost(t, ada, short)
			longCost, events := cost(t, ada, long)
			if longCost != shortCost {
				t.Errorf("a page of %d events took %d statements, one of %d took %d: actors or subjects are loaded per event",
					long, longCost, short, shortCost)
			}
			trials := 0
			for _, e := range events {
				if e.Actor != nil && e.Actor.ID == boParticipant && (e.Actor.DisplayName == "Bo" || !isMasked(e.Actor.DisplayName)) {
					t.Errorf("%s (seq %d): the other tester shows as %q", e.Kind, e.Seq, e.Actor.DisplayName)
				}
				if e.Actor != nil && e.Actor.ID == adaParticipant && e.Actor.DisplayName != "Ada" {
					t.Errorf("%s (seq %d): the tester's own name shows as %q", e.Kind, e.Seq, e.Actor.DisplayName)
				}
				if e.Kind == "TRIAL_STARTED" {
					trials++
					if e.Subject != nil {
						t.Errorf("TRIAL_STARTED (seq %d): the other tester's trial %s is visible", e.Seq, e.Subject.ID)
					}
				}
			}
			if trials == 0 {
				t.Error("the tester sees no TRIAL_STARTED events: nothing checked the hiding of trials")
			}
		})
	})
}

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
			// The token's identity is cached by a request just before, so
			// that what is measured is the page only.
			s.Do(t, token, `{ __typename }`, nil).RequireOK(t)
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

// prototypePageQuery is what a prototype's page shows: the prototype and
// its workspace, its latest iterations, the most voted feedback on each
// with its author, vote and comment counts, and what addressed it.
const prototypePageQuery = `query($id: ID!) { node(id: $id) { ... on Prototype {
	id title problem missionLink status tags openFeedback
	owner { displayName }
	workspace { name mission }
	participants { totalCount }
	iterations(first: 3, orderBy: {field: NUMBER, direction: DESC}) { edges { node {
		id number title changelog status publishedAt
		feedback(first: 10, orderBy: {field: VOTE_COUNT, direction: DESC}) { totalCount edges { node {
			id kind body rating status voteCount
			author { id displayName }
			comments { totalCount }
			addressedIn { number }
		} } }
	} } }
} } }`

// TestPrototypePageCostFollowsDepthNotRows reads a prototype's page on a
// small prototype and a busy one, as its owner and as a tester: with field
// collection every level is one statement (and one more for each
// totalCount), however many iterations, feedback, authors and comments
// there are.
func TestPrototypePageCostFollowsDepthNotRows(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		owner := s.NewUser(t, "Olive")
		ws := s.NewWorkspace(t, owner.Token)
		// seed makes a prototype with iterations × feedback, by two guest
		// testers, the first of each commented on, voted on and addressed
		// by the last iteration (iterations must be 2 or more); it returns the prototype and a tester's token.
		seed := func(iterations, feedback int) (string, string) {
			p := s.NewPrototype(t, owner.Token, ws.ID)
			_, secret := newInvite(t, s, owner.Token, p.ID, nil)
			ada, _ := newGuestOf(t, s, secret, "Ada")
			bo, _ := newGuestOf(t, s, secret, "Bo")
			var its, firsts []string
			for range iterations {
				it := s.NewPublishedIteration(t, owner.Token, p.ID)
				its = append(its, it.ID)
				for i := range feedback {
					fb := s.LeaveFeedback(t, []string{ada, bo}[i%2], it.ID, nil)
					if i == 0 {
						firsts = append(firsts, fb)
						s.AddComment(t, owner.Token, fb, "")
						s.Do(t, bo, voteMutation, vars{"id": fb}).RequireOK(t)
					}
				}
			}
			s.Do(t, owner.Token, markAddressedMutation, vars{"ids": firsts[:len(firsts)-1], "it": its[len(its)-1]}).RequireOK(t)
			return p.ID, ada
		}
		cost := func(t *testing.T, token, prototype string, iterations, feedback int) int64 {
			t.Helper()
			// One-off work per token; it also caches the token's identity.
			s.Do(t, token, prototypePageQuery, vars{"id": prototype}).RequireOK(t)
			before := s.Statements()
			r := s.Do(t, token, prototypePageQuery, vars{"id": prototype})
			statements := s.Statements() - before
			var got struct {
				Node struct {
					Iterations struct {
						Edges []struct {
							Node struct {
								Feedback struct {
									TotalCount int
									Edges      []struct {
										Node struct {
											Author struct{ DisplayName string }
										}
									}
								}
							}
						}
					}
				}
			}
			r.RequireOK(t).Decode(t, &got)
			its := got.Node.Iterations.Edges
			if want := min(iterations, 3); len(its) != want {
				t.Fatalf("%d iterations, want %d", len(its), want)
			}
			for _, it := range its {
				fb := it.Node.Feedback
				if fb.TotalCount != feedback || len(fb.Edges) != min(feedback, 10) {
					t.Fatalf("%d feedback (totalCount %d), want %d", len(fb.Edges), fb.TotalCount, feedback)
				}
				for _, f := range fb.Edges {
					if f.Node.Author.DisplayName == "" {
						t.Fatal("feedback without its author's name")
					}
				}
			}
			return statements
		}

		small, smallTester := seed(2, 2)
		busy, busyTester := seed(4, 12)
		for _, c := range []struct {
			name       string
			tokens     [2]string
			atMost     int64
			statements string
		}{
			// 6 levels (prototype, workspace, owner, iterations, feedback,
			// authors), 1 addressedIn, 3 totalCounts; the identity is cached
			{"its owner", [2]string{owner.Token, owner.Token}, 10, "6 levels + addressedIn + 3 counts"},
			// and the one a tester's masking of names reads once (who is on the team)
			{"a tester", [2]string{smallTester, busyTester}, 11, "the owner's, and 1 to mask names"},
		} {
			t.Run(c.name, func(t *testing.T) {
				smallCost := cost(t, c.tokens[0], small, 2, 2)
				busyCost := cost(t, c.tokens[1], busy, 4, 12)
				t.Logf("%s: the prototype page as %s took %d statements on 2×2 rows and %d on 4×12", s.Backend, c.name, smallCost, busyCost)
				if smallCost != busyCost {
					t.Errorf("the page took %d statements on a small prototype and %d on a busy one: some edge is loaded per row (N+1)",
						smallCost, busyCost)
				}
				if busyCost > c.atMost {
					t.Errorf("the page took %d statements, want at most %d (%s)", busyCost, c.atMost, c.statements)
				}
			})
		}
	})
}

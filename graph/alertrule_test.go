package graph_test

import (
	"context"
	"sync"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

const createAlertRule = `mutation($p: ID!, $in: CreateAlertRuleInput!) {
	createAlertRule(prototypeID: $p, input: $in) { id kind threshold enabled firedCount }
}`

// newAlertRule adds a rule to a prototype and returns its ID.
func newAlertRule(t *testing.T, s *servertest.Server, token, prototypeID, kind string, threshold float64) string {
	t.Helper()
	var out struct{ CreateAlertRule struct{ ID string } }
	decode(t, s, token, createAlertRule, vars{"p": prototypeID, "in": vars{"kind": kind, "threshold": threshold}}, &out)
	return out.CreateAlertRule.ID
}

// alerts returns the payloads of a prototype's ALERT events, oldest first.
func alerts(t *testing.T, s *servertest.Server, token, prototypeID string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range timeline(t, s, token, prototypeID, vars{"where": vars{"kind": "ALERT"}}) {
		out = append(out, e.Payload)
	}
	return out
}

func vote(t *testing.T, s *servertest.Server, token, feedbackID string, on bool) {
	t.Helper()
	q := `mutation($f: ID!) { vote(feedbackID: $f) { voteCount } }`
	if !on {
		q = `mutation($f: ID!) { unvote(feedbackID: $f) { voteCount } }`
	}
	s.Do(t, token, q, vars{"f": feedbackID}).RequireOK(t)
}

func TestAlertRulesFireOncePerCrossing(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		t.Run("a feedback reaching N votes", func(t *testing.T) {
			loop := s.NewLoop(t)
			owner := loop.Owner.Token
			rule := newAlertRule(t, s, owner, loop.Prototype.ID, "FEEDBACK_VOTES", 2)
			fb := s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
			other := s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
			a := s.NewMember(t, owner, loop.Workspace.ID, "VIEWER")
			b := s.NewMember(t, owner, loop.Workspace.ID, "VIEWER")
			c := s.NewMember(t, owner, loop.Workspace.ID, "VIEWER")

			vote(t, s, a.Token, fb, true) // 1
			vote(t, s, a.Token, other, true)
			if got := alerts(t, s, owner, loop.Prototype.ID); len(got) != 0 {
				t.Fatalf("alerts after one vote: %v", got)
			}
			vote(t, s, b.Token, fb, true) // 2: crosses
			vote(t, s, c.Token, fb, true) // 3
			vote(t, s, c.Token, fb, false)
			vote(t, s, b.Token, fb, false) // 1: back below
			vote(t, s, b.Token, fb, true)  // 2: crosses again
			got := alerts(t, s, owner, loop.Prototype.ID)
			if len(got) != 2 {
				t.Fatalf("got %d alerts, want 2: %v", len(got), got)
			}
			for _, p := range got {
				if p["rule"] != rule || p["feedback"] != fb || p["ruleKind"] != "FEEDBACK_VOTES" || p["value"] != float64(2) {
					t.Errorf("alert payload %v", p)
				}
			}
			var out struct {
				Node struct {
					AlertRules []struct {
						ID         string
						FiredCount int
					}
				}
			}
			decode(t, s, owner, `query($id: ID!) { node(id: $id) { ... on Prototype { alertRules { id firedCount } } } }`,
				vars{"id": loop.Prototype.ID}, &out)
			if r := out.Node.AlertRules; len(r) != 1 || r[0].ID != rule || r[0].FiredCount != 2 {
				t.Errorf("alertRules = %+v", r)
			}
		})

		t.Run("votes that arrive by a merge", func(t *testing.T) {
			loop := s.NewLoop(t)
			owner := loop.Owner.Token
			newAlertRule(t, s, owner, loop.Prototype.ID, "FEEDBACK_VOTES", 3)
			a := s.NewMember(t, owner, loop.Workspace.ID, "VIEWER")
			b := s.NewMember(t, owner, loop.Workspace.ID, "VIEWER")
			c := s.NewMember(t, owner, loop.Workspace.ID, "VIEWER")
			orig := s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
			dup := s.LeaveFeedback(t, c.Token, loop.Iteration.ID, nil)
			vote(t, s, a.Token, orig, true)
			vote(t, s, b.Token, dup, true)
			if got := alerts(t, s, owner, loop.Prototype.ID); len(got) != 0 {
				t.Fatalf("alerts before the merge: %v", got)
			}
			// The original gets b's vote and one for c, who wrote the duplicate.
			s.Do(t, owner, mergeMutation, vars{"dup": dup, "orig": orig}).RequireOK(t)
			got := alerts(t, s, owner, loop.Prototype.ID)
			if len(got) != 1 || got[0]["feedback"] != orig || got[0]["value"] != float64(3) {
				t.Fatalf("alerts after the merge: %v, want one on %s at 3 votes", got, orig)
			}
		})

		t.Run("N trials of one iteration abandoned", func(t *testing.T) {
			loop := s.NewLoop(t)
			owner := loop.Owner.Token
			newAlertRule(t, s, owner, loop.Prototype.ID, "TRIALS_ABANDONED", 2)
			end := func(token, outcome string) {
				t.Helper()
				trial := s.StartTrial(t, token, loop.Iteration.ID)
				s.Do(t, token, `mutation($id: ID!, $o: TrialOutcome!) { endTrial(id: $id, outcome: $o) { id } }`,
					vars{"id": trial, "o": outcome}).RequireOK(t)
			}
			end(owner, "ABANDONED")
			end(owner, "COMPLETED")
			if got := alerts(t, s, owner, loop.Prototype.ID); len(got) != 0 {
				t.Fatalf("alerts after one abandoned trial: %v", got)
			}
			end(owner, "ABANDONED")
			end(owner, "ABANDONED")
			got := alerts(t, s, owner, loop.Prototype.ID)
			if len(got) != 1 || got[0]["iteration"] != loop.Iteration.ID || got[0]["value"] != float64(2) {
				t.Fatalf("alerts = %v, want one at 2 abandoned trials", got)
			}
		})

		t.Run("trials abandoned at once cross once", func(t *testing.T) {
			loop := s.NewLoop(t)
			owner := loop.Owner.Token
			newAlertRule(t, s, owner, loop.Prototype.ID, "TRIALS_ABANDONED", 3)
			trials := make([]string, 8)
			for i := range trials {
				trials[i] = s.StartTrial(t, owner, loop.Iteration.ID)
			}
			var wg sync.WaitGroup
			errs := make(chan error, len(trials))
			for _, id := range trials {
				wg.Go(func() {
					r, err := s.Post(context.Background(), owner,
						`mutation($id: ID!) { endTrial(id: $id, outcome: ABANDONED) { id } }`, vars{"id": id})
					if err == nil {
						err = r.Err()
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := alerts(t, s, owner, loop.Prototype.ID); len(got) != 1 || got[0]["value"] != float64(3) {
				t.Fatalf("alerts = %v, want one at 3 abandoned trials", got)
			}
		})

		t.Run("the latest iteration's average rating dropping below X", func(t *testing.T) {
			loop := s.NewLoop(t)
			owner := loop.Owner.Token
			newAlertRule(t, s, owner, loop.Prototype.ID, "RATING_BELOW", 3)
			rate := func(it string, r int) {
				t.Helper()
				s.LeaveFeedback(t, owner, it, vars{"rating": r})
			}
			rate(loop.Iteration.ID, 4)
			rate(loop.Iteration.ID, 1) // 2.5: below
			rate(loop.Iteration.ID, 2) // 2.33: still below, no second alert
			rate(loop.Iteration.ID, 5) // 3: back
			rate(loop.Iteration.ID, 1) // 2.6: below again
			if got := alerts(t, s, owner, loop.Prototype.ID); len(got) != 2 {
				t.Fatalf("got %d alerts, want 2: %v", len(got), got)
			}
			// A new iteration starts without ratings: its own average counts.
			next := s.NewPublishedIteration(t, owner, loop.Prototype.ID)
			rate(next.ID, 4)
			rate(next.ID, 1)
			got := alerts(t, s, owner, loop.Prototype.ID)
			if len(got) != 3 || got[2]["iteration"] != next.ID || got[2]["value"] != 2.5 {
				t.Fatalf("alerts = %v, want a third for iteration %s at 2.5", got, next.ID)
			}
		})

		t.Run("a rating rule made after ratings sees them on the next one", func(t *testing.T) {
			// leaveFeedback skips the rules when the prototype has none
			// enabled: a rule made or enabled later must still be read.
			loop := s.NewLoop(t)
			owner := loop.Owner.Token
			rate := func(r int) {
				t.Helper()
				s.LeaveFeedback(t, owner, loop.Iteration.ID, vars{"rating": r})
			}
			switchRule := func(id string, on bool) {
				t.Helper()
				s.Do(t, owner, `mutation($id: ID!, $on: Boolean!) { updateAlertRule(id: $id, input: {enabled: $on}) { enabled } }`,
					vars{"id": id, "on": on}).RequireOK(t)
			}
			rate(4)
			rule := newAlertRule(t, s, owner, loop.Prototype.ID, "RATING_BELOW", 3) // 4: above
			switchRule(rule, false)
			rate(1) // 2.5, but the rule is off
			if got := alerts(t, s, owner, loop.Prototype.ID); len(got) != 0 {
				t.Fatalf("a disabled rule fired: %v", got)
			}
			switchRule(rule, true) // looks at once: below
			rate(5)                // 3.33: back
			rate(1)                // 2.75: below again
			if got := alerts(t, s, owner, loop.Prototype.ID); len(got) != 2 || got[1]["rule"] != rule {
				t.Fatalf("alerts = %v, want two of the rule, on enabling it and on the last rating", got)
			}
		})

		t.Run("a disabled rule stays quiet", func(t *testing.T) {
			loop := s.NewLoop(t)
			owner := loop.Owner.Token
			rule := newAlertRule(t, s, owner, loop.Prototype.ID, "FEEDBACK_VOTES", 1)
			s.Do(t, owner, `mutation($id: ID!) { updateAlertRule(id: $id, input: {enabled: false}) { enabled } }`,
				vars{"id": rule}).RequireOK(t)
			vote(t, s, owner, s.LeaveFeedback(t, owner, loop.Iteration.ID, nil), true)
			if got := alerts(t, s, owner, loop.Prototype.ID); len(got) != 0 {
				t.Fatalf("a disabled rule fired: %v", got)
			}
			s.Do(t, owner, `mutation($id: ID!) { deleteAlertRule(id: $id) { id } }`, vars{"id": rule}).RequireOK(t)
		})
	})
}

func TestAlertsStreamToMembersNotTesters(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		newAlertRule(t, s, owner, loop.Prototype.ID, "FEEDBACK_VOTES", 1)
		_, secret := newInvite(t, s, owner, loop.Prototype.ID, nil)
		guest, _ := newGuestOf(t, s, secret, "Gus")

		c := mustDialLive(t, s.URL, 0, owner)
		defer c.close()
		if err := c.subscribe("1", livePrototypeEvents, vars{"p": loop.Prototype.ID, "kinds": []string{"ALERT"}}); err != nil {
			t.Fatal(err)
		}
		fb := s.LeaveFeedback(t, guest, loop.Iteration.ID, nil)
		vote(t, s, guest, fb, true) // a tester's vote makes the team's rule fire
		if e := c.mustNext(t, "1"); e.Kind != "ALERT" {
			t.Fatalf("got a %s event, want ALERT", e.Kind)
		}
		if got := alerts(t, s, guest, loop.Prototype.ID); len(got) != 0 {
			t.Errorf("the tester sees alerts: %v", got)
		}
		if got := alerts(t, s, owner, loop.Prototype.ID); len(got) != 1 {
			t.Errorf("the owner sees %d alerts, want 1", len(got))
		}
		var out struct {
			Node struct{ AlertRules []struct{ ID string } }
		}
		decode(t, s, guest, `query($id: ID!) { node(id: $id) { ... on Prototype { alertRules { id } } } }`,
			vars{"id": loop.Prototype.ID}, &out)
		if len(out.Node.AlertRules) != 0 {
			t.Errorf("the tester sees the prototype's alert rules: %v", out.Node.AlertRules)
		}
	})
}

func TestAlertRulesAreTheTeamsToSet(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		maker := s.NewMember(t, owner, loop.Workspace.ID, "MAKER")
		viewer := s.NewMember(t, owner, loop.Workspace.ID, "VIEWER")
		in := func(kind string, threshold float64) vars {
			return vars{"p": loop.Prototype.ID, "in": vars{"kind": kind, "threshold": threshold}}
		}
		rule := newAlertRule(t, s, maker.Token, loop.Prototype.ID, "FEEDBACK_VOTES", 5)
		s.Do(t, viewer.Token, createAlertRule, in("FEEDBACK_VOTES", 5)).RequireError(t, "FORBIDDEN", "")
		s.Do(t, viewer.Token, `mutation($id: ID!) { updateAlertRule(id: $id, input: {threshold: 2}) { id } }`,
			vars{"id": rule}).RequireError(t, "FORBIDDEN", "")
		s.Do(t, s.NewUser(t, "Stranger").Token, createAlertRule, in("FEEDBACK_VOTES", 5)).RequireError(t, "NOT_FOUND", "")
		for _, tc := range []struct {
			name      string
			kind      string
			threshold float64
		}{
			{"a fractional vote count", "FEEDBACK_VOTES", 2.5},
			{"no trials at all", "TRIALS_ABANDONED", 0},
			{"a rating above 5", "RATING_BELOW", 6},
		} {
			t.Run(tc.name+" is refused", func(t *testing.T) {
				s.Do(t, owner, createAlertRule, in(tc.kind, tc.threshold)).RequireError(t, "BAD_USER_INPUT", "threshold")
			})
		}
		s.Do(t, owner, `mutation($id: ID!) { updateAlertRule(id: $id, input: {threshold: 0.5}) { id } }`,
			vars{"id": rule}).RequireError(t, "BAD_USER_INPUT", "threshold")
	})
}

package graph_test

import (
	"slices"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

// TestTimeline walks a prototype through one whole feedback loop and reads
// the story back from its timeline.
func TestTimeline(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		owner := s.NewUser(t, "Olive")
		ws := s.NewWorkspace(t, owner.Token)
		tester := s.NewMember(t, owner.Token, ws.ID, "VIEWER")
		outsider := s.NewUser(t, "Otto")

		p := s.NewPrototype(t, owner.Token, ws.ID)
		s.Do(t, owner.Token, setPrototypeStatusMutation, vars{"id": p.ID, "status": "TESTING"}).RequireOK(t)
		first := s.NewPublishedIteration(t, owner.Token, p.ID)
		trial := s.StartTrial(t, tester.Token, first.ID)
		fb := s.LeaveFeedback(t, tester.Token, first.ID, vars{"trialID": trial, "kind": "CONFUSION"})
		s.AddComment(t, owner.Token, fb, "")
		s.Do(t, owner.Token, voteMutation, vars{"id": fb}).RequireOK(t)
		s.Do(t, tester.Token, endTrialMutation, vars{"id": trial, "outcome": "COMPLETED"}).RequireOK(t)
		s.Do(t, owner.Token, setFeedbackStatusMutation, vars{"id": fb, "status": "ACKNOWLEDGED"}).RequireOK(t)
		second := s.NewPublishedIteration(t, owner.Token, p.ID)
		s.Do(t, owner.Token, markAddressedMutation, vars{"ids": []string{fb}, "it": second.ID}).RequireOK(t)
		praise := s.LeaveFeedback(t, tester.Token, second.ID, vars{"kind": "PRAISE"})

		want := []string{
			"PROTOTYPE_CREATED", "PROTOTYPE_STATUS_CHANGED",
			"ITERATION_CREATED", "ITERATION_PUBLISHED",
			"TRIAL_STARTED", "FEEDBACK_ADDED", "COMMENT_ADDED", "VOTE_ADDED", "TRIAL_ENDED",
			"FEEDBACK_STATUS_CHANGED",
			"ITERATION_CREATED", "ITERATION_PUBLISHED",
			"FEEDBACK_ADDRESSED", "VERIFICATION_REQUESTED", "FEEDBACK_ADDED",
		}

		t.Run("lists every change in the order it happened", func(t *testing.T) {
			events := timeline(t, s, tester.Token, p.ID, nil)
			if got := eventKinds(events); !slices.Equal(got, want) {
				t.Fatalf("timeline kinds:\n got %v\nwant %v", got, want)
			}
			for i := 1; i < len(events); i++ {
				if events[i].Seq <= events[i-1].Seq {
					t.Errorf("event %d has seq %d after %d: want increasing", i, events[i].Seq, events[i-1].Seq)
				}
			}
			actors := map[string]string{
				"PROTOTYPE_CREATED": owner.Name, "TRIAL_STARTED": tester.Name, "FEEDBACK_ADDED": tester.Name,
				"COMMENT_ADDED": owner.Name, "FEEDBACK_ADDRESSED": owner.Name,
			}
			for _, e := range events {
				if name, ok := actors[e.Kind]; ok && (e.Actor == nil || e.Actor.DisplayName != name) {
					t.Errorf("%s (seq %d) actor %+v, want %s", e.Kind, e.Seq, e.Actor, name)
				}
			}
		})

		t.Run("lists the newest first when ordered by SEQ DESC", func(t *testing.T) {
			events := timeline(t, s, tester.Token, p.ID, vars{"orderBy": vars{"field": "SEQ", "direction": "DESC"}})
			reversed := slices.Clone(want)
			slices.Reverse(reversed)
			if got := eventKinds(events); !slices.Equal(got, reversed) {
				t.Errorf("timeline kinds newest first:\n got %v\nwant %v", got, reversed)
			}
		})

		t.Run("filters by kind", func(t *testing.T) {
			events := timeline(t, s, tester.Token, p.ID, vars{"where": vars{"kind": "FEEDBACK_ADDED"}})
			var subjects []string
			for _, e := range events {
				if e.Kind != "FEEDBACK_ADDED" || e.Subject == nil {
					t.Fatalf("filtered timeline has %+v", e)
				}
				subjects = append(subjects, e.Subject.ID)
			}
			if !slices.Equal(subjects, []string{fb, praise}) {
				t.Errorf("FEEDBACK_ADDED events are about %v, want %v", subjects, []string{fb, praise})
			}
		})

		t.Run("shows the subject of each event", func(t *testing.T) {
			events := timeline(t, s, tester.Token, p.ID, vars{"where": vars{"kindIn": []string{"ITERATION_PUBLISHED", "TRIAL_ENDED"}}})
			var got []nodeData
			for _, e := range events {
				if e.Subject != nil {
					got = append(got, nodeData{e.Subject.Typename, e.Subject.ID})
				}
			}
			wantSubjects := []nodeData{{"Iteration", first.ID}, {"Trial", trial}, {"Iteration", second.ID}}
			if !slices.Equal(got, wantSubjects) {
				t.Errorf("subjects %v, want %v", got, wantSubjects)
			}
		})

		t.Run("is hidden from non-members", func(t *testing.T) {
			requireHidden(t, s.Do(t, outsider.Token, timelineQuery, vars{"id": p.ID}), "node")
		})
	})
}

package graph_test

import (
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

const editFeedbackMutation = `mutation($id: ID!, $in: EditFeedbackInput!) {
	editFeedback(id: $id, input: $in) { id kind body rating minutesSavedPerDay status }
}`

const retractFeedbackMutation = `mutation($id: ID!) { retractFeedback(id: $id) { id status addressedIn { id } } }`

// editedFeedback is feedback as editFeedback returns it.
type editedFeedback struct {
	ID, Kind, Body, Status string
	Rating                 *int
	MinutesSavedPerDay     *int
}

func TestEditFeedback(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		viewer := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
		maker := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "MAKER")
		outsider := s.NewLoop(t).Owner
		_, secret := newInvite(t, s, loop.Owner.Token, loop.Prototype.ID, nil)
		guest, _ := newGuestOf(t, s, secret, "Gale")
		otherGuest, _ := newGuestOf(t, s, secret, "Gert")

		t.Run("the author changes what they said, and the timeline names what changed", func(t *testing.T) {
			id := s.LeaveFeedback(t, viewer.Token, loop.Iteration.ID, map[string]any{"kind": "BUG", "rating": 2})
			mark := lastSeq(t, s, loop.Owner.Token, loop.Prototype.ID)
			var got struct{ EditFeedback editedFeedback }
			decode(t, s, viewer.Token, editFeedbackMutation, vars{"id": id, "in": vars{
				"kind": "BUG", "body": "It crashes on save, not on load.", "rating": 1, "minutesSavedPerDay": 15,
			}}, &got)
			fb := got.EditFeedback
			if fb.Kind != "BUG" || fb.Body != "It crashes on save, not on load." || fb.Rating == nil || *fb.Rating != 1 ||
				fb.MinutesSavedPerDay == nil || *fb.MinutesSavedPerDay != 15 || fb.Status != "OPEN" {
				t.Errorf("feedback = %+v, want the edit applied and still OPEN", fb)
			}
			events := expectEvents(t, s, loop.Owner.Token, loop.Prototype.ID, mark, "FEEDBACK_EDITED")
			fields, _ := events[0].Payload["fields"].([]any)
			if len(fields) != 3 || fields[0] != "body" || fields[1] != "rating" || fields[2] != "minutesSavedPerDay" {
				t.Errorf("FEEDBACK_EDITED fields = %v, want [body rating minutesSavedPerDay]: kind did not change", events[0].Payload["fields"])
			}
		})

		t.Run("an edit that changes nothing records nothing", func(t *testing.T) {
			id := s.LeaveFeedback(t, viewer.Token, loop.Iteration.ID, map[string]any{"kind": "IDEA"})
			mark := lastSeq(t, s, loop.Owner.Token, loop.Prototype.ID)
			s.Do(t, viewer.Token, editFeedbackMutation, vars{"id": id, "in": vars{"kind": "IDEA"}}).RequireOK(t)
			expectEvents(t, s, loop.Owner.Token, loop.Prototype.ID, mark)
		})

		t.Run("a guest edits its own feedback", func(t *testing.T) {
			id := s.LeaveFeedback(t, guest, loop.Iteration.ID, nil)
			var got struct{ EditFeedback editedFeedback }
			decode(t, s, guest, editFeedbackMutation, vars{"id": id, "in": vars{"kind": "CONFUSION"}}, &got)
			if got.EditFeedback.Kind != "CONFUSION" {
				t.Errorf("kind = %s, want CONFUSION", got.EditFeedback.Kind)
			}
		})

		t.Run("once triaged, feedback stays as it was said", func(t *testing.T) {
			id := s.LeaveFeedback(t, viewer.Token, loop.Iteration.ID, nil)
			s.Do(t, maker.Token, setFeedbackStatusMutation, vars{"id": id, "status": "ACKNOWLEDGED"}).RequireOK(t)
			r := s.Do(t, viewer.Token, editFeedbackMutation, vars{"id": id, "in": vars{"body": "Changed my mind."}})
			r.RequireError(t, "BAD_USER_INPUT", "id")
			if want := "feedback can be edited until it is triaged"; r.Errors[0].Message != want {
				t.Errorf("message %q, want %q", r.Errors[0].Message, want)
			}
		})

		id := s.LeaveFeedback(t, guest, loop.Iteration.ID, nil)
		for _, tc := range []struct {
			name, token string
			in          vars
			code, field string
		}{
			{"the team may not put words in a tester's mouth", maker.Token, vars{"body": "Better words."}, "FORBIDDEN", ""},
			{"the owner may not either", loop.Owner.Token, vars{"body": "Better words."}, "FORBIDDEN", ""},
			{"another tester may not", otherGuest, vars{"body": "Better words."}, "FORBIDDEN", ""},
			{"a member of another workspace cannot find it", outsider.Token, vars{"body": "Better words."}, "NOT_FOUND", ""},
			{"an anonymous caller must sign in", "", vars{"body": "Better words."}, "UNAUTHENTICATED", ""},
			{"an empty body is refused", guest, vars{"body": ""}, "BAD_USER_INPUT", "body"},
			{"a body over 10,000 characters is refused", guest, vars{"body": long(10_001)}, "BAD_USER_INPUT", "body"},
			{"a rating of 6 is refused", guest, vars{"rating": 6}, "BAD_USER_INPUT", "rating"},
			{"481 minutes a day is refused", guest, vars{"minutesSavedPerDay": 481}, "BAD_USER_INPUT", "minutesSavedPerDay"},
			{"an edit of nothing is refused", guest, vars{}, "BAD_USER_INPUT", "input"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s.Do(t, tc.token, editFeedbackMutation, vars{"id": id, "in": tc.in}).RequireError(t, tc.code, tc.field)
			})
		}
	})
}

func TestRetractFeedback(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		maker := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "MAKER")
		_, secret := newInvite(t, s, loop.Owner.Token, loop.Prototype.ID, nil)
		guest, _ := newGuestOf(t, s, secret, "Rae")
		otherGuest, _ := newGuestOf(t, s, secret, "Rob")

		t.Run("the author takes feedback back, and triage leaves it alone", func(t *testing.T) {
			id := s.LeaveFeedback(t, guest, loop.Iteration.ID, nil)
			s.Do(t, maker.Token, setFeedbackStatusMutation, vars{"id": id, "status": "PLANNED"}).RequireOK(t)
			mark := lastSeq(t, s, loop.Owner.Token, loop.Prototype.ID)
			var got struct{ RetractFeedback struct{ ID, Status string } }
			decode(t, s, guest, retractFeedbackMutation, vars{"id": id}, &got)
			if got.RetractFeedback.Status != "RETRACTED" {
				t.Errorf("status = %s, want RETRACTED", got.RetractFeedback.Status)
			}
			events := expectEvents(t, s, loop.Owner.Token, loop.Prototype.ID, mark, "FEEDBACK_RETRACTED")
			if events[0].Payload["from"] != "PLANNED" {
				t.Errorf("FEEDBACK_RETRACTED payload = %v, want from PLANNED", events[0].Payload)
			}

			for _, status := range []string{"OPEN", "ACKNOWLEDGED", "DECLINED"} {
				s.Do(t, maker.Token, setFeedbackStatusMutation, vars{"id": id, "status": status}).
					RequireError(t, "BAD_USER_INPUT", "status")
			}
			next := s.NewPublishedIteration(t, maker.Token, loop.Prototype.ID)
			s.Do(t, maker.Token, markAddressedMutation, vars{"ids": []string{id}, "it": next.ID}).
				RequireError(t, "BAD_USER_INPUT", "feedbackIDs")
			r := s.Do(t, guest, retractFeedbackMutation, vars{"id": id})
			r.RequireError(t, "BAD_USER_INPUT", "id")
		})

		t.Run("the team cannot retract feedback for its author", func(t *testing.T) {
			id := s.LeaveFeedback(t, guest, loop.Iteration.ID, nil)
			s.Do(t, maker.Token, setFeedbackStatusMutation, vars{"id": id, "status": "RETRACTED"}).
				RequireError(t, "BAD_USER_INPUT", "status")
			s.Do(t, maker.Token, retractFeedbackMutation, vars{"id": id}).RequireError(t, "FORBIDDEN", "")
			s.Do(t, otherGuest, retractFeedbackMutation, vars{"id": id}).RequireError(t, "FORBIDDEN", "")
		})

		t.Run("addressed feedback may be retracted and keeps the iteration that addressed it", func(t *testing.T) {
			id := s.LeaveFeedback(t, guest, loop.Iteration.ID, nil)
			next := s.NewPublishedIteration(t, maker.Token, loop.Prototype.ID)
			s.Do(t, maker.Token, markAddressedMutation, vars{"ids": []string{id}, "it": next.ID}).RequireOK(t)
			var got struct {
				RetractFeedback struct {
					Status      string
					AddressedIn *struct{ ID string }
				}
			}
			decode(t, s, guest, retractFeedbackMutation, vars{"id": id}, &got)
			if fb := got.RetractFeedback; fb.Status != "RETRACTED" || fb.AddressedIn == nil || fb.AddressedIn.ID != next.ID {
				t.Errorf("retracted = %+v, want RETRACTED, addressed in %s", fb, next.ID)
			}
		})

		t.Run("a member of another workspace cannot find it", func(t *testing.T) {
			id := s.LeaveFeedback(t, guest, loop.Iteration.ID, nil)
			s.Do(t, s.NewLoop(t).Owner.Token, retractFeedbackMutation, vars{"id": id}).RequireError(t, "NOT_FOUND", "")
			s.Do(t, "", retractFeedbackMutation, vars{"id": id}).RequireError(t, "UNAUTHENTICATED", "")
		})
	})
}

package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

const leaveFeedbackMutation = `mutation($in: LeaveFeedbackInput!) {
	leaveFeedback(input: $in) {
		id kind body rating minutesSavedPerDay status
		author { id displayName user { id } }
		iteration { id } prototype { id } trial { id }
	}
}`

const setFeedbackStatusMutation = `mutation($id: ID!, $status: FeedbackStatus!) {
	setFeedbackStatus(id: $id, status: $status) { id status }
}`

const markAddressedMutation = `mutation($ids: [ID!]!, $it: ID!) {
	markAddressed(feedbackIDs: $ids, iterationID: $it) { id status addressedIn { id } }
}`

const feedbackStatusQuery = `query($id: ID!) {
	node(id: $id) { ... on Feedback { status addressedIn { id } } }
}`

type feedbackData struct {
	ID, Kind, Body, Status string
	Rating                 *int
	MinutesSavedPerDay     *int
	Author                 struct {
		ID, DisplayName string
		User            *struct{ ID string }
	}
	Iteration, Prototype struct{ ID string }
	Trial                *struct{ ID string }
	AddressedIn          *struct{ ID string }
}

func TestLeaveFeedback(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		tester := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
		outsider := s.NewUser(t, "Otto")
		draft := s.NewIteration(t, loop.Owner.Token, loop.Prototype.ID)
		leave := func(token string, change vars) *servertest.Response {
			in := vars{"iterationID": loop.Iteration.ID, "kind": "BUG", "body": "The date picker ignores my taps."}
			for k, v := range change {
				in[k] = v
			}
			return s.Do(t, token, leaveFeedbackMutation, vars{"in": in})
		}

		t.Run("lets any member leave feedback from a trial and records FEEDBACK_ADDED", func(t *testing.T) {
			trial := s.StartTrial(t, tester.Token, loop.Iteration.ID)
			mark := lastSeq(t, s, tester.Token, loop.Prototype.ID)
			var got struct{ LeaveFeedback feedbackData }
			leave(tester.Token, vars{
				"trialID": trial, "kind": "WORKAROUND", "body": "I keep a paper list instead.", "rating": 4, "minutesSavedPerDay": 15,
			}).RequireOK(t).Decode(t, &got)
			fb := got.LeaveFeedback
			if fb.Kind != "WORKAROUND" || fb.Body != "I keep a paper list instead." || fb.Rating == nil || *fb.Rating != 4 ||
				fb.MinutesSavedPerDay == nil || *fb.MinutesSavedPerDay != 15 {
				t.Errorf("feedback %+v, want the input's fields", fb)
			}
			if fb.Status != "OPEN" || fb.Iteration.ID != loop.Iteration.ID || fb.Prototype.ID != loop.Prototype.ID ||
				fb.Trial == nil || fb.Trial.ID != trial {
				t.Errorf("feedback %+v, want OPEN on %s of %s from trial %s", fb, loop.Iteration.ID, loop.Prototype.ID, trial)
			}
			if fb.Author.DisplayName != tester.Name || fb.Author.User == nil || fb.Author.User.ID != tester.ID {
				t.Errorf("author %+v, want the tester %s", fb.Author, tester.Name)
			}
			events := expectEvents(t, s, tester.Token, loop.Prototype.ID, mark, "FEEDBACK_ADDED")
			if e := events[0]; e.Subject == nil || e.Subject.ID != fb.ID || e.Actor == nil || e.Actor.DisplayName != tester.Name {
				t.Errorf("FEEDBACK_ADDED subject %+v actor %+v, want the feedback and the tester", e.Subject, e.Actor)
			}
		})

		t.Run("takes feedback without rating, estimate or trial", func(t *testing.T) {
			var got struct{ LeaveFeedback feedbackData }
			leave(tester.Token, nil).RequireOK(t).Decode(t, &got)
			if fb := got.LeaveFeedback; fb.Rating != nil || fb.MinutesSavedPerDay != nil || fb.Trial != nil {
				t.Errorf("feedback %+v, want no rating, estimate or trial", fb)
			}
		})

		for _, tc := range []struct {
			name   string
			change vars
		}{
			{"accepts rating 1", vars{"rating": 1}},
			{"accepts rating 5", vars{"rating": 5}},
			{"accepts 0 minutes saved", vars{"minutesSavedPerDay": 0}},
			{"accepts 480 minutes saved", vars{"minutesSavedPerDay": 480}},
			{"accepts a body of 10,000 characters", vars{"body": long(10_000)}},
		} {
			t.Run(tc.name, func(t *testing.T) { leave(tester.Token, tc.change).RequireOK(t) })
		}

		otherTrial := s.StartTrial(t, tester.Token, s.NewPublishedIteration(t, loop.Owner.Token, loop.Prototype.ID).ID)
		for _, tc := range []struct {
			name, token, code, field string
			change                   vars
		}{
			{"refuses rating 0", tester.Token, "BAD_USER_INPUT", "rating", vars{"rating": 0}},
			{"refuses rating 6", tester.Token, "BAD_USER_INPUT", "rating", vars{"rating": 6}},
			{"refuses 481 minutes saved", tester.Token, "BAD_USER_INPUT", "minutesSavedPerDay", vars{"minutesSavedPerDay": 481}},
			{"refuses negative minutes saved", tester.Token, "BAD_USER_INPUT", "minutesSavedPerDay", vars{"minutesSavedPerDay": -1}},
			{"refuses an empty body", tester.Token, "BAD_USER_INPUT", "body", vars{"body": ""}},
			{"refuses a body over 10,000 characters", tester.Token, "BAD_USER_INPUT", "body", vars{"body": long(10_001)}},
			{"refuses an idempotency key over 128 characters", tester.Token, "BAD_USER_INPUT", "idempotencyKey", vars{"idempotencyKey": long(129)}},
			{"refuses an empty idempotency key", tester.Token, "BAD_USER_INPUT", "idempotencyKey", vars{"idempotencyKey": ""}},
			{"refuses a draft iteration", tester.Token, "BAD_USER_INPUT", "", vars{"iterationID": draft.ID}},
			{"refuses a trial of another iteration", tester.Token, "BAD_USER_INPUT", "", vars{"trialID": otherTrial}},
			// A value outside an enum fails GraphQL validation, before any resolver.
			{"refuses an unknown kind", tester.Token, "GRAPHQL_VALIDATION_FAILED", "", vars{"kind": "RANT"}},
			{"hides the iteration from a non-member", outsider.Token, "NOT_FOUND", "", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				mark := lastSeq(t, s, loop.Owner.Token, loop.Prototype.ID)
				leave(tc.token, tc.change).RequireError(t, tc.code, tc.field)
				expectEvents(t, s, loop.Owner.Token, loop.Prototype.ID, mark)
			})
		}

		t.Run("returns the first feedback again for a repeated idempotency key", func(t *testing.T) {
			key := vars{"idempotencyKey": "retry-7f3a", "body": "Submitted twice by a flaky connection."}
			var first, again struct{ LeaveFeedback feedbackData }
			leave(tester.Token, key).RequireOK(t).Decode(t, &first)
			mark := lastSeq(t, s, tester.Token, loop.Prototype.ID)
			leave(tester.Token, key).RequireOK(t).Decode(t, &again)
			if again.LeaveFeedback.ID != first.LeaveFeedback.ID {
				t.Errorf("the retry created %s, want the first feedback %s again", again.LeaveFeedback.ID, first.LeaveFeedback.ID)
			}
			expectEvents(t, s, tester.Token, loop.Prototype.ID, mark) // the retry changed nothing

			var other struct{ LeaveFeedback feedbackData }
			leave(loop.Owner.Token, key).RequireOK(t).Decode(t, &other)
			if other.LeaveFeedback.ID == first.LeaveFeedback.ID {
				t.Error("another author's feedback with the same key returned the first author's feedback")
			}
		})
	})
}

// TestLeaveFeedbackAsTheViewerMay checks the statement that reads the
// iteration together with the viewer's participant and the prototype's
// rating rules: the iteration as the viewer may see it, the participant
// the viewer acts as.
func TestLeaveFeedbackAsTheViewerMay(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		_, secret := newInvite(t, s, owner, loop.Prototype.ID, nil)
		leave := func(token, iteration string) *servertest.Response {
			return s.Do(t, token, leaveFeedbackMutation, vars{"in": vars{"iterationID": iteration, "kind": "IDEA", "body": "Remember my filter."}})
		}
		authorOf := func(token, iteration string) string {
			t.Helper()
			var got struct{ LeaveFeedback feedbackData }
			leave(token, iteration).RequireOK(t).Decode(t, &got)
			return got.LeaveFeedback.Author.ID
		}

		t.Run("a member writes as the participant its first feedback made", func(t *testing.T) {
			member := s.NewMember(t, owner, loop.Workspace.ID, "VIEWER")
			first := authorOf(member.Token, loop.Iteration.ID)
			if again := authorOf(member.Token, loop.Iteration.ID); again != first {
				t.Errorf("second feedback by participant %s, want %s", again, first)
			}
		})

		t.Run("a member writes on each prototype as its participant there", func(t *testing.T) {
			// The first statement looks the participant up by prototype:
			// with one on each of two prototypes, each keeps its own.
			member := s.NewMember(t, owner, loop.Workspace.ID, "VIEWER")
			other := s.NewPublishedIteration(t, owner, s.NewPrototype(t, owner, loop.Workspace.ID).ID)
			here, there := authorOf(member.Token, loop.Iteration.ID), authorOf(member.Token, other.ID)
			if here == there {
				t.Fatalf("feedback on two prototypes by one participant %s, want one each", here)
			}
			for range 2 {
				if got := authorOf(member.Token, loop.Iteration.ID); got != here {
					t.Errorf("feedback by participant %s, want this prototype's %s", got, here)
				}
				if got := authorOf(member.Token, other.ID); got != there {
					t.Errorf("feedback on the other prototype by participant %s, want its %s", got, there)
				}
			}
		})

		t.Run("a member's first feedbacks sent at once share one participant", func(t *testing.T) {
			// None finds the participant in the first statement: each makes
			// or finds it through participantFor.
			member := s.NewMember(t, owner, loop.Workspace.ID, "VIEWER")
			left := leaveAtOnce(t, s, member.Token, 8, func(i int) vars {
				return vars{"iterationID": loop.Iteration.ID, "kind": "IDEA", "body": fmt.Sprintf("Idea %d.", i)}
			})
			authors := make([]string, len(left))
			for i, fb := range left {
				authors[i] = fb.Author.ID
			}
			if distinct := slices.Compact(slices.Sorted(slices.Values(authors))); len(distinct) != 1 {
				t.Errorf("feedback by participants %v, want one", distinct)
			}
		})

		t.Run("a former member who took part finds the iteration gone", func(t *testing.T) {
			member := s.NewUser(t, "Mo")
			membership := s.AddMember(t, owner, loop.Workspace.ID, member.Email, "VIEWER")
			authorOf(member.Token, loop.Iteration.ID)
			s.Do(t, owner, removeMemberMutation, vars{"id": membership}).RequireOK(t)
			leave(member.Token, loop.Iteration.ID).RequireError(t, "NOT_FOUND", "")
		})

		t.Run("a user who tests writes as its invite's participant", func(t *testing.T) {
			user := s.NewUser(t, "Cy")
			r := redeemAs(t, s, user.Token, secret, "Cy")
			for range 2 {
				if got := authorOf(user.Token, loop.Iteration.ID); got != r.Participant.ID {
					t.Errorf("feedback by participant %s, want the invite's %s", got, r.Participant.ID)
				}
			}
		})

		t.Run("a guest writes as its participant and finds a draft gone", func(t *testing.T) {
			token, participant := newGuestOf(t, s, secret, "Ada")
			if got := authorOf(token, loop.Iteration.ID); got != participant {
				t.Errorf("feedback by participant %s, want the guest's %s", got, participant)
			}
			draft := s.NewIteration(t, owner, loop.Prototype.ID)
			leave(token, draft.ID).RequireError(t, "NOT_FOUND", "")
			leave(loop.Owner.Token, draft.ID).RequireError(t, "BAD_USER_INPUT", "")
		})
	})
}

// leaveAtOnce sends n leaveFeedback requests at once, the i-th with the
// input in(i), and returns what each left, failing t for each that
// failed.
func leaveAtOnce(t *testing.T, s *servertest.Server, token string, n int, in func(i int) vars) []feedbackData {
	t.Helper()
	left := make([]feedbackData, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := s.Post(context.Background(), token, leaveFeedbackMutation, vars{"in": in(i)})
			if err == nil {
				err = r.Err()
			}
			var got struct{ LeaveFeedback feedbackData }
			if err == nil {
				if err = json.Unmarshal(r.Data, &got); err != nil {
					err = fmt.Errorf("data %s: %v", r.Data, err)
				}
			}
			left[i], errs[i] = got.LeaveFeedback, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	return left
}

// TestLeaveFeedbackConcurrentlyWithOneIdempotencyKey sends the same
// feedback ten times at once, as an impatient client on a flaky network
// might: it must be stored, and announced, once.
func TestLeaveFeedbackConcurrentlyWithOneIdempotencyKey(t *testing.T) {
	const n = 10
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		tester := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
		s.StartTrial(t, tester.Token, loop.Iteration.ID) // the tester is a participant already
		in := vars{"iterationID": loop.Iteration.ID, "kind": "BUG", "body": "Tapped send ten times.", "idempotencyKey": "k-1"}
		left := leaveAtOnce(t, s, tester.Token, n, func(int) vars { return in })
		ids := make([]string, len(left))
		for i, fb := range left {
			ids[i] = fb.ID
		}
		if distinct := slices.Compact(slices.Sorted(slices.Values(ids))); len(distinct) != 1 {
			t.Errorf("the requests returned feedback %v, want one ID for all", ids)
		}

		var got struct {
			Node struct {
				Feedback struct{ TotalCount int }
			}
		}
		decode(t, s, loop.Owner.Token, `query($id: ID!) { node(id: $id) { ... on Prototype { feedback { totalCount } } } }`,
			vars{"id": loop.Prototype.ID}, &got)
		if got.Node.Feedback.TotalCount != 1 {
			t.Errorf("the prototype has %d feedback, want 1", got.Node.Feedback.TotalCount)
		}
		added := timeline(t, s, loop.Owner.Token, loop.Prototype.ID, vars{"where": vars{"kind": "FEEDBACK_ADDED"}})
		if len(added) != 1 {
			t.Errorf("the timeline has %d FEEDBACK_ADDED events, want 1", len(added))
		}
	})
}

func TestSetFeedbackStatus(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		maker := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "MAKER")
		tester := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
		set := func(token, id, status string) *servertest.Response {
			return s.Do(t, token, setFeedbackStatusMutation, vars{"id": id, "status": status})
		}
		status := func(id string) string {
			var got struct{ Node feedbackData }
			decode(t, s, loop.Owner.Token, feedbackStatusQuery, vars{"id": id}, &got)
			return got.Node.Status
		}
		// inStatus returns new feedback moved along allowed steps to status.
		inStatus := func(want string) string {
			fb := s.LeaveFeedback(t, tester.Token, loop.Iteration.ID, nil)
			path := map[string][]string{
				"OPEN": nil, "ACKNOWLEDGED": {"ACKNOWLEDGED"}, "PLANNED": {"ACKNOWLEDGED", "PLANNED"}, "DECLINED": {"DECLINED"},
			}[want]
			for _, st := range path {
				set(maker.Token, fb, st).RequireOK(t)
			}
			return fb
		}

		for _, path := range [][]string{
			{"ACKNOWLEDGED", "PLANNED"},
			{"DECLINED", "OPEN"},
		} {
			t.Run(fmt.Sprintf("triages OPEN → %v and records each change", path), func(t *testing.T) {
				fb := s.LeaveFeedback(t, tester.Token, loop.Iteration.ID, nil)
				for _, to := range path {
					mark := lastSeq(t, s, maker.Token, loop.Prototype.ID)
					var got struct{ SetFeedbackStatus feedbackData }
					set(maker.Token, fb, to).RequireOK(t).Decode(t, &got)
					if got.SetFeedbackStatus.Status != to {
						t.Fatalf("status is %s, want %s", got.SetFeedbackStatus.Status, to)
					}
					events := expectEvents(t, s, maker.Token, loop.Prototype.ID, mark, "FEEDBACK_STATUS_CHANGED")
					if e := events[0]; e.Subject == nil || e.Subject.ID != fb {
						t.Errorf("FEEDBACK_STATUS_CHANGED is about %+v, want %s", e.Subject, fb)
					}
				}
			})
		}

		for _, tc := range []struct{ from, to string }{
			{"OPEN", "ADDRESSED"},
			{"OPEN", "VERIFIED"},
			{"ACKNOWLEDGED", "VERIFIED"},
			{"PLANNED", "ADDRESSED"},
			{"DECLINED", "PLANNED"},
		} {
			t.Run("refuses "+tc.from+" → "+tc.to, func(t *testing.T) {
				fb := inStatus(tc.from)
				mark := lastSeq(t, s, maker.Token, loop.Prototype.ID)
				set(maker.Token, fb, tc.to).RequireError(t, "BAD_USER_INPUT", "")
				if got := status(fb); got != tc.from {
					t.Errorf("status after the refused move is %s, want %s", got, tc.from)
				}
				expectEvents(t, s, maker.Token, loop.Prototype.ID, mark)
			})
		}

		t.Run("does not let a viewer triage, even their own feedback", func(t *testing.T) {
			set(tester.Token, inStatus("OPEN"), "ACKNOWLEDGED").RequireError(t, "FORBIDDEN", "")
		})
	})
}

func TestMarkAddressed(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		tester := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
		owner := loop.Owner.Token
		first := loop.Iteration
		mark := func(token string, ids []string, iteration string) *servertest.Response {
			return s.Do(t, token, markAddressedMutation, vars{"ids": ids, "it": iteration})
		}
		leave := func(iteration string) string { return s.LeaveFeedback(t, tester.Token, iteration, nil) }

		fb1, fb2 := leave(first.ID), leave(first.ID)
		// Planned feedback is what an iteration usually addresses.
		for _, st := range []string{"ACKNOWLEDGED", "PLANNED"} {
			s.Do(t, owner, setFeedbackStatusMutation, vars{"id": fb2, "status": st}).RequireOK(t)
		}
		second := s.NewPublishedIteration(t, owner, loop.Prototype.ID)

		t.Run("links feedback to the later iteration that addresses it and records FEEDBACK_ADDRESSED", func(t *testing.T) {
			seq := lastSeq(t, s, owner, loop.Prototype.ID)
			var got struct{ MarkAddressed []feedbackData }
			mark(owner, []string{fb1, fb2}, second.ID).RequireOK(t).Decode(t, &got)
			if len(got.MarkAddressed) != 2 {
				t.Fatalf("markAddressed returned %d feedback, want 2", len(got.MarkAddressed))
			}
			for _, fb := range got.MarkAddressed {
				if fb.Status != "ADDRESSED" || fb.AddressedIn == nil || fb.AddressedIn.ID != second.ID {
					t.Errorf("feedback %s: status %s addressedIn %+v, want ADDRESSED in %s", fb.ID, fb.Status, fb.AddressedIn, second.ID)
				}
			}

			var it struct {
				Node struct {
					Addresses struct {
						TotalCount int
						Edges      []struct{ Node struct{ ID string } }
					}
				}
			}
			decode(t, s, tester.Token, `query($id: ID!) {
				node(id: $id) { ... on Iteration { addresses(first: 10) { totalCount edges { node { id } } } } }
			}`, vars{"id": second.ID}, &it)
			var addressed []string
			for _, e := range it.Node.Addresses.Edges {
				addressed = append(addressed, e.Node.ID)
			}
			slices.Sort(addressed)
			want := []string{fb1, fb2}
			slices.Sort(want)
			if it.Node.Addresses.TotalCount != 2 || !slices.Equal(addressed, want) {
				t.Errorf("iteration %s addresses %v (totalCount %d), want %v", second.ID, addressed, it.Node.Addresses.TotalCount, want)
			}

			var fb struct{ Node feedbackData }
			decode(t, s, tester.Token, feedbackStatusQuery, vars{"id": fb1}, &fb)
			if fb.Node.AddressedIn == nil || fb.Node.AddressedIn.ID != second.ID {
				t.Errorf("feedback %s addressedIn %+v, want %s", fb1, fb.Node.AddressedIn, second.ID)
			}

			// The iteration is out already: the authors are asked to check
			// the fixes at once.
			events := expectEvents(t, s, owner, loop.Prototype.ID, seq,
				"FEEDBACK_ADDRESSED", "FEEDBACK_ADDRESSED", "VERIFICATION_REQUESTED", "VERIFICATION_REQUESTED")
			var subjects []string
			for _, e := range events[:2] {
				if e.Subject != nil {
					subjects = append(subjects, e.Subject.ID)
				}
			}
			slices.Sort(subjects)
			if !slices.Equal(subjects, want) {
				t.Errorf("FEEDBACK_ADDRESSED events are about %v, want %v", subjects, want)
			}
		})

		declined := leave(first.ID)
		s.Do(t, owner, setFeedbackStatusMutation, vars{"id": declined, "status": "DECLINED"}).RequireOK(t)
		open := leave(first.ID)
		onSecond := leave(second.ID)
		otherPrototype := s.NewPrototype(t, owner, loop.Workspace.ID)
		elsewhere := s.NewPublishedIteration(t, owner, otherPrototype.ID)

		for _, tc := range []struct {
			name, token string
			ids         []string
			iteration   string
			code        string
		}{
			{"refuses the iteration the feedback is about", owner, []string{onSecond}, second.ID, "BAD_USER_INPUT"},
			{"refuses an earlier iteration", owner, []string{onSecond}, first.ID, "BAD_USER_INPUT"},
			{"refuses declined feedback", owner, []string{declined}, second.ID, "BAD_USER_INPUT"},
			{"refuses an iteration of another prototype", owner, []string{open}, elsewhere.ID, "BAD_USER_INPUT"},
			{"changes nothing when one of the feedback is refused", owner, []string{open, declined}, second.ID, "BAD_USER_INPUT"},
			{"does not let a viewer mark feedback addressed", tester.Token, []string{open}, second.ID, "FORBIDDEN"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				seq := lastSeq(t, s, owner, loop.Prototype.ID)
				mark(tc.token, tc.ids, tc.iteration).RequireError(t, tc.code, "")
				for _, id := range tc.ids {
					var fb struct{ Node feedbackData }
					decode(t, s, owner, feedbackStatusQuery, vars{"id": id}, &fb)
					if fb.Node.Status == "ADDRESSED" || fb.Node.AddressedIn != nil {
						t.Errorf("feedback %s is %s in %+v after a refused markAddressed", id, fb.Node.Status, fb.Node.AddressedIn)
					}
				}
				expectEvents(t, s, owner, loop.Prototype.ID, seq)
			})
		}
	})
}

// TestLeftFeedbackReadsBackAsReturned: leaveFeedback returns the feedback
// as it wrote it when only its columns are asked for, without reading it
// back; what it returns is what a later read says, to the microsecond.
// Asked for an edge, it reads the feedback back, and the edge is there.
func TestLeftFeedbackReadsBackAsReturned(t *testing.T) {
	const columns = `__typename id createdAt updatedAt kind body rating minutesSavedPerDay status verdict verifiedAt voteCount`
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		in := vars{"iterationID": loop.Iteration.ID, "kind": "IDEA", "body": "Copy last week's shift.", "rating": 3, "minutesSavedPerDay": 12}
		var left struct{ LeaveFeedback json.RawMessage }
		s.Do(t, loop.Owner.Token, `mutation($in: LeaveFeedbackInput!) { leaveFeedback(input: $in) { `+columns+` } }`, vars{"in": in}).
			RequireOK(t).Decode(t, &left)
		var id struct{ ID string }
		if err := json.Unmarshal(left.LeaveFeedback, &id); err != nil {
			t.Fatal(err)
		}
		var read struct{ Node json.RawMessage }
		s.Do(t, loop.Owner.Token, `query($id: ID!) { node(id: $id) { ... on Feedback { `+columns+` } } }`, vars{"id": id.ID}).
			RequireOK(t).Decode(t, &read)
		if string(left.LeaveFeedback) != string(read.Node) {
			t.Errorf("leaveFeedback returned %s, a read says %s", left.LeaveFeedback, read.Node)
		}

		var withAuthor struct {
			LeaveFeedback struct {
				ID     string
				Author struct{ ID string }
			}
		}
		s.Do(t, loop.Owner.Token, `mutation($in: LeaveFeedbackInput!) { leaveFeedback(input: $in) { id author { id } } }`, vars{"in": in}).
			RequireOK(t).Decode(t, &withAuthor)
		if withAuthor.LeaveFeedback.Author.ID == "" {
			t.Errorf("leaveFeedback asked for its author returned %+v", withAuthor.LeaveFeedback)
		}
	})
}

package graph_test

import (
	"testing"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/servertest"
)

const startTrialMutation = `mutation($in: StartTrialInput!) {
	startTrial(input: $in) {
		id task device startedAt endedAt outcome
		iteration { id }
		participant { id displayName user { id } }
	}
}`

const endTrialMutation = `mutation($id: ID!, $outcome: TrialOutcome!) {
	endTrial(id: $id, outcome: $outcome) { id outcome endedAt }
}`

type trialData struct {
	ID, StartedAt string
	Task, Device  *string
	EndedAt       *string
	Outcome       *string
	Iteration     struct{ ID string }
	Participant   struct {
		ID, DisplayName string
		User            *struct{ ID string }
	}
}

func TestStartTrial(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		tester := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
		outsider := s.NewUser(t, "Otto")
		draft := s.NewIteration(t, loop.Owner.Token, loop.Prototype.ID)

		var participant string
		t.Run("lets any member start a trial of a published iteration and records TRIAL_STARTED", func(t *testing.T) {
			mark := lastSeq(t, s, tester.Token, loop.Prototype.ID)
			var got struct{ StartTrial trialData }
			decode(t, s, tester.Token, startTrialMutation, vars{"in": vars{
				"iterationID": loop.Iteration.ID, "task": "Sign up for a shift", "device": "old Android phone",
			}}, &got)
			tr := got.StartTrial
			if tr.Task == nil || *tr.Task != "Sign up for a shift" || tr.Device == nil || *tr.Device != "old Android phone" {
				t.Errorf("trial task %v device %v, want the input's", tr.Task, tr.Device)
			}
			if tr.StartedAt == "" || tr.EndedAt != nil || tr.Outcome != nil || tr.Iteration.ID != loop.Iteration.ID {
				t.Errorf("trial %+v, want started, not ended, of %s", tr, loop.Iteration.ID)
			}
			if p := tr.Participant; p.DisplayName != tester.Name || p.User == nil || p.User.ID != tester.ID {
				t.Errorf("participant %+v, want the tester %s (%s)", p, tester.Name, tester.ID)
			}
			participant = tr.Participant.ID
			events := expectEvents(t, s, tester.Token, loop.Prototype.ID, mark, "TRIAL_STARTED")
			if e := events[0]; e.Subject == nil || e.Subject.ID != tr.ID {
				t.Errorf("TRIAL_STARTED is about %+v, want %s", e.Subject, tr.ID)
			}
		})

		t.Run("makes a user one participant of a prototype, however many trials they start", func(t *testing.T) {
			var got struct{ StartTrial trialData }
			decode(t, s, tester.Token, startTrialMutation, vars{"in": vars{"iterationID": loop.Iteration.ID}}, &got)
			if participant != "" && got.StartTrial.Participant.ID != participant {
				t.Errorf("second trial's participant %s, want %s again", got.StartTrial.Participant.ID, participant)
			}
		})

		for _, tc := range []struct {
			name, token, code, field string
			in                       vars
		}{
			{"refuses a draft iteration", tester.Token, "BAD_USER_INPUT", "", vars{"iterationID": draft.ID}},
			{"refuses a task over 500 characters", tester.Token, "BAD_USER_INPUT", "task", vars{"task": long(501)}},
			{"refuses a device over 500 characters", tester.Token, "BAD_USER_INPUT", "device", vars{"device": long(501)}},
			{"refuses a malformed iteration ID", tester.Token, "BAD_USER_INPUT", "", vars{"iterationID": "itr_x"}},
			{"does not know an iteration that does not exist", tester.Token, "NOT_FOUND", "", vars{"iterationID": gid.New(gid.Iteration).String()}},
			{"hides the iteration from a non-member", outsider.Token, "NOT_FOUND", "", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				in := vars{"iterationID": loop.Iteration.ID}
				for k, v := range tc.in {
					in[k] = v
				}
				s.Do(t, tc.token, startTrialMutation, vars{"in": in}).RequireError(t, tc.code, tc.field)
			})
		}
	})
}

func TestEndTrial(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		tester := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "VIEWER")
		other := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "MAKER")
		outsider := s.NewUser(t, "Otto")
		end := func(token, id, outcome string) *servertest.Response {
			return s.Do(t, token, endTrialMutation, vars{"id": id, "outcome": outcome})
		}

		trial := s.StartTrial(t, tester.Token, loop.Iteration.ID)
		t.Run("ends your trial with its outcome and records TRIAL_ENDED", func(t *testing.T) {
			mark := lastSeq(t, s, tester.Token, loop.Prototype.ID)
			var got struct{ EndTrial trialData }
			end(tester.Token, trial, "BLOCKED").RequireOK(t).Decode(t, &got)
			if tr := got.EndTrial; tr.Outcome == nil || *tr.Outcome != "BLOCKED" || tr.EndedAt == nil {
				t.Errorf("ended trial: outcome %v endedAt %v, want BLOCKED and a time", tr.Outcome, tr.EndedAt)
			}
			expectEvents(t, s, tester.Token, loop.Prototype.ID, mark, "TRIAL_ENDED")
		})

		t.Run("refuses to end a trial twice", func(t *testing.T) {
			end(tester.Token, trial, "COMPLETED").RequireError(t, "CONFLICT", "")
		})

		running := s.StartTrial(t, tester.Token, loop.Iteration.ID)
		for _, tc := range []struct{ name, token, code string }{
			{"does not let another member end your trial", other.Token, "FORBIDDEN"},
			{"does not let the workspace's owner end your trial", loop.Owner.Token, "FORBIDDEN"},
			{"hides your trial from a non-member", outsider.Token, "NOT_FOUND"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				end(tc.token, running, "ABANDONED").RequireError(t, tc.code, "")
			})
		}

		t.Run("still lets you end it after others tried", func(t *testing.T) {
			end(tester.Token, running, "COMPLETED").RequireOK(t)
		})
	})
}

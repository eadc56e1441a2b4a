package graph_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

const verifyFixMutation = `mutation($id: ID!, $verdict: FeedbackVerdict!, $note: String) {
	verifyFix(feedback: $id, verdict: $verdict, note: $note) {
		id status verdict verifiedAt addressedIn { id }
		comments(first: 10) { edges { node { body author { id } } } }
	}
}`

const pendingVerificationsQuery = `query { pendingVerifications(first: 20) { totalCount edges { node { id addressedIn { id } } } } }`

type verifiedData struct {
	ID, Status  string
	Verdict     *string
	VerifiedAt  *string
	AddressedIn *struct{ ID string }
	Comments    struct {
		Edges []struct {
			Node struct {
				Body   string
				Author struct{ ID string }
			}
		}
	}
}

// pending lists the feedback IDs awaiting token's holder's verdict.
func pending(t *testing.T, s *servertest.Server, token string) []string {
	t.Helper()
	var got struct {
		PendingVerifications struct {
			TotalCount int
			Edges      []struct{ Node struct{ ID string } }
		}
	}
	decode(t, s, token, pendingVerificationsQuery, nil, &got)
	var ids []string
	for _, e := range got.PendingVerifications.Edges {
		ids = append(ids, e.Node.ID)
	}
	if got.PendingVerifications.TotalCount != len(ids) {
		t.Errorf("pendingVerifications totalCount %d for %d edges", got.PendingVerifications.TotalCount, len(ids))
	}
	slices.Sort(ids)
	return ids
}

// verifyFix gives a verdict as token's holder.
func verifyFix(t *testing.T, s *servertest.Server, token, id, verdict string, note any) verifiedData {
	t.Helper()
	var got struct{ VerifyFix verifiedData }
	decode(t, s, token, verifyFixMutation, vars{"id": id, "verdict": verdict, "note": note}, &got)
	return got.VerifyFix
}

// nextRequest reads the next verificationRequests event and returns the
// ID of the feedback it is about.
func nextRequest(t *testing.T, c *liveClient) string {
	t.Helper()
	m, err := c.read(liveWait)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Data struct {
			VerificationRequests struct {
				Kind    string
				Subject struct{ ID string }
				Payload map[string]any
			}
		}
	}
	if err := json.Unmarshal(m.Payload, &r); err != nil || m.Type != "next" {
		t.Fatalf("got %s %s (%v), want a verification request", m.Type, m.Payload, err)
	}
	if e := r.Data.VerificationRequests; e.Kind != "VERIFICATION_REQUESTED" {
		t.Fatalf("got a %s event, want VERIFICATION_REQUESTED", e.Kind)
	}
	return r.Data.VerificationRequests.Subject.ID
}

func TestVerifiedYouSaidWeDid(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		ada := s.NewMember(t, owner, loop.Workspace.ID, "VIEWER")
		_, secret := newInvite(t, s, owner, loop.Prototype.ID, nil)
		gus, gusID := newGuestOf(t, s, secret, "Gus")
		hal, halID := newGuestOf(t, s, secret, "Hal")
		gusBug := s.LeaveFeedback(t, gus, loop.Iteration.ID, vars{"kind": "BUG"})
		halQuestion := s.LeaveFeedback(t, hal, loop.Iteration.ID, vars{"kind": "QUESTION"})
		adaIdea := s.LeaveFeedback(t, ada.Token, loop.Iteration.ID, vars{"kind": "IDEA"})

		it2 := s.NewIteration(t, owner, loop.Prototype.ID)
		decode(t, s, owner, markAddressedMutation, vars{"ids": []string{gusBug, adaIdea, halQuestion}, "it": it2.ID}, &struct{}{})

		t.Run("asks nobody while the iteration that addresses their feedback is a draft", func(t *testing.T) {
			if got := pending(t, s, gus); len(got) != 0 {
				t.Errorf("Gus has %v pending, want none before publishing", got)
			}
		})

		live := mustDialLive(t, s.URL, 0, gus)
		defer live.close()
		err := live.subscribe("1", `subscription($p: ID!) {
			verificationRequests(prototype: $p) { kind subject { id } payload }
		}`, vars{"p": loop.Prototype.ID})
		if err != nil {
			t.Fatal(err)
		}
		mark := lastSeq(t, s, owner, loop.Prototype.ID)
		s.Publish(t, owner, it2.ID)

		t.Run("asks each author when the iteration is published", func(t *testing.T) {
			events := expectEvents(t, s, owner, loop.Prototype.ID, mark,
				"ITERATION_PUBLISHED", "VERIFICATION_REQUESTED", "VERIFICATION_REQUESTED", "VERIFICATION_REQUESTED")
			authors := map[string]string{}
			for _, e := range events[1:] {
				author, _ := e.Payload["author"].(string)
				authors[e.Subject.ID] = author
			}
			if authors[gusBug] != gusID || authors[halQuestion] != halID || authors[adaIdea] == "" {
				t.Errorf("requests name authors %v, want each feedback's", authors)
			}
			if got := nextRequest(t, live); got != gusBug {
				t.Errorf("Gus's subscription got a request about %s, want his bug %s", got, gusBug)
			}
			if got := pending(t, s, gus); !slices.Equal(got, []string{gusBug}) {
				t.Errorf("Gus has %v pending, want his bug %s", got, gusBug)
			}
			if got := pending(t, s, ada.Token); !slices.Equal(got, []string{adaIdea}) {
				t.Errorf("Ada has %v pending, want her idea %s", got, adaIdea)
			}
			if got := pending(t, s, owner); len(got) != 0 {
				t.Errorf("the owner has %v pending, want none: they left no feedback", got)
			}
		})

		t.Run("credits who shaped the iteration, masking testers to testers", func(t *testing.T) {
			const q = `query($id: ID!) { node(id: $id) { ... on Iteration { youSaidWeDid {
				feedbackCount groups { kind feedback { id } } shapedBy { id displayName }
			} } } }`
			type shaped struct {
				Node struct {
					YouSaidWeDid struct {
						FeedbackCount int
						Groups        []struct {
							Kind     string
							Feedback []struct{ ID string }
						}
						ShapedBy []struct{ ID, DisplayName string }
					}
				}
			}
			var got shaped
			decode(t, s, owner, q, vars{"id": it2.ID}, &got)
			y := got.Node.YouSaidWeDid
			var kinds []string
			for _, g := range y.Groups {
				kinds = append(kinds, g.Kind)
			}
			if y.FeedbackCount != 3 || !slices.Equal(kinds, []string{"BUG", "IDEA", "QUESTION"}) || len(y.ShapedBy) != 3 {
				t.Fatalf("youSaidWeDid %+v, want 3 feedback in BUG, IDEA, QUESTION by 3 people", y)
			}
			names := map[string]string{}
			for _, p := range y.ShapedBy {
				names[p.ID] = p.DisplayName
			}
			if names[gusID] != "Gus" || names[halID] != "Hal" {
				t.Errorf("the owner sees %v, want the real names", names)
			}
			decode(t, s, gus, q, vars{"id": it2.ID}, &got)
			names = map[string]string{}
			for _, p := range got.Node.YouSaidWeDid.ShapedBy {
				names[p.ID] = p.DisplayName
			}
			if names[gusID] != "Gus" || !isMasked(names[halID]) || names[halID] == "" {
				t.Errorf("Gus sees %v, want his own name and Hal masked", names)
			}
		})

		t.Run("lets only the author give a verdict", func(t *testing.T) {
			for name, token := range map[string]string{"the owner": owner, "another tester": hal, "another member": ada.Token} {
				r := s.Do(t, token, verifyFixMutation, vars{"id": gusBug, "verdict": "FIXED"})
				if r.Code() != "FORBIDDEN" {
					t.Errorf("%s verifying Gus's fix: %v, want FORBIDDEN", name, r.Err())
				}
			}
			s.Do(t, gus, verifyFixMutation, vars{"id": gusBug, "verdict": "FIXED", "note": ""}).RequireError(t, "BAD_USER_INPUT", "note")
		})

		t.Run("reopens feedback that was not fixed, with the note as the author's comment", func(t *testing.T) {
			mark := lastSeq(t, s, owner, loop.Prototype.ID)
			got := verifyFix(t, s, gus, gusBug, "NOT_FIXED", "Still crashes on the second step.")
			if got.Status != "OPEN" || got.Verdict == nil || *got.Verdict != "NOT_FIXED" || got.AddressedIn != nil || got.VerifiedAt == nil {
				t.Errorf("after NOT_FIXED: %+v, want OPEN, unlinked, verdict NOT_FIXED", got)
			}
			if c := got.Comments.Edges; len(c) != 1 || c[0].Node.Body != "Still crashes on the second step." || c[0].Node.Author.ID != gusID {
				t.Errorf("comments %+v, want Gus's note", c)
			}
			events := expectEvents(t, s, owner, loop.Prototype.ID, mark, "COMMENT_ADDED", "FEEDBACK_VERIFIED")
			if p := events[1].Payload; p["verdict"] != "NOT_FIXED" || p["from"] != "ADDRESSED" || p["to"] != "OPEN" || p["iteration"] != it2.ID {
				t.Errorf("FEEDBACK_VERIFIED payload %v", p)
			}
			if got := pending(t, s, gus); len(got) != 0 {
				t.Errorf("Gus still has %v pending", got)
			}
		})

		t.Run("changes nothing when the same verdict comes again, and refuses another", func(t *testing.T) {
			mark := lastSeq(t, s, owner, loop.Prototype.ID)
			if got := verifyFix(t, s, gus, gusBug, "NOT_FIXED", "again"); got.Status != "OPEN" || len(got.Comments.Edges) != 1 {
				t.Errorf("repeated NOT_FIXED: %+v, want it as it was", got)
			}
			expectEvents(t, s, owner, loop.Prototype.ID, mark)
			s.Do(t, gus, verifyFixMutation, vars{"id": gusBug, "verdict": "FIXED"}).RequireError(t, "BAD_USER_INPUT", "feedback")
		})

		t.Run("verifies feedback fixed or partly fixed", func(t *testing.T) {
			got := verifyFix(t, s, ada.Token, adaIdea, "PARTLY", nil)
			if got.Status != "VERIFIED" || got.Verdict == nil || *got.Verdict != "PARTLY" || got.AddressedIn == nil || got.AddressedIn.ID != it2.ID {
				t.Errorf("after PARTLY: %+v, want VERIFIED by iteration 2", got)
			}
			got = verifyFix(t, s, hal, halQuestion, "FIXED", nil)
			if got.Status != "VERIFIED" || *got.Verdict != "FIXED" || len(got.Comments.Edges) != 0 {
				t.Errorf("after FIXED: %+v, want VERIFIED with no comment", got)
			}
			s.Do(t, hal, verifyFixMutation, vars{"id": halQuestion, "verdict": "NOT_FIXED"}).RequireError(t, "BAD_USER_INPUT", "feedback")
		})

		t.Run("asks at once when feedback is marked addressed by a published iteration", func(t *testing.T) {
			decode(t, s, owner, markAddressedMutation, vars{"ids": []string{gusBug}, "it": it2.ID}, &struct{}{})
			// Hal's and Ada's requests came in between on the stream: Gus
			// gets only his own.
			if got := nextRequest(t, live); got != gusBug {
				t.Errorf("Gus's subscription got a request about %s, want his bug again", got)
			}
			if got := pending(t, s, gus); !slices.Equal(got, []string{gusBug}) {
				t.Errorf("Gus has %v pending, want his bug", got)
			}
			if got := verifyFix(t, s, gus, gusBug, "FIXED", "Works now, thanks!"); got.Status != "VERIFIED" || *got.Verdict != "FIXED" {
				t.Errorf("after FIXED: %+v", got)
			}
		})
	})
}

func TestYouSaidWeDidCostsTheSameStatementsHoweverManyIterations(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		const q = `query($id: ID!) { node(id: $id) { ... on Prototype {
			iterations(first: 50) { edges { node { youSaidWeDid { feedbackCount groups { kind feedback { id } } shapedBy { displayName } } } } }
		} } }`
		cost := func() int64 {
			before := s.Statements()
			decode(t, s, loop.Owner.Token, q, vars{"id": loop.Prototype.ID}, &struct{}{})
			return s.Statements() - before
		}
		prev := loop.Iteration.ID
		addIteration := func() {
			fb := s.LeaveFeedback(t, loop.Owner.Token, prev, vars{"kind": "BUG"})
			it := s.NewPublishedIteration(t, loop.Owner.Token, loop.Prototype.ID)
			decode(t, s, loop.Owner.Token, markAddressedMutation, vars{"ids": []string{fb}, "it": it.ID}, &struct{}{})
			prev = it.ID
		}
		addIteration()
		few := cost()
		for range 5 {
			addIteration()
		}
		if many := cost(); many != few {
			t.Errorf("youSaidWeDid of 2 iterations cost %d statements, of 7 %d: want the same", few, many)
		}
	})
}

// A member who never took part has no participant to compare requests
// with: finding that out once per request to someone else would make the
// subscription cost a statement per event.
func TestVerificationRequestsCostTheSameStatementsHoweverManyGoToOthers(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		_, secret := newInvite(t, s, owner, loop.Prototype.ID, nil)
		gus, _ := newGuestOf(t, s, secret, "Gus")
		it2 := s.NewPublishedIteration(t, owner, loop.Prototype.ID)
		// cost subscribes a new member, has n requests go to Gus and then
		// one to the member, and counts the statements from the first
		// request until the member has theirs.
		cost := func(n int) int64 {
			t.Helper()
			var theirs []string
			for range n {
				theirs = append(theirs, s.LeaveFeedback(t, gus, loop.Iteration.ID, vars{"kind": "BUG"}))
			}
			member := s.NewMember(t, owner, loop.Workspace.ID, "VIEWER")
			live := mustDialLive(t, s.URL, 0, member.Token)
			defer live.close()
			err := live.subscribe("1", `subscription($p: ID!) { verificationRequests(prototype: $p) { kind subject { id } } }`,
				vars{"p": loop.Prototype.ID})
			if err != nil {
				t.Fatal(err)
			}
			before := s.Statements()
			decode(t, s, owner, markAddressedMutation, vars{"ids": theirs, "it": it2.ID}, &struct{}{})
			own := s.LeaveFeedback(t, member.Token, loop.Iteration.ID, vars{"kind": "IDEA"})
			decode(t, s, owner, markAddressedMutation, vars{"ids": []string{own}, "it": it2.ID}, &struct{}{})
			if got := nextRequest(t, live); got != own {
				t.Fatalf("the member got a request about %s, want their own %s", got, own)
			}
			return s.Statements() - before
		}
		one, many := cost(1), cost(41)
		t.Logf("%s: 1 request to someone else cost %d statements, 41 cost %d", s.Backend, one, many)
		// The broker's tailer may read the table once or twice for the
		// three commits, as its wake-ups coalesce: a little slack, far
		// below the 40 statements of a look-up per request.
		if many-one > 8 || one-many > 8 {
			t.Errorf("1 request to someone else cost %d statements, 41 cost %d: want about the same", one, many)
		}
	})
}

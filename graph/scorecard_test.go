package graph_test

import (
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/servertest"
)

const scorecardFields = `
	trialsStarted trialsCompleted trialsAbandoned trialsBlocked
	completionRate medianTimeOnTask p90TimeOnTask averageRating
	ratings { rating count }
	feedbackCount feedbackByKind { kind count }
	openFeedback addressedFeedback verifiedFeedback participants addressed bugsFixed`

type scorecardData struct {
	Iteration                                                      *struct{ ID string }
	TrialsStarted, TrialsCompleted, TrialsAbandoned, TrialsBlocked int
	CompletionRate, MedianTimeOnTask, P90TimeOnTask, AverageRating *float64
	Ratings                                                        []struct{ Rating, Count int }
	FeedbackCount                                                  int
	FeedbackByKind                                                 []struct {
		Kind  string
		Count int
	}
	OpenFeedback, AddressedFeedback, VerifiedFeedback, Participants, Addressed, BugsFixed int
}

type changeData struct{ Before, After, Change *float64 }

type intChangeData struct{ Before, After, Change int }

type deltaData struct {
	Previous                                                       scorecardData
	CompletionRate, MedianTimeOnTask, P90TimeOnTask, AverageRating changeData
	TrialsStarted, FeedbackCount, OpenFeedback, Participants       intChangeData
	Addressed, BugsFixed                                           int
}

const iterationScorecardQuery = `query($id: ID!) { node(id: $id) { ... on Iteration {
	scorecard { iteration { id } ` + scorecardFields + ` }
	delta {
		previous { iteration { id } ` + scorecardFields + ` }
		completionRate { before after change }
		medianTimeOnTask { before after change }
		p90TimeOnTask { before after change }
		averageRating { before after change }
		trialsStarted { before after change }
		feedbackCount { before after change }
		openFeedback { before after change }
		participants { before after change }
		addressed bugsFixed
	}
} } }`

// iterationScorecard reads an iteration's scorecard and delta as token's
// holder.
func iterationScorecard(t *testing.T, s *servertest.Server, token, id string) (scorecardData, *deltaData) {
	t.Helper()
	var got struct {
		Node struct {
			Scorecard scorecardData
			Delta     *deltaData
		}
	}
	decode(t, s, token, iterationScorecardQuery, vars{"id": id}, &got)
	return got.Node.Scorecard, got.Node.Delta
}

// setTrialTimes puts a trial's start and end where a test needs them.
// The API stamps both with the server's clock, so a test that checks
// times on task has to move them; it is the one write tests make around
// the API, to columns no mutation lets a client choose.
func setTrialTimes(t *testing.T, s *servertest.Server, trialID string, start time.Time, took time.Duration) {
	t.Helper()
	id, err := gid.Parse(trialID)
	if err != nil {
		t.Fatal(err)
	}
	q := `UPDATE trials SET started_at = ?, ended_at = ? WHERE id = ?`
	if s.Backend == servertest.Postgres {
		q = `UPDATE trials SET started_at = $1, ended_at = $2 WHERE id = $3`
	}
	if _, err := s.DB.SQL.ExecContext(t.Context(), q, start.UTC(), start.Add(took).UTC(), int64(id)); err != nil {
		t.Fatalf("set times of trial %s: %v", trialID, err)
	}
}

// trial starts a trial as token's holder, ends it with outcome unless
// that is "", and, when took is not zero, makes it have taken that long.
func trial(t *testing.T, s *servertest.Server, token, iterationID, outcome string, took time.Duration) string {
	t.Helper()
	id := s.StartTrial(t, token, iterationID)
	if outcome != "" {
		decode(t, s, token, endTrialMutation, vars{"id": id, "outcome": outcome}, &struct{}{})
	}
	if took != 0 {
		setTrialTimes(t, s, id, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), took)
	}
	return id
}

// scorecardWorld is a prototype with a hand-counted history: iteration 1
// tried by four people, iteration 2 fixing some of what they said, and a
// draft 3.
type scorecardWorld struct {
	loop               servertest.Loop
	ada, bo, cy, dee   servertest.User
	it2, draft         servertest.Iteration
	adaBug, cyIdea     string
	guest, guestFbOnIt string
}

func newScorecardWorld(t *testing.T, s *servertest.Server) *scorecardWorld {
	t.Helper()
	w := &scorecardWorld{loop: s.NewLoop(t)}
	owner, it1 := w.loop.Owner, w.loop.Iteration.ID
	w.ada = s.NewMember(t, owner.Token, w.loop.Workspace.ID, "VIEWER")
	w.bo = s.NewMember(t, owner.Token, w.loop.Workspace.ID, "VIEWER")
	w.cy = s.NewMember(t, owner.Token, w.loop.Workspace.ID, "VIEWER")
	w.dee = s.NewMember(t, owner.Token, w.loop.Workspace.ID, "VIEWER")

	// Iteration 1: six trials, three completed in 60, 120 and 300 seconds.
	trial(t, s, w.ada.Token, it1, "COMPLETED", 60*time.Second)
	trial(t, s, w.bo.Token, it1, "COMPLETED", 120*time.Second)
	trial(t, s, w.cy.Token, it1, "COMPLETED", 300*time.Second)
	trial(t, s, w.ada.Token, it1, "ABANDONED", 0)
	trial(t, s, w.bo.Token, it1, "BLOCKED", 0)
	trial(t, s, owner.Token, it1, "", 0) // still going
	w.adaBug = s.LeaveFeedback(t, w.ada.Token, it1, vars{"kind": "BUG", "rating": 2, "minutesSavedPerDay": 10})
	s.LeaveFeedback(t, w.bo.Token, it1, vars{"kind": "BUG", "rating": 3, "minutesSavedPerDay": 30})
	w.cyIdea = s.LeaveFeedback(t, w.cy.Token, it1, vars{"kind": "IDEA", "rating": 4, "minutesSavedPerDay": 0})
	s.LeaveFeedback(t, w.ada.Token, it1, vars{"kind": "CONFUSION"})
	// Dee's is retracted: it counts nowhere, not even Dee as a participant.
	deePraise := s.LeaveFeedback(t, w.dee.Token, it1, vars{"kind": "PRAISE", "rating": 5, "minutesSavedPerDay": 100})
	decode(t, s, w.dee.Token, `mutation($id: ID!) { retractFeedback(id: $id) { id } }`, vars{"id": deePraise}, &struct{}{})

	// Iteration 2 fixes Ada's bug and takes up Cy's idea.
	w.it2 = s.NewIteration(t, owner.Token, w.loop.Prototype.ID)
	decode(t, s, owner.Token, markAddressedMutation, vars{"ids": []string{w.adaBug, w.cyIdea}, "it": w.it2.ID}, &struct{}{})
	w.it2.Number = s.Publish(t, owner.Token, w.it2.ID)
	trial(t, s, w.ada.Token, w.it2.ID, "COMPLETED", 30*time.Second)
	trial(t, s, w.bo.Token, w.it2.ID, "COMPLETED", 90*time.Second)
	s.LeaveFeedback(t, w.ada.Token, w.it2.ID, vars{"kind": "PRAISE", "rating": 5, "minutesSavedPerDay": 20})
	s.LeaveFeedback(t, w.bo.Token, w.it2.ID, vars{"kind": "BUG", "rating": 4, "minutesSavedPerDay": 40})
	decode(t, s, w.ada.Token, verifyFixMutation, vars{"id": w.adaBug, "verdict": "FIXED"}, &struct{}{})

	w.draft = s.NewIteration(t, owner.Token, w.loop.Prototype.ID)
	return w
}

func ptr(f float64) *float64 { return &f }

// near reports whether a figure is the expected one, both null or both
// within a millionth (SQLite's times are days in a float).
func near(got, want *float64) bool {
	if got == nil || want == nil {
		return got == nil && want == nil
	}
	return math.Abs(*got-*want) < 1e-3
}

func show(f *float64) string {
	if f == nil {
		return "null"
	}
	return strconv.FormatFloat(*f, 'g', -1, 64)
}

// checkScorecard compares a scorecard with the hand-counted one.
func checkScorecard(t *testing.T, what string, got, want scorecardData) {
	t.Helper()
	if got.TrialsStarted != want.TrialsStarted || got.TrialsCompleted != want.TrialsCompleted ||
		got.TrialsAbandoned != want.TrialsAbandoned || got.TrialsBlocked != want.TrialsBlocked {
		t.Errorf("%s: trials started/completed/abandoned/blocked %d/%d/%d/%d, want %d/%d/%d/%d", what,
			got.TrialsStarted, got.TrialsCompleted, got.TrialsAbandoned, got.TrialsBlocked,
			want.TrialsStarted, want.TrialsCompleted, want.TrialsAbandoned, want.TrialsBlocked)
	}
	for _, f := range []struct {
		name      string
		got, want *float64
	}{
		{"completionRate", got.CompletionRate, want.CompletionRate},
		{"medianTimeOnTask", got.MedianTimeOnTask, want.MedianTimeOnTask},
		{"p90TimeOnTask", got.P90TimeOnTask, want.P90TimeOnTask},
		{"averageRating", got.AverageRating, want.AverageRating},
	} {
		if !near(f.got, f.want) {
			t.Errorf("%s: %s %s, want %s", what, f.name, show(f.got), show(f.want))
		}
	}
	ratings := make([]int, 5)
	for i, r := range got.Ratings {
		if r.Rating != i+1 {
			t.Errorf("%s: ratings[%d] is for %d, want %d", what, i, r.Rating, i+1)
		}
		ratings[i] = r.Count
	}
	wantRatings := make([]int, 5)
	for i, r := range want.Ratings {
		wantRatings[i] = r.Count
	}
	if len(got.Ratings) != 5 || !equalInts(ratings, wantRatings) {
		t.Errorf("%s: ratings %v, want %v", what, got.Ratings, wantRatings)
	}
	kinds := map[string]int{}
	for _, k := range got.FeedbackByKind {
		kinds[k.Kind] = k.Count
	}
	for _, k := range want.FeedbackByKind {
		if kinds[k.Kind] != k.Count {
			t.Errorf("%s: %d %s feedback, want %d", what, kinds[k.Kind], k.Kind, k.Count)
		}
	}
	if len(got.FeedbackByKind) != 6 {
		t.Errorf("%s: %d kinds listed, want all 6", what, len(got.FeedbackByKind))
	}
	if got.FeedbackCount != want.FeedbackCount || got.OpenFeedback != want.OpenFeedback ||
		got.AddressedFeedback != want.AddressedFeedback || got.VerifiedFeedback != want.VerifiedFeedback {
		t.Errorf("%s: feedback total/open/addressed/verified %d/%d/%d/%d, want %d/%d/%d/%d", what,
			got.FeedbackCount, got.OpenFeedback, got.AddressedFeedback, got.VerifiedFeedback,
			want.FeedbackCount, want.OpenFeedback, want.AddressedFeedback, want.VerifiedFeedback)
	}
	if got.Participants != want.Participants || got.Addressed != want.Addressed || got.BugsFixed != want.BugsFixed {
		t.Errorf("%s: participants %d, addressed here %d, bugs fixed %d; want %d, %d, %d", what,
			got.Participants, got.Addressed, got.BugsFixed, want.Participants, want.Addressed, want.BugsFixed)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func counts(ratings ...int) []struct{ Rating, Count int } {
	out := make([]struct{ Rating, Count int }, 5)
	for i := range out {
		out[i].Rating = i + 1
		out[i].Count = ratings[i]
	}
	return out
}

func kindCounts(pairs ...any) []struct {
	Kind  string
	Count int
} {
	var out []struct {
		Kind  string
		Count int
	}
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, struct {
			Kind  string
			Count int
		}{pairs[i].(string), pairs[i+1].(int)})
	}
	return out
}

// The figures of the world of newScorecardWorld, counted by hand.
var (
	// Iteration 1: trials 6 (3 completed, 1 abandoned, 1 blocked, 1 going),
	// completion 3 of 5 ended; times 60, 120, 300 s: median 120, p90 at
	// (3-1)·0.9 = 1.8, 120 + 0.8·180 = 264. Ratings 2, 3, 4 (Dee's 5
	// retracted): 3.0. Open: Bo's bug and Ada's confusion; addressed: Ada's
	// bug (verified) and Cy's idea. People: Ada, Bo, Cy, the owner.
	wantIt1 = scorecardData{
		TrialsStarted: 6, TrialsCompleted: 3, TrialsAbandoned: 1, TrialsBlocked: 1,
		CompletionRate: ptr(0.6), MedianTimeOnTask: ptr(120), P90TimeOnTask: ptr(264), AverageRating: ptr(3),
		Ratings: counts(0, 1, 1, 1, 0), FeedbackCount: 4,
		FeedbackByKind: kindCounts("BUG", 2, "IDEA", 1, "CONFUSION", 1, "PRAISE", 0, "QUESTION", 0, "WORKAROUND", 0),
		OpenFeedback:   2, AddressedFeedback: 2, VerifiedFeedback: 1, Participants: 4,
	}
	// Iteration 2: 2 trials, both completed in 30 and 90 s: median 60, p90
	// 30 + 0.9·60 = 84. Ratings 5 and 4. It addressed Ada's bug and Cy's
	// idea: one bug fixed.
	wantIt2 = scorecardData{
		TrialsStarted: 2, TrialsCompleted: 2,
		CompletionRate: ptr(1), MedianTimeOnTask: ptr(60), P90TimeOnTask: ptr(84), AverageRating: ptr(4.5),
		Ratings: counts(0, 0, 0, 1, 1), FeedbackCount: 2,
		FeedbackByKind: kindCounts("BUG", 1, "PRAISE", 1, "IDEA", 0),
		OpenFeedback:   2, Participants: 2, Addressed: 2, BugsFixed: 1,
	}
	// A draft nobody tried: every figure that needs data is null.
	wantUntried = scorecardData{Ratings: counts(0, 0, 0, 0, 0), FeedbackByKind: kindCounts("BUG", 0)}
)

func TestIterationScorecardsAreCountedByTheDatabase(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newScorecardWorld(t, s)
		owner := w.loop.Owner.Token

		t.Run("counts trials, times, ratings, feedback and people of each iteration", func(t *testing.T) {
			got1, delta1 := iterationScorecard(t, s, owner, w.loop.Iteration.ID)
			checkScorecard(t, "iteration 1", got1, wantIt1)
			if delta1 != nil {
				t.Errorf("iteration 1 has a delta %+v, want null: nothing came before it", delta1)
			}
			got2, _ := iterationScorecard(t, s, owner, w.it2.ID)
			checkScorecard(t, "iteration 2", got2, wantIt2)
			if got2.Iteration == nil || got2.Iteration.ID != w.it2.ID {
				t.Errorf("scorecard of iteration %v, want %s", got2.Iteration, w.it2.ID)
			}
		})

		t.Run("gives null, not 0, for what an untried iteration cannot say", func(t *testing.T) {
			got, _ := iterationScorecard(t, s, owner, w.draft.ID)
			checkScorecard(t, "draft", got, wantUntried)
		})

		t.Run("compares an iteration with the one published before it", func(t *testing.T) {
			_, d := iterationScorecard(t, s, owner, w.it2.ID)
			if d == nil {
				t.Fatal("iteration 2 has no delta")
			}
			checkScorecard(t, "delta's previous", d.Previous, wantIt1)
			for _, c := range []struct {
				name               string
				got                changeData
				before, after, chg float64
			}{
				{"completionRate", d.CompletionRate, 0.6, 1, 0.4},
				{"medianTimeOnTask", d.MedianTimeOnTask, 120, 60, -60},
				{"p90TimeOnTask", d.P90TimeOnTask, 264, 84, -180},
				{"averageRating", d.AverageRating, 3, 4.5, 1.5},
			} {
				if !near(c.got.Before, &c.before) || !near(c.got.After, &c.after) || !near(c.got.Change, &c.chg) {
					t.Errorf("%s %s → %s (%s), want %v → %v (%v)", c.name, show(c.got.Before), show(c.got.After), show(c.got.Change), c.before, c.after, c.chg)
				}
			}
			if d.TrialsStarted != (intChangeData{6, 2, -4}) || d.Participants != (intChangeData{4, 2, -2}) || d.FeedbackCount != (intChangeData{4, 2, -2}) {
				t.Errorf("trials %+v, participants %+v, feedback %+v", d.TrialsStarted, d.Participants, d.FeedbackCount)
			}
			if d.BugsFixed != 1 || d.Addressed != 2 {
				t.Errorf("%d bugs fixed of %d addressed, want 1 of 2", d.BugsFixed, d.Addressed)
			}
		})

		t.Run("compares a draft with the latest published iteration, leaving undefined changes null", func(t *testing.T) {
			_, d := iterationScorecard(t, s, owner, w.draft.ID)
			if d == nil || d.Previous.Iteration == nil || d.Previous.Iteration.ID != w.it2.ID {
				t.Fatalf("draft's delta %+v, want one against iteration 2", d)
			}
			if d.CompletionRate.After != nil || d.CompletionRate.Change != nil || !near(d.CompletionRate.Before, ptr(1)) {
				t.Errorf("completion %+v, want 1 → null, change null", d.CompletionRate)
			}
		})

		t.Run("lists the trend of every published iteration in pages", func(t *testing.T) {
			const q = `query($id: ID!, $first: Int, $after: Cursor) { node(id: $id) { ... on Prototype {
				scorecards(first: $first, after: $after) {
					totalCount pageInfo { hasNextPage endCursor }
					edges { cursor node { iteration { id number } ` + scorecardFields + ` } }
				}
			} } }`
			type page struct {
				Node struct {
					Scorecards struct {
						TotalCount int
						PageInfo   struct {
							HasNextPage bool
							EndCursor   *string
						}
						Edges []struct {
							Cursor string
							Node   struct {
								scorecardData
								Iteration struct {
									ID     string
									Number int
								}
							}
						}
					}
				}
			}
			var first page
			decode(t, s, owner, q, vars{"id": w.loop.Prototype.ID, "first": 1}, &first)
			sc := first.Node.Scorecards
			if sc.TotalCount != 2 || !sc.PageInfo.HasNextPage || len(sc.Edges) != 1 || sc.Edges[0].Node.Iteration.Number != 1 {
				t.Fatalf("first page %+v, want iteration 1 of 2, with more", sc)
			}
			checkScorecard(t, "trend, iteration 1", sc.Edges[0].Node.scorecardData, wantIt1)
			var second page
			decode(t, s, owner, q, vars{"id": w.loop.Prototype.ID, "first": 5, "after": sc.PageInfo.EndCursor}, &second)
			sc = second.Node.Scorecards
			if sc.PageInfo.HasNextPage || len(sc.Edges) != 1 || sc.Edges[0].Node.Iteration.ID != w.it2.ID {
				t.Fatalf("second page %+v, want iteration 2 and no more (drafts are not in the trend)", sc)
			}
			checkScorecard(t, "trend, iteration 2", sc.Edges[0].Node.scorecardData, wantIt2)
			s.Do(t, owner, q, vars{"id": w.loop.Prototype.ID, "first": 101}).RequireError(t, "BAD_USER_INPUT", "first")
			s.Do(t, owner, q, vars{"id": w.loop.Prototype.ID, "after": "not a cursor"}).RequireError(t, "BAD_USER_INPUT", "")
		})
	})
}

func TestScorecardsCostTheSameStatementsHoweverManyIterations(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		const q = `query($id: ID!) { node(id: $id) { ... on Prototype {
			iterations(first: 50) { edges { node { number
				scorecard { trialsStarted averageRating medianTimeOnTask }
				delta { previous { iteration { number } } bugsFixed completionRate { change } }
			} } }
			scorecards(first: 50) { edges { node { iteration { number } participants } } }
			impact { estimates medianMinutesPerDay timeOnTask { before after } }
		} } }`
		cost := func() int64 {
			before := s.Statements()
			decode(t, s, loop.Owner.Token, q, vars{"id": loop.Prototype.ID}, &struct{}{})
			return s.Statements() - before
		}
		addIteration := func() {
			it := s.NewPublishedIteration(t, loop.Owner.Token, loop.Prototype.ID)
			trial(t, s, loop.Owner.Token, it.ID, "COMPLETED", 0)
			s.LeaveFeedback(t, loop.Owner.Token, it.ID, vars{"rating": 4, "minutesSavedPerDay": 15})
		}
		addIteration()
		few := cost()
		for range 6 {
			addIteration()
		}
		many := cost()
		if few != many {
			t.Errorf("scorecards of 2 iterations cost %d statements, of 8 %d: want the same", few, many)
		}
		// The prototype, its iterations, the scorecards statement, the
		// iterations the trend names, impact: a handful, whatever the count.
		if many > 8 {
			t.Errorf("scorecards cost %d statements, want at most 8", many)
		}
	})
}

func TestInsightsAreTheTeams(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		_, secret := newInvite(t, s, loop.Owner.Token, loop.Prototype.ID, nil)
		guest, _ := newGuestOf(t, s, secret, "Gus")
		for _, c := range []struct{ name, query, field string }{
			{"scorecard", `query($id: ID!) { node(id: $id) { ... on Iteration { scorecard { trialsStarted } } } }`, "scorecard"},
			{"delta", `query($id: ID!) { node(id: $id) { ... on Iteration { delta { bugsFixed } } } }`, "delta"},
			{"scorecards", `query($p: ID!) { node(id: $p) { ... on Prototype { scorecards { totalCount } } } }`, "scorecards"},
			{"impact", `query($p: ID!) { node(id: $p) { ... on Prototype { impact { estimates } } } }`, "impact"},
		} {
			t.Run("refuses a tester the "+c.name, func(t *testing.T) {
				s.Do(t, guest, c.query, vars{"id": loop.Iteration.ID, "p": loop.Prototype.ID}).RequireError(t, "FORBIDDEN", "")
			})
		}
	})
}

func TestImpact(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newScorecardWorld(t, s)
		owner := w.loop.Owner.Token
		const q = `query($id: ID!, $days: Int) { node(id: $id) { ... on Prototype { impact(workingDays: $days) {
			estimates medianMinutesPerDay lowerQuartileMinutesPerDay upperQuartileMinutesPerDay
			headcount workingDays hoursPerYear hoursPerYearLow hoursPerYearHigh
			timeOnTask { before after change }
		} } } }`
		type impact struct {
			Estimates, Headcount, WorkingDays                                           int
			MedianMinutesPerDay, LowerQuartileMinutesPerDay, UpperQuartileMinutesPerDay *float64
			HoursPerYear, HoursPerYearLow, HoursPerYearHigh                             *float64
			TimeOnTask                                                                  changeData
		}
		read := func(t *testing.T, id string, days any) impact {
			t.Helper()
			var got struct{ Node struct{ Impact impact } }
			decode(t, s, owner, q, vars{"id": id, "days": days}, &got)
			return got.Node.Impact
		}

		t.Run("gives no figure without a headcount to project on", func(t *testing.T) {
			got := read(t, w.loop.Prototype.ID, nil)
			if got.Estimates != 3 || !near(got.MedianMinutesPerDay, ptr(20)) || got.HoursPerYear != nil || got.Headcount != 0 {
				t.Errorf("impact %+v, want 3 estimates, median 20 and no projection for headcount 0", got)
			}
		})

		decode(t, s, owner, updateWorkspaceMutation, vars{"id": w.loop.Workspace.ID, "in": vars{"headcount": 50}}, &struct{}{})

		t.Run("takes each tester's latest estimate and projects the quartiles", func(t *testing.T) {
			// Latest estimates: Ada 20 (not her first, 10), Bo 40, Cy 0;
			// Dee's retracted 100 does not count. Sorted 0, 20, 40: median
			// 20, quartiles 10 and 30. × 50 people × 220 days ÷ 60.
			got := read(t, w.loop.Prototype.ID, nil)
			want := impact{Estimates: 3, Headcount: 50, WorkingDays: 220,
				MedianMinutesPerDay: ptr(20), LowerQuartileMinutesPerDay: ptr(10), UpperQuartileMinutesPerDay: ptr(30),
				HoursPerYear: ptr(20 * 50 * 220 / 60.0), HoursPerYearLow: ptr(10 * 50 * 220 / 60.0), HoursPerYearHigh: ptr(30 * 50 * 220 / 60.0)}
			if got.Estimates != want.Estimates || got.Headcount != want.Headcount || got.WorkingDays != want.WorkingDays ||
				!near(got.MedianMinutesPerDay, want.MedianMinutesPerDay) || !near(got.LowerQuartileMinutesPerDay, want.LowerQuartileMinutesPerDay) ||
				!near(got.UpperQuartileMinutesPerDay, want.UpperQuartileMinutesPerDay) || !near(got.HoursPerYear, want.HoursPerYear) ||
				!near(got.HoursPerYearLow, want.HoursPerYearLow) || !near(got.HoursPerYearHigh, want.HoursPerYearHigh) {
				t.Errorf("impact %+v\nwant %+v", got, want)
			}
			if !near(got.TimeOnTask.Before, ptr(120)) || !near(got.TimeOnTask.After, ptr(60)) {
				t.Errorf("time on task %s → %s, want 120 → 60", show(got.TimeOnTask.Before), show(got.TimeOnTask.After))
			}
			if got := read(t, w.loop.Prototype.ID, 100); !near(got.HoursPerYear, ptr(20*50*100/60.0)) {
				t.Errorf("for 100 working days %s hours, want %v", show(got.HoursPerYear), 20*50*100/60.0)
			}
		})

		t.Run("makes up nothing without estimates", func(t *testing.T) {
			p := s.NewPrototype(t, owner, w.loop.Workspace.ID)
			got := read(t, p.ID, nil)
			if got.Estimates != 0 || got.MedianMinutesPerDay != nil || got.LowerQuartileMinutesPerDay != nil ||
				got.HoursPerYear != nil || got.HoursPerYearHigh != nil || got.TimeOnTask.After != nil || got.Headcount != 50 {
				t.Errorf("impact without estimates %+v, want only nulls and the headcount", got)
			}
		})

		t.Run("compares the first iteration with the latest still out, the only one with itself", func(t *testing.T) {
			p := s.NewPrototype(t, owner, w.loop.Workspace.ID)
			it1 := s.NewPublishedIteration(t, owner, p.ID)
			trial(t, s, w.ada.Token, it1.ID, "COMPLETED", 100*time.Second)
			// check compares time on task with before → after (change).
			check := func(what string, before, after, change *float64) {
				t.Helper()
				c := read(t, p.ID, nil).TimeOnTask
				if !near(c.Before, before) || !near(c.After, after) || !near(c.Change, change) {
					t.Errorf("%s: time on task %s → %s (%s), want %s → %s (%s)", what,
						show(c.Before), show(c.After), show(c.Change), show(before), show(after), show(change))
				}
			}
			check("with one iteration out", ptr(100), ptr(100), ptr(0))
			it2 := s.NewPublishedIteration(t, owner, p.ID)
			trial(t, s, w.ada.Token, it2.ID, "COMPLETED", 70*time.Second)
			it3 := s.NewPublishedIteration(t, owner, p.ID)
			trial(t, s, w.ada.Token, it3.ID, "COMPLETED", 200*time.Second)
			check("with three out", ptr(100), ptr(200), ptr(100))
			for _, id := range []string{it1.ID, it3.ID} {
				decode(t, s, owner, retireIterationMutation, vars{"id": id}, &struct{}{})
			}
			// The retired first is the baseline still; the retired latest
			// is not what people get now.
			check("with iterations 1 and 3 retired", ptr(100), ptr(70), ptr(-30))
			decode(t, s, owner, retireIterationMutation, vars{"id": it2.ID}, &struct{}{})
			check("with every iteration retired", ptr(100), nil, nil)
		})

		t.Run("refuses working days that are not in a year", func(t *testing.T) {
			for _, days := range []int{0, -5, 367} {
				s.Do(t, owner, q, vars{"id": w.loop.Prototype.ID, "days": days}).RequireError(t, "BAD_USER_INPUT", "workingDays")
			}
		})
	})
}

// TestScorecardsAtScale measures the scorecards of a prototype with many
// iterations, trials and feedback, all seeded through the API. It is slow
// to seed, so it runs only with PROTOLOOP_SCALE_TESTS=1; its figures are
// in the test log.
func TestScorecardsAtScale(t *testing.T) {
	if os.Getenv("PROTOLOOP_SCALE_TESTS") == "" {
		t.Skip("set PROTOLOOP_SCALE_TESTS=1 to seed and measure a large prototype")
	}
	const iterations, perIteration = 20, 50
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		it := loop.Iteration.ID
		for i := range iterations {
			if i > 0 {
				it = s.NewPublishedIteration(t, owner, loop.Prototype.ID).ID
			}
			for j := range perIteration {
				tr := s.StartTrial(t, owner, it)
				decode(t, s, owner, endTrialMutation, vars{"id": tr, "outcome": []string{"COMPLETED", "ABANDONED", "BLOCKED"}[j%3]}, &struct{}{})
				s.LeaveFeedback(t, owner, it, vars{"rating": 1 + j%5, "minutesSavedPerDay": j % 60})
			}
		}
		const q = `query($id: ID!) { node(id: $id) { ... on Prototype {
			scorecards(first: 100) { edges { node { iteration { number } completionRate medianTimeOnTask p90TimeOnTask averageRating participants } } }
			impact { estimates medianMinutesPerDay }
		} } }`
		var best time.Duration
		for range 5 {
			start := time.Now()
			decode(t, s, owner, q, vars{"id": loop.Prototype.ID}, &struct{}{})
			if d := time.Since(start); best == 0 || d < best {
				best = d
			}
		}
		t.Logf("%s: scorecards and impact of %d iterations with %d trials and %d feedback: best of 5 requests %v",
			s.Backend, iterations, iterations*perIteration, iterations*perIteration, best)
		if best > 10*time.Second {
			t.Errorf("scorecards took %v, want well under 10s", best)
		}
	})
}

// A mutation's root fields run one after the other: each reads what the
// ones before it wrote, not what an earlier one computed and kept.
func TestMutationFieldsSeeEachOthersWrites(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		first := s.StartTrial(t, owner, loop.Iteration.ID)
		second := s.StartTrial(t, owner, loop.Iteration.ID)
		var out struct {
			A, B struct {
				Iteration struct{ Scorecard struct{ TrialsCompleted int } }
			}
		}
		const q = `mutation($a: ID!, $b: ID!) {
			a: endTrial(id: $a, outcome: COMPLETED) { iteration { scorecard { trialsCompleted } } }
			b: endTrial(id: $b, outcome: COMPLETED) { iteration { scorecard { trialsCompleted } } }
		}`
		decode(t, s, owner, q, vars{"a": first, "b": second}, &out)
		if a, b := out.A.Iteration.Scorecard.TrialsCompleted, out.B.Iteration.Scorecard.TrialsCompleted; a != 1 || b != 2 {
			t.Errorf("trials completed after the first and the second field: %d and %d, want 1 and 2", a, b)
		}
	})
}

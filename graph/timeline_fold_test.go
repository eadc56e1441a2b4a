package graph_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/servertest"
)

// foldedTimelineQuery asks node(id:) for nothing of a prototype but a
// page of its timeline, which the server reads in one statement with the
// check that the viewer may see the prototype. referenceTimelineQuery
// asks for the prototype's title too, which takes the prototype's own
// statement and the page's: the path every other selection takes.
const (
	foldedTimelineQuery = `query($id: ID!, $first: Int, $last: Int, $after: Cursor, $before: Cursor, $orderBy: EventOrder, $where: EventWhereInput) {
		node(id: $id) { id ... on Prototype { ` + timelinePageFields + ` } } }`
	referenceTimelineQuery = `query($id: ID!, $first: Int, $last: Int, $after: Cursor, $before: Cursor, $orderBy: EventOrder, $where: EventWhereInput) {
		node(id: $id) { id ... on Prototype { title ` + timelinePageFields + ` } } }`
	timelinePageFields = `timeline(first: $first, last: $last, after: $after, before: $before, orderBy: $orderBy, where: $where) {
		edges { cursor node { id seq kind occurredAt payload actor { __typename id displayName } subject { __typename id } } }
		pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }`
)

// TestTimelineThroughNodeShowsEachViewerWhatThePoliciesAllow reads a
// prototype's timeline through node(id:) as every kind of viewer, with
// the arguments a frontend pages with, once as the page alone (one
// statement with the prototype's check) and once beside the prototype's
// title (the prototype's statement, then the page's): the page, its
// pageInfo and the errors must be the same, and the page alone must cost
// a statement less wherever it shows events. The viewers: the workspace's
// owner, maker and viewer; a guest tester and a user who tests without
// being a member (both see the prototype's timeline but for drafts,
// invites and alerts); a guest who tests another prototype of the
// workspace, a user of another workspace and an anonymous caller (none
// sees the prototype: NOT_FOUND or UNAUTHENTICATED, as before). Then the
// newest event is made pending again (a negative seq, as PostgreSQL
// commits it before numbering it): no page shows it.
func TestTimelineThroughNodeShowsEachViewerWhatThePoliciesAllow(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		maker := s.NewMember(t, owner, loop.Workspace.ID, "MAKER")
		viewer := s.NewMember(t, owner, loop.Workspace.ID, "VIEWER")
		outsider := s.NewUser(t, "Otto")
		s.NewWorkspace(t, outsider.Token)

		// Events a tester must not see (a draft iteration, an invite, an
		// alert), events by a guest and by no one (the alert).
		newAlertRule(t, s, owner, loop.Prototype.ID, "FEEDBACK_VOTES", 1)
		s.NewIteration(t, maker.Token, loop.Prototype.ID)
		_, secret := newInvite(t, s, owner, loop.Prototype.ID, nil)
		guest, _ := newGuestOf(t, s, secret, "Ada")
		userTester := s.NewUser(t, "Tess")
		redeemAs(t, s, userTester.Token, secret, "Tess")
		trial := s.StartTrial(t, guest, loop.Iteration.ID)
		fb := s.LeaveFeedback(t, guest, loop.Iteration.ID, vars{"trialID": trial})
		s.AddComment(t, owner, fb, "")
		s.Do(t, guest, voteMutation, vars{"id": fb}).RequireOK(t)
		s.Do(t, viewer.Token, voteMutation, vars{"id": fb}).RequireOK(t)
		s.Do(t, owner, setFeedbackStatusMutation, vars{"id": fb, "status": "ACKNOWLEDGED"}).RequireOK(t)

		other := s.NewPrototype(t, owner, loop.Workspace.ID)
		_, otherSecret := newInvite(t, s, owner, other.ID, nil)
		otherGuest, _ := newGuestOf(t, s, otherSecret, "Bo")

		viewers := []struct {
			name, token  string
			sees, member bool
		}{
			{"the owner", owner, true, true},
			{"a maker", maker.Token, true, true},
			{"a viewer", viewer.Token, true, true},
			{"a guest tester", guest, true, false},
			{"a user who tests without being a member", userTester.Token, true, false},
			{"a guest who tests another prototype", otherGuest, false, false},
			{"a user of another workspace", outsider.Token, false, false},
			{"an anonymous caller", "", false, false},
		}

		// The cursors to page with are the owner's; every viewer pages
		// with them (a tester's pages skip what it does not see).
		var first struct {
			Node struct {
				Timeline struct {
					Edges []struct{ Cursor string }
				}
			}
		}
		s.Do(t, owner, foldedTimelineQuery, vars{"id": loop.Prototype.ID, "first": 100}).RequireOK(t).Decode(t, &first)
		cursors := first.Node.Timeline.Edges
		if len(cursors) < 12 {
			t.Fatalf("the timeline has %d events, want at least 12", len(cursors))
		}
		mid, lastCursor := cursors[len(cursors)/2].Cursor, cursors[len(cursors)-1].Cursor
		desc := vars{"field": "SEQ", "direction": "DESC"}

		pages := []struct {
			name string
			args vars
			// folds: the page alone is read in one statement with the check
			// (where it shows events); where not, it costs what the other
			// path costs, plus the page it tried if it tried one.
			folds bool
		}{
			{"the bench's page: 30 newest first", vars{"first": 30, "orderBy": desc}, true},
			{"every event, oldest first", vars{}, true},
			{"3 after a cursor, newest first", vars{"first": 3, "after": mid, "orderBy": desc}, true},
			{"the last 4 before a cursor", vars{"last": 4, "before": mid}, true},
			{"the first 3 before a cursor", vars{"first": 3, "before": mid}, true},
			{"the last 3 after a cursor, newest first", vars{"last": 3, "after": mid, "orderBy": desc}, true},
			{"every event between two cursors", vars{"after": cursors[2].Cursor, "before": mid}, true},
			{"the last 2, by time", vars{"last": 2, "orderBy": vars{"field": "OCCURRED_AT", "direction": "ASC"}}, true},
			{"by time, the direction left to its default", vars{"first": 5, "orderBy": vars{"field": "OCCURRED_AT"}}, true},
			{"nothing after the last event", vars{"first": 5, "after": lastCursor}, false},
			{"no events asked for", vars{"first": 0}, false},
			{"filtered by kind", vars{"first": 10, "where": vars{"kind": "FEEDBACK_ADDED"}}, false},
			{"a negative page size", vars{"first": -1}, false},
		}

		// do runs query on the loop's prototype as token's holder, whose
		// identity is cached first, and counts its statements.
		do := func(t *testing.T, token, query string, args vars) (r *servertest.Response, statements int64, errs string) {
			t.Helper()
			s.Do(t, owner, `{ __typename }`, nil).RequireOK(t)
			if token != "" {
				s.Do(t, token, `{ __typename }`, nil).RequireOK(t)
			}
			v := vars{"id": loop.Prototype.ID}
			for k, a := range args {
				v[k] = a
			}
			before := s.Statements()
			r = s.Do(t, token, query, v)
			statements = s.Statements() - before
			var list []string
			for _, e := range r.Errors {
				list = append(list, e.String())
			}
			return r, statements, strings.Join(list, "; ")
		}
		read := func(t *testing.T, token, query string, args vars) (page string, errs string, statements int64) {
			t.Helper()
			r, statements, errs := do(t, token, query, args)
			var got struct {
				Node *struct {
					ID       string
					Timeline json.RawMessage
				}
			}
			if len(r.Data) > 0 {
				r.Decode(t, &got)
			}
			if got.Node != nil {
				page = string(got.Node.Timeline)
			}
			return page, errs, statements
		}

		for _, v := range viewers {
			for _, p := range pages {
				t.Run(fmt.Sprintf("%s, %s", v.name, p.name), func(t *testing.T) {
					page, errs, folded := read(t, v.token, foldedTimelineQuery, p.args)
					wantPage, wantErrs, reference := read(t, v.token, referenceTimelineQuery, p.args)
					if page != wantPage || errs != wantErrs {
						t.Fatalf("the page alone:\n%s\nerrors: %s\nbeside the title:\n%s\nerrors: %s", page, errs, wantPage, wantErrs)
					}
					switch {
					case !v.sees && (page != "" || errs == ""):
						t.Fatalf("%s sees the page %s, errors %q: want no page and an error", v.name, page, errs)
					case v.sees && p.folds && !strings.Contains(page, `"node"`):
						t.Fatalf("%s sees no events: %s", v.name, page)
					case v.sees && p.folds && folded != reference-1:
						t.Errorf("the page alone took %d statements, beside the title %d: want one fewer", folded, reference)
					case !(v.sees && p.folds) && folded > reference+1:
						t.Errorf("the page alone took %d statements, beside the title %d: want at most one more (the page it tried)", folded, reference)
					}
					if alert := strings.Contains(page, `"kind":"ALERT"`); v.sees && p.name == pages[0].name && alert != v.member {
						t.Errorf("%s: the alert on the page: %v; members see it, testers do not", v.name, alert)
					}
				})
			}
		}

		// The same page asked for in every shape a document can give it:
		// each answer, data and errors, byte for byte the unfolded path's
		// (the document with a field of the prototype added last, which
		// the comparison strips), and one statement fewer where it folds.
		shapes := []struct {
			name, params, body string
			args               vars
			// folds: one statement fewer where the viewer sees events;
			// refused: arguments the executor refuses, which the fold must
			// refuse too, reading no page (the statements of the unfolded
			// path exactly).
			folds, refused bool
		}{
			{"a fragment on Node with __typename", "", `... on Node { __typename id }
				... on Prototype { timeline(first: 3) { edges { cursor node { id } } } }`, nil, true, false},
			{"__typename and a named fragment", "", `__typename ...page`, nil, true, false},
			{"a sibling skipped", "$yes: Boolean!", `id ... on Prototype { title @skip(if: $yes)
				timeline(first: 3) { edges { cursor } } }`, vars{"yes": true}, true, false},
			{"a sibling not skipped", "$yes: Boolean!", `id ... on Prototype { title @skip(if: $yes)
				timeline(first: 3) { edges { cursor } } }`, vars{"yes": false}, false, false},
			{"a sibling included", "$yes: Boolean!", `... on Prototype { slug @include(if: $yes)
				timeline(first: 3) { edges { cursor } } }`, vars{"yes": true}, false, false},
			{"a sibling not included", "$yes: Boolean!", `... on Prototype { slug @include(if: $yes)
				timeline(first: 3) { edges { cursor } } }`, vars{"yes": false}, true, false},
			{"the timeline skipped", "$yes: Boolean!", `id
				... on Prototype { timeline(first: 3) @skip(if: $yes) { edges { cursor } } }`, vars{"yes": true}, false, false},
			{"the timeline included", "$yes: Boolean!", `id
				... on Prototype { timeline(first: 3) @include(if: $yes) { edges { cursor } } }`, vars{"yes": true}, true, false},
			{"the timeline not included", "$yes: Boolean!", `id
				... on Prototype { timeline(first: 3) @include(if: $yes) { edges { cursor } } }`, vars{"yes": false}, false, false},
			{"the same alias twice", "", `... on Prototype {
				a: timeline(first: 3) { edges { cursor } }
				a: timeline(first: 3) { edges { node { id seq } } pageInfo { hasNextPage endCursor } } }`, nil, true, false},
			{"two aliases", "", `... on Prototype {
				a: timeline(first: 2) { edges { cursor } }
				b: timeline(last: 2) { edges { cursor } } }`, nil, false, false},
			{"totalCount", "", `... on Prototype { timeline(first: 3) { totalCount edges { cursor } } }`, nil, false, false},
			{"pageInfo only", "", `... on Prototype { timeline(first: 3) {
				pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`, nil, false, false},
			{"edges skipped", "$yes: Boolean!", `... on Prototype { timeline(first: 3) {
				edges @skip(if: $yes) { cursor } pageInfo { hasNextPage } } }`, vars{"yes": true}, false, false},
			{"the direction from a variable", "$dir: OrderDirection", `... on Prototype {
				timeline(first: 3, orderBy: {field: SEQ, direction: $dir}) { edges { node { seq } } } }`,
				vars{"dir": "DESC"}, true, false},
			{"the direction from a missing variable", "$dir: OrderDirection", `... on Prototype {
				timeline(first: 3, orderBy: {field: SEQ, direction: $dir}) { edges { node { seq } } } }`,
				vars{}, true, false},
			{"the direction from a null variable", "$dir: OrderDirection", `... on Prototype {
				timeline(first: 3, orderBy: {field: SEQ, direction: $dir}) { edges { node { seq } } } }`,
				vars{"dir": nil}, false, true},
			{"the direction from a variable's default", "$dir: OrderDirection = DESC", `... on Prototype {
				timeline(first: 3, orderBy: {field: SEQ, direction: $dir}) { edges { node { seq } } } }`,
				vars{}, true, false},
			{"an order with a null direction", "$order: EventOrder", `... on Prototype {
				timeline(first: 3, orderBy: $order) { edges { node { seq } } } }`,
				vars{"order": vars{"field": "SEQ", "direction": nil}}, false, true},
		}
		ref := regexp.MustCompile(`,?"zzRef":"[^"]*"`)
		readShape := func(t *testing.T, token, query string, args vars) (data, errs string, statements int64) {
			t.Helper()
			r, statements, errs := do(t, token, query, args)
			return ref.ReplaceAllString(string(r.Data), ""), errs, statements
		}
		for _, v := range []int{0, 3, 6} { // the owner, a guest tester, an outsider
			v := viewers[v]
			for _, shape := range shapes {
				t.Run(fmt.Sprintf("%s, %s", v.name, shape.name), func(t *testing.T) {
					params := "$id: ID!"
					if shape.params != "" {
						params += ", " + shape.params
					}
					document := func(extra string) string {
						d := fmt.Sprintf("query(%s) { node(id: $id) { %s %s } }", params, shape.body, extra)
						if strings.Contains(shape.body, "...page") {
							d += "\nfragment page on Prototype { timeline(first: 3) { edges { cursor } } }"
						}
						return d
					}
					data, errs, folded := readShape(t, v.token, document(""), shape.args)
					wantData, wantErrs, reference := readShape(t, v.token, document("... on Prototype { zzRef: slug }"), shape.args)
					if data != wantData || errs != wantErrs {
						t.Fatalf("folded:\n%s\nerrors: %s\nunfolded:\n%s\nerrors: %s", data, errs, wantData, wantErrs)
					}
					switch {
					case shape.refused && (errs == "" || folded != reference):
						t.Errorf("folded took %d statements, unfolded %d, errors %q: want an error and the same count", folded, reference, errs)
					case v.sees && shape.folds && !strings.Contains(data, `"edges":[{`):
						t.Fatalf("%s sees no events: %s %s", v.name, data, errs)
					case v.sees && shape.folds && folded != reference-1:
						t.Errorf("folded took %d statements, unfolded %d: want one fewer", folded, reference)
					case !(v.sees && shape.folds) && folded > reference+1:
						t.Errorf("folded took %d statements, unfolded %d: want at most one more", folded, reference)
					}
				})
			}
		}

		t.Run("a pending event is on no page", func(t *testing.T) {
			var newest struct {
				Node struct {
					Timeline struct {
						Edges []struct{ Node struct{ ID string } }
					}
				}
			}
			s.Do(t, owner, foldedTimelineQuery, vars{"id": loop.Prototype.ID, "first": 1, "orderBy": desc}).RequireOK(t).Decode(t, &newest)
			id, err := gid.Parse(newest.Node.Timeline.Edges[0].Node.ID)
			if err != nil {
				t.Fatal(err)
			}
			if s.Backend == servertest.Postgres {
				// The broker's poll numbers a pending event within a
				// second; the lock keeps this one pending while it is
				// read.
				lock, _ := takeEventsLock(t, s)
				defer lock.Rollback()
			}
			if _, err := s.DB.SQL.Exec(`UPDATE events SET seq = -seq WHERE id = ` + fmt.Sprint(int64(id))); err != nil {
				t.Fatal(err)
			}
			for _, v := range viewers[:5] {
				page, errs, _ := read(t, v.token, foldedTimelineQuery, vars{"first": 30, "orderBy": desc})
				wantPage, wantErrs, _ := read(t, v.token, referenceTimelineQuery, vars{"first": 30, "orderBy": desc})
				if page != wantPage || errs != wantErrs {
					t.Errorf("%s: the page alone:\n%s\nbeside the title:\n%s", v.name, page, wantPage)
				}
				if strings.Contains(page, newest.Node.Timeline.Edges[0].Node.ID) || page == "" {
					t.Errorf("%s sees the pending event %s (or no page): %s", v.name, newest.Node.Timeline.Edges[0].Node.ID, page)
				}
			}
		})
	})
}

package graph_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/servertest"
)

// timelineSelection is a timeline page of a prototype, newest first, with
// fields as each event's selection.
func timelineSelection(fields string) string {
	return `query($id: ID!) { node(id: $id) { ... on Prototype {
		timeline(first: 100, orderBy: {field: SEQ, direction: DESC}) {
			edges { cursor node { ` + fields + ` } }
			pageInfo { hasNextPage endCursor }
		}
	} } }`
}

// everyEventField selects every field of an event, each of the fields
// that resolvers add (cursor, actor, subject, payload) among them: a page
// that reads every column, as every page did before.
const everyEventField = `id seq kind occurredAt prototype { id } cursor
	actor { __typename id displayName } subject { __typename id } payload`

// TestTimelinePageReadsWhatItShows reads a timeline with events by a
// user, by a guest tester (a participant) and by no one (an alert the
// server raised), selecting every field of an event and then parts of
// them: each part has the values the whole has, at a cost in statements
// that depends on what it shows. Then it spoils the stored payloads (a
// JSON array where an object belongs): a page that does not show them
// still reads, so it does not decode them; a page that does fails.
func TestTimelinePageReadsWhatItShows(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		// An ALERT has no actor: the server raises it, here when a guest's
		// vote takes a feedback to one vote.
		newAlertRule(t, s, owner, loop.Prototype.ID, "FEEDBACK_VOTES", 1)
		_, secret := newInvite(t, s, owner, loop.Prototype.ID, nil)
		ada, _ := newGuestOf(t, s, secret, "Ada")
		trial := s.StartTrial(t, ada, loop.Iteration.ID)
		fb := s.LeaveFeedback(t, ada, loop.Iteration.ID, vars{"trialID": trial})
		s.AddComment(t, owner, fb, "")
		s.Do(t, ada, voteMutation, vars{"id": fb}).RequireOK(t)
		s.Do(t, owner, setFeedbackStatusMutation, vars{"id": fb, "status": "ACKNOWLEDGED"}).RequireOK(t)

		page := func(t *testing.T, fields string) (edges []map[string]any, statements int64) {
			t.Helper()
			s.Do(t, owner, `{ __typename }`, nil).RequireOK(t) // the token's identity cached
			before := s.Statements()
			r := s.Do(t, owner, timelineSelection(fields), vars{"id": loop.Prototype.ID})
			statements = s.Statements() - before
			return timelineEdges(t, r.RequireOK(t).Data), statements
		}

		whole, _ := page(t, everyEventField)
		// The whole page is read through the same narrowed collection as
		// its parts: check it first against the rows, every column read.
		requireStoredValues(t, s, loop.Prototype.ID, whole)
		actors := map[string]int{}
		withPayload := 0
		for _, e := range whole {
			node := e["node"].(map[string]any)
			actor, _ := node["actor"].(map[string]any)
			actors[fmt.Sprint(actor["__typename"])]++
			if node["payload"] != nil {
				withPayload++
			}
		}
		if actors["User"] == 0 || actors["Participant"] == 0 || actors["<nil>"] == 0 || withPayload == 0 {
			t.Fatalf("actors by type %v, %d payloads: want events by a user, a participant and no one, and payloads", actors, withPayload)
		}

		cases := []struct {
			name       string
			fields     string
			statements int64 // the events read through the prototype (one statement), and one per type of actor or subject
		}{
			// The participants' names come with the events (joins.ActorNames);
			// the users are one statement.
			{"the bench's page: its actors' names", "id seq kind occurredAt actor { displayName }", 2},
			{"the plain fields only", "id seq kind occurredAt", 1},
			{"the event's cursor and payload", "id cursor payload", 1},
			{"the actors", "id actor { __typename id displayName }", 2},
			{"the subjects", "id kind subject { __typename id }", 1 + 7}, // seven types of subject
			{"the prototype", "id prototype { id }", 2},
		}
		for _, c := range cases {
			t.Run(c.name+" has the values of the whole page", func(t *testing.T) {
				got, statements := page(t, c.fields)
				requireSameValues(t, got, whole)
				if statements != c.statements {
					t.Errorf("the page took %d statements, want %d", statements, c.statements)
				}
			})
		}

		t.Run("a page's pageInfo is the same without totalCount, which alone needs the count", func(t *testing.T) {
			pageOf := func(t *testing.T, count bool, args vars) json.RawMessage {
				t.Helper()
				q := fmt.Sprintf(timelinePageInfoQuery, map[bool]string{true: "totalCount"}[count])
				args["id"] = loop.Prototype.ID
				var got struct {
					Node struct{ Timeline map[string]any }
				}
				s.Do(t, owner, q, args).RequireOK(t).Decode(t, &got)
				delete(got.Node.Timeline, "totalCount")
				b, err := json.Marshal(got.Node.Timeline)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			first := pageOf(t, true, vars{"first": 5})
			var info struct {
				PageInfo struct{ StartCursor, EndCursor string }
			}
			if err := json.Unmarshal(first, &info); err != nil {
				t.Fatal(err)
			}
			for _, args := range []vars{
				{"first": 5},
				{"first": 5, "after": info.PageInfo.EndCursor},
				{"last": 5},
				{"last": 5, "before": info.PageInfo.EndCursor},
				{"first": 0},
				{"first": 100},
			} {
				withCount, without := pageOf(t, true, args), pageOf(t, false, args)
				if string(withCount) != string(without) {
					t.Errorf("%v: without totalCount\n%s\nwith it\n%s", args, without, withCount)
				}
			}
		})

		t.Run("a page that does not show payloads does not decode them", func(t *testing.T) {
			if _, err := s.DB.SQL.Exec(`UPDATE events SET payload = '[1]' WHERE payload IS NOT NULL`); err != nil {
				t.Fatal(err)
			}
			got, _ := page(t, "id seq kind occurredAt cursor actor { __typename id displayName } subject { __typename id }")
			requireSameValues(t, got, whole)
			r := s.Do(t, owner, timelineSelection("id payload"), vars{"id": loop.Prototype.ID})
			if r.Err() == nil {
				t.Error("a page showing the spoilt payloads read: the test spoilt nothing")
			}
		})
	})
}

// requireStoredValues fails t unless the edges of whole are the events
// of prototype as stored, each column read straight from the table:
// seq, actor, subject and payload.
func requireStoredValues(t *testing.T, s *servertest.Server, prototype string, whole []map[string]any) {
	t.Helper()
	p, err := gid.Parse(prototype)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.DB.SQL.Query(fmt.Sprintf(`SELECT id, seq, actor_user_id, actor_participant_id, subject_id, payload
		FROM events WHERE prototype_id = %d`, int64(p)))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type stored struct {
		seq                           int64
		actorUser, actorPart, subject sql.NullInt64
		payload                       []byte
	}
	want := map[string]stored{}
	for rows.Next() {
		var id int64
		var e stored
		if err := rows.Scan(&id, &e.seq, &e.actorUser, &e.actorPart, &e.subject, &e.payload); err != nil {
			t.Fatal(err)
		}
		want[gid.ID(id).String()] = e
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(whole) != len(want) {
		t.Fatalf("the page has %d events, the table %d", len(whole), len(want))
	}
	idOf := func(v any) any {
		if m, ok := v.(map[string]any); ok {
			return m["id"]
		}
		return nil
	}
	idOrNil := func(n sql.NullInt64) any {
		if !n.Valid {
			return nil
		}
		return gid.ID(n.Int64).String()
	}
	for _, edge := range whole {
		node := edge["node"].(map[string]any)
		e, ok := want[fmt.Sprint(node["id"])]
		if !ok {
			t.Errorf("event %v is not in the table", node["id"])
			continue
		}
		if fmt.Sprint(node["seq"]) != fmt.Sprint(e.seq) {
			t.Errorf("event %v: seq %v, stored %d", node["id"], node["seq"], e.seq)
		}
		actor := idOrNil(e.actorUser)
		if actor == nil {
			actor = idOrNil(e.actorPart)
		}
		if got := idOf(node["actor"]); got != actor {
			t.Errorf("event %v: actor %v, stored %v", node["id"], got, actor)
		}
		if got, subject := idOf(node["subject"]), idOrNil(e.subject); got != subject {
			t.Errorf("event %v: subject %v, stored %v", node["id"], got, subject)
		}
		var payload any
		if e.payload != nil {
			if err := json.Unmarshal(e.payload, &payload); err != nil {
				t.Fatal(err)
			}
		}
		if !reflect.DeepEqual(node["payload"], payload) {
			t.Errorf("event %v: payload %v, stored %s", node["id"], node["payload"], e.payload)
		}
	}
}

// timelinePageInfoQuery is a page of a timeline with its pageInfo, and
// with what %s says beside it.
const timelinePageInfoQuery = `query($id: ID!, $first: Int, $last: Int, $after: Cursor, $before: Cursor) {
	node(id: $id) { ... on Prototype {
		timeline(first: $first, last: $last, after: $after, before: $before) {
			%s pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
			edges { cursor node { id } }
		}
	} }
}`

// timelineEdges returns the edges of a timeline page's response data.
func timelineEdges(t *testing.T, data json.RawMessage) []map[string]any {
	t.Helper()
	var got struct {
		Node struct {
			Timeline struct{ Edges []map[string]any }
		}
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	return got.Node.Timeline.Edges
}

// requireSameValues fails t unless the edges of got are those of whole,
// in the same order, each field got has with the value it has in whole.
func requireSameValues(t *testing.T, got, whole []map[string]any) {
	t.Helper()
	if len(got) != len(whole) {
		t.Fatalf("%d events, want %d", len(got), len(whole))
	}
	for i := range got {
		if got[i]["cursor"] != whole[i]["cursor"] {
			t.Errorf("edge %d: cursor %v, want %v", i, got[i]["cursor"], whole[i]["cursor"])
		}
		g, w := got[i]["node"].(map[string]any), whole[i]["node"].(map[string]any)
		for field, v := range g {
			if want := w[field]; !reflect.DeepEqual(v, subset(v, want)) {
				t.Errorf("event %v (%v), %s: %v, want %v", w["id"], w["kind"], field, v, want)
			}
		}
	}
}

// subset returns the part of want with the keys of got: an object's
// fields that a smaller selection asked for.
func subset(got, want any) any {
	g, ok := got.(map[string]any)
	w, ok2 := want.(map[string]any)
	if !ok || !ok2 {
		return want
	}
	out := make(map[string]any, len(g))
	for k := range g {
		out[k] = w[k]
	}
	return out
}

package graph_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

// The ways a timeline page is read, each with %[1]s for the actor's
// selection: node(id:), which reads the page through the prototype; a
// prototype by its slug, which eager-loads one page; and a workspace's
// prototypes, which read a page per prototype in one statement (LATERAL
// on PostgreSQL, a window on SQLite).
const (
	actorsThroughNode = `query($id: ID!) { node(id: $id) { ... on Prototype {
		timeline(first: 100, orderBy: {field: SEQ, direction: ASC}) { edges { node { id kind actor { %[1]s } } } }
	} } }`
	actorsThroughSlug = `query($ws: String!, $slug: String!) { prototype(workspace: $ws, slug: $slug) {
		timeline(first: 100, orderBy: {field: SEQ, direction: ASC}) { edges { node { id kind actor { %[1]s } } } }
	} }`
	actorsThroughWorkspace = `query($ws: String!) { workspace(slug: $ws) { prototypes(first: 10) { edges { node {
		id timeline(first: 7, orderBy: {field: SEQ, direction: DESC}) { edges { node { id kind actor { %[1]s } } } }
	} } } } }`
)

// TestTimelineActorsComeWithTheirPage reads timelines whose events were
// made by the team and by two guest testers, in each way a page is read,
// as the owner and as a tester. The names of the actors that are
// participants come with the page's events (joins.ActorNames): the page
// costs one statement fewer than when the actor's selection asks a
// participant for more than its ID and name, which loads the participants
// on their own, under the Participant policy. Both give each viewer the
// same actors and names, masks included.
func TestTimelineActorsComeWithTheirPage(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		maker := s.NewMember(t, owner, loop.Workspace.ID, "MAKER")
		_, secret := newInvite(t, s, owner, loop.Prototype.ID, nil)
		ada, _ := newGuestOf(t, s, secret, "Ada")
		bo, _ := newGuestOf(t, s, secret, "Bo")
		for range 3 {
			fb := s.LeaveFeedback(t, ada, loop.Iteration.ID, nil)
			s.LeaveFeedback(t, bo, loop.Iteration.ID, nil)
			s.AddComment(t, maker.Token, fb, "")
			s.Do(t, bo, voteMutation, vars{"id": fb}).RequireOK(t)
		}
		// A second prototype, so that the workspace's prototypes read
		// more than one page in their statement.
		other := s.NewPrototype(t, owner, loop.Workspace.ID)
		otherIteration := s.NewPublishedIteration(t, owner, other.ID)
		s.LeaveFeedback(t, maker.Token, otherIteration.ID, nil)

		// argsOf gives a query the variables it declares.
		argsOf := func(query string) vars {
			args := vars{}
			for name, v := range map[string]string{"id": loop.Prototype.ID, "ws": loop.Workspace.Slug, "slug": loop.Prototype.Slug} {
				if strings.Contains(query, "$"+name+":") {
					args[name] = v
				}
			}
			return args
		}
		const joined = "__typename id displayName"
		const loaded = joined + " ... on Participant { createdAt }"
		read := func(t *testing.T, token, query, actor string) (string, int64) {
			t.Helper()
			s.Do(t, token, `{ __typename }`, nil).RequireOK(t) // the token's identity cached
			before := s.Statements()
			r := s.Do(t, token, fmt.Sprintf(query, actor), argsOf(query)).RequireOK(t)
			statements := s.Statements() - before
			var data any
			r.Decode(t, &data)
			return canonical(t, data), statements
		}

		// Each way, with the pages it reads: each page with participants
		// among its actors reads them in its own statement.
		type way struct {
			query string
			pages int64
		}
		node, slug := way{actorsThroughNode, 1}, way{actorsThroughSlug, 1}
		for _, viewer := range []struct {
			name, token string
			ways        map[string]way
		}{
			{"the owner", owner, map[string]way{
				"node(id:)": node, "prototype(slug:)": slug, "workspace's prototypes": {actorsThroughWorkspace, 2},
			}},
			// A tester reads its prototype, not the workspace's list.
			{"a tester", ada, map[string]way{"node(id:)": node, "prototype(slug:)": slug}},
		} {
			for name, w := range viewer.ways {
				t.Run(viewer.name+", "+name, func(t *testing.T) {
					got, withPage := read(t, viewer.token, w.query, joined)
					want, alone := read(t, viewer.token, w.query, loaded)
					if got != want {
						t.Errorf("the actors read with the page:\n%s\nread on their own:\n%s", got, want)
					}
					for _, name := range []string{`"Participant"`, `"User"`} {
						if !strings.Contains(got, name) {
							t.Errorf("no actor is a %s: the page does not test both kinds\n%s", name, got)
						}
					}
					if withPage != alone-w.pages {
						t.Errorf("the pages took %d statements with their participants' names, %d with them read on their own: want %d fewer",
							withPage, alone, w.pages)
					}
				})
			}
		}

		// One event's actor under two aliases: the join, read for the
		// one, does not answer the other, which asks for more.
		t.Run("an actor under two aliases", func(t *testing.T) {
			var got struct {
				Node struct {
					Timeline struct {
						Edges []struct {
							Node struct {
								Kind       string
								Name, More *struct {
									Typename    string `json:"__typename"`
									ID          string
									DisplayName string
									CreatedAt   string
								}
							}
						}
					}
				}
			}
			q := `query($id: ID!) { node(id: $id) { ... on Prototype {
				timeline(first: 100, orderBy: {field: SEQ, direction: ASC}) { edges { node {
					kind name: actor { ` + joined + ` } more: actor { ` + loaded + ` }
				} } }
			} } }`
			s.Do(t, ada, q, argsOf(q)).RequireOK(t).Decode(t, &got)
			participants := 0
			for _, e := range got.Node.Timeline.Edges {
				name, more := e.Node.Name, e.Node.More
				if (name == nil) != (more == nil) || name == nil {
					continue
				}
				if name.ID != more.ID || name.DisplayName != more.DisplayName {
					t.Errorf("%s: the two aliases give %+v and %+v", e.Node.Kind, *name, *more)
				}
				if more.Typename == "Participant" {
					participants++
					if more.CreatedAt == "" || strings.HasPrefix(more.CreatedAt, "0001-") {
						t.Errorf("%s: the participant asked for its createdAt has %q", e.Node.Kind, more.CreatedAt)
					}
				}
			}
			if participants == 0 {
				t.Fatal("no participant among the actors: nothing was checked")
			}
		})

		// Last, as it changes the data: an event whose actor is a
		// participant of another prototype, which the join leaves out
		// (NULL) and the loader reads under the Participant policy: the
		// owner sees it, the tester does not.
		t.Run("an actor of another prototype", func(t *testing.T) {
			p, o := parse(t, loop.Prototype.ID), parse(t, other.ID)
			r, err := s.DB.SQL.Exec(fmt.Sprintf(`UPDATE events SET actor_participant_id =
				(SELECT id FROM participants WHERE prototype_id = %d LIMIT 1)
				WHERE id = (SELECT id FROM events WHERE prototype_id = %d AND actor_participant_id IS NOT NULL ORDER BY seq DESC LIMIT 1)`,
				int64(o), int64(p)))
			if err != nil {
				t.Fatal(err)
			}
			if n, err := r.RowsAffected(); err != nil || n != 1 {
				t.Fatalf("%d events changed (%v), want 1", n, err)
			}
			for _, viewer := range []struct {
				name, token string
				sees        bool
			}{{"the owner", owner, true}, {"a tester", ada, false}} {
				got, _ := read(t, viewer.token, actorsThroughNode, joined)
				want, _ := read(t, viewer.token, actorsThroughNode, loaded)
				if got != want {
					t.Errorf("%s: the actors read with the page:\n%s\nread on their own:\n%s", viewer.name, got, want)
				}
				if hidden := strings.Contains(got, `"actor": null`); hidden == viewer.sees {
					t.Errorf("%s: an actor hidden: %v, want %v\n%s", viewer.name, hidden, !viewer.sees, got)
				}
			}
		})
	})
}

// canonical is data as indented JSON without the fields the loaded
// selection adds (createdAt), for comparing two responses.
func canonical(t *testing.T, data any) string {
	t.Helper()
	var strip func(any)
	strip = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			delete(v, "createdAt")
			for _, f := range v {
				strip(f)
			}
		case []any:
			for _, e := range v {
				strip(e)
			}
		}
	}
	strip(data)
	b, err := json.MarshalIndent(data, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

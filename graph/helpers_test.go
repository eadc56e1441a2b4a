package graph_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/servertest"
)

// vars is shorthand for GraphQL variables and input objects.
type vars = map[string]any

// timelineEvent is an Event as the timeline shows it.
type timelineEvent struct {
	ID    string
	Seq   int
	Kind  string
	Actor *struct {
		Typename    string `json:"__typename"`
		ID          string
		DisplayName string
	}
	Subject *struct {
		Typename string `json:"__typename"`
		ID       string
	}
	Payload map[string]any
}

const timelineQuery = `query($id: ID!, $first: Int, $orderBy: EventOrder, $where: EventWhereInput) {
	node(id: $id) {
		... on Prototype {
			timeline(first: $first, orderBy: $orderBy, where: $where) {
				totalCount
				edges { node {
					id seq kind
					actor { __typename id displayName }
					subject { __typename id }
					payload
				} }
			}
		}
	}
}`

// timeline returns a prototype's timeline as seen by token's holder,
// oldest first unless args (the connection's arguments) order it
// otherwise; args may filter it with where.
func timeline(t *testing.T, s *servertest.Server, token, prototypeID string, args vars) []timelineEvent {
	t.Helper()
	// A page is at most 100 events (the server's page limit).
	v := vars{"id": prototypeID, "first": 100, "orderBy": vars{"field": "SEQ", "direction": "ASC"}}
	for k, a := range args {
		v[k] = a
	}
	var got struct {
		Node *struct {
			Timeline struct {
				TotalCount int
				Edges      []struct{ Node timelineEvent }
			}
		}
	}
	s.Do(t, token, timelineQuery, v).RequireOK(t).Decode(t, &got)
	if got.Node == nil {
		t.Fatalf("prototype %s not found", prototypeID)
	}
	if _, paged := args["first"]; !paged && got.Node.Timeline.TotalCount > len(got.Node.Timeline.Edges) {
		t.Fatalf("the timeline has %d events, more than one page: page through it", got.Node.Timeline.TotalCount)
	}
	events := make([]timelineEvent, len(got.Node.Timeline.Edges))
	for i, e := range got.Node.Timeline.Edges {
		events[i] = e.Node
	}
	return events
}

// lastSeq returns the position of a prototype's newest event, 0 if it has
// none: the mark for expectEvents.
func lastSeq(t *testing.T, s *servertest.Server, token, prototypeID string) int {
	t.Helper()
	events := timeline(t, s, token, prototypeID, vars{"first": 1, "orderBy": vars{"field": "SEQ", "direction": "DESC"}})
	if len(events) == 0 {
		return 0
	}
	return events[0].Seq
}

// expectEvents fails t unless the events a prototype got after position
// mark are exactly of the given kinds, in order, and returns them.
func expectEvents(t *testing.T, s *servertest.Server, token, prototypeID string, mark int, kinds ...string) []timelineEvent {
	t.Helper()
	events := timeline(t, s, token, prototypeID, vars{"where": vars{"seqGT": mark}})
	if got := eventKinds(events); !slices.Equal(got, kinds) {
		t.Fatalf("new events on the timeline: %v, want %v", got, kinds)
	}
	return events
}

func eventKinds(events []timelineEvent) []string {
	kinds := make([]string, len(events))
	for i, e := range events {
		kinds[i] = e.Kind
	}
	return kinds
}

// workspaceEventKinds lists the kinds of a workspace's own events (those
// about no prototype: creation, updates, members), oldest first. The API
// has no workspace timeline, so it reads the table directly.
func workspaceEventKinds(t *testing.T, s *servertest.Server, workspaceID string) []string {
	t.Helper()
	events := workspaceEvents(t, s, workspaceID)
	kinds := make([]string, len(events))
	for i, e := range events {
		kinds[i] = string(e.Kind)
	}
	return kinds
}

// workspaceEvents reads a workspace's own events from the table, those
// given their position (seq) as readers see them, oldest first. An event
// committed outside a request (the webhook worker's, say) is positioned
// a moment after its commit is visible: wait for it.
func workspaceEvents(t *testing.T, s *servertest.Server, workspaceID string) []*ent.Event {
	t.Helper()
	id, err := gid.Parse(workspaceID)
	if err != nil {
		t.Fatal(err)
	}
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	events, err := s.DB.Client.Event.Query().
		Where(event.WorkspaceID(id), event.PrototypeIDIsNil(), event.SeqGT(0)).
		Order(event.BySeq()).
		All(ctx)
	if err != nil {
		t.Fatalf("read workspace events: %v", err)
	}
	return events
}

// requireHidden fails t unless a response shows nothing of what was
// asked: either null data for the field or a NOT_FOUND error. Both are
// how the API says "no such object" for one the caller may not see.
func requireHidden(t *testing.T, r *servertest.Response, field string) {
	t.Helper()
	if len(r.Errors) > 0 {
		if r.Code() != "NOT_FOUND" {
			t.Fatalf("got error %s: %s, want null or NOT_FOUND", r.Code(), r.Errors[0].Message)
		}
		return
	}
	var got map[string]any
	r.Decode(t, &got)
	if v, ok := got[field]; !ok || v != nil {
		t.Fatalf("got %s = %v, want null", field, v)
	}
}

// long returns a string of n characters.
func long(n int) string { return strings.Repeat("a", n) }

// decode sends a request that must succeed and decodes its data into out.
func decode(t *testing.T, s *servertest.Server, token, query string, v vars, out any) {
	t.Helper()
	s.Do(t, token, query, v).RequireOK(t).Decode(t, out)
}

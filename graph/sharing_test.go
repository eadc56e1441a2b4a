package graph_test

import (
	"encoding/json"
	"testing"

	"github.com/protoloop/protoloop/graph"
	"github.com/protoloop/protoloop/server/servertest"
)

// Subscribers whose results cannot differ (the same document, variables
// and identity: the same token, roles and tester participations) get one
// encoding of an event between them; everyone else gets their own, so a
// tester never sees the names a member's payload holds, nor the reverse.
func TestSubscribersShareEventPayloadsOnlyWhenTheyCannotDiffer(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newTesterWorld(t, s)
		owner := w.loop.Owner.Token
		// The comment keeps the two backends' counts apart.
		document := "# " + t.Name() + `
		subscription($p: ID!, $after: Cursor) {
			e: prototypeEvents(prototype: $p, after: $after, kinds: [FEEDBACK_ADDED]) {
				seq kind actor { ... on Participant { id displayName email } }
			}
		}`
		counts := graph.CountPayloads(document)
		after := lastCursor(t, s, owner, w.loop.Prototype.ID)
		type subscriber struct {
			name, token string
			masked      bool // Bo's name is masked for it
			c           *liveClient
		}
		subs := []*subscriber{
			{name: "owner", token: owner},
			{name: "owner, second connection", token: owner},
			{name: "viewer", token: w.viewer.Token},
			{name: "Ada", token: w.ada.token, masked: true},
			{name: "Ada, second connection", token: w.ada.token, masked: true},
			{name: "Bo", token: w.bo.token},
			{name: "Cy", token: w.cy.token, masked: true},
		}
		const groups, sharers = 5, 2 // owner, viewer, Ada, Bo, Cy; the second connections
		for i, sub := range subs {
			sub.c = mustDialLive(t, s.URL, i%len(liveProtocols), sub.token)
			if err := sub.c.subscribe("1", document, map[string]any{"p": w.loop.Prototype.ID, "after": after}); err != nil {
				t.Fatal(err)
			}
		}
		s.LeaveFeedback(t, w.bo.token, w.loop.Iteration.ID, nil)
		for _, sub := range subs {
			m, err := sub.c.read(liveWait)
			if err != nil {
				t.Fatalf("%s: %v", sub.name, err)
			}
			var got struct {
				Data struct {
					E struct {
						Kind  string
						Actor struct {
							ID, DisplayName string
							Email           *string
						}
					}
				}
				Errors json.RawMessage
			}
			if err := json.Unmarshal(m.Payload, &got); err != nil || len(got.Errors) > 0 || got.Data.E.Kind != "FEEDBACK_ADDED" {
				t.Fatalf("%s got %s %s (%v)", sub.name, m.Type, m.Payload, err)
			}
			a := got.Data.E.Actor
			switch {
			case a.ID != w.bo.participant:
				t.Errorf("%s sees the actor %s, want Bo's participant %s", sub.name, a.ID, w.bo.participant)
			case sub.masked && (!isMasked(a.DisplayName) || a.Email != nil):
				t.Errorf("%s sees Bo as %q <%v>, want a masked label and no email", sub.name, a.DisplayName, a.Email)
			case !sub.masked && (a.DisplayName != w.bo.name || a.Email == nil || *a.Email != w.bo.email):
				t.Errorf("%s sees Bo as %q <%v>, want %q <%s>", sub.name, a.DisplayName, a.Email, w.bo.name, w.bo.email)
			}
		}
		if encoded, shared := counts(); encoded != groups || shared != sharers {
			t.Errorf("the event was encoded %d times and shared %d times, want %d and %d", encoded, shared, groups, sharers)
		}
	})
}

package graph

import (
	"context"
	"errors"
	"fmt"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/privacy"
)

// eventActor is who made an event's change: the participant when one
// acted (a guest tester, say), otherwise the user. An actor the viewer
// cannot see (a user who has left every workspace they shared) is null:
// the timeline still shows what happened.
func eventActor(ctx context.Context, e *ent.Event) (Actor, error) {
	switch {
	case e.ActorParticipantID != nil:
		p, err := e.Edges.ActorParticipantOrErr()
		if ent.IsNotLoaded(err) {
			p, err = e.QueryActorParticipant().Only(ctx)
		}
		if err != nil {
			return nil, hideInvisible("event actor", err)
		}
		return p, nil
	case e.ActorUserID != nil:
		u, err := e.Edges.ActorUserOrErr()
		if ent.IsNotLoaded(err) {
			u, err = e.QueryActorUser().Only(ctx)
		}
		if err != nil {
			return nil, hideInvisible("event actor", err)
		}
		return u, nil
	}
	return nil, nil // the server acted on its own
}

// eventSubject is the object an event is about, or null if the viewer
// cannot see it (or it is gone).
func eventSubject(ctx context.Context, c *ent.Client, e *ent.Event) (ent.Noder, error) {
	n, err := node(ctx, c, e.SubjectID)
	if err != nil {
		return nil, hideInvisible("event subject", err)
	}
	return n, nil
}

// hideInvisible turns "not found" and "not allowed to see" into no error,
// for references that are null when the viewer cannot follow them, and
// wraps anything else with what was being read.
func hideInvisible(what string, err error) error {
	var appErr *Error
	if ent.IsNotFound(err) || errors.Is(err, privacy.Deny) || (errors.As(err, &appErr) && appErr.Code == CodeNotFound) {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// eventCursor is an event's place in the stream. It is the cursor entgql
// gives the event's edge in a timeline ordered by SEQ, so a client can
// resume a subscription from the last event of a page it read.
func eventCursor(e *ent.Event) *ent.Cursor {
	return &ent.Cursor{ID: e.ID, Value: e.Seq}
}

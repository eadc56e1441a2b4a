package graph

import (
	"context"
	"errors"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/joins"
)

// eventActor is who made an event's change: the participant when one
// acted (a guest tester, say), otherwise the user. An actor the viewer
// cannot see (a user who has left every workspace they shared) is null:
// the timeline still shows what happened. The actors of a page of events
// are loaded together (see loader.go), but for the participants whose
// names the page's statement read with the events (joins.ActorNames).
func eventActor(ctx context.Context, c *ent.Client, e *ent.Event) (Actor, error) {
	ref := actorID
	if actorJoinAnswers(ctx) {
		if p := joinedActor(e); p != nil {
			return p, nil
		}
		ref = unjoinedActorID
	}
	n, err := loadEventRefs(ctx, c, e, ref)
	if err != nil || n == nil {
		return nil, hideInvisible("event actor", err)
	}
	a, ok := n.(Actor)
	if !ok {
		return nil, fmt.Errorf("event actor: %s is a %T", actorID(e), n)
	}
	return a, nil
}

// actorID is the ID of an event's actor, 0 when the server acted on its own.
func actorID(e *ent.Event) gid.ID {
	switch {
	case e.ActorParticipantID != nil:
		return *e.ActorParticipantID
	case e.ActorUserID != nil:
		return *e.ActorUserID
	}
	return 0
}

// actorJoinKey is, in the response's cache, whether an actor field's
// selection is one that joins.ActorNames answers.
type actorJoinKey struct{ field *ast.Field }

// actorJoinAnswers reports whether the actor field being resolved asks a
// participant for no more than joins.ActorNames reads, once per field and
// response: an event's row can hold the joined name that another alias
// of its actor asked for.
func actorJoinAnswers(ctx context.Context) bool {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return false
	}
	ok, _ := cached(cacheFrom(ctx), actorJoinKey{fc.Field.Field}, func() (bool, error) {
		return joins.AnswersActor(graphql.GetOperationContext(ctx), fc.Field.Selections), nil
	})
	return ok
}

// joinedActor is the participant who made e's change as the page's
// statement read it (joins.ActorNames), nil if it did not. It is built of
// what the join read, its ID and display name, which is all that the
// join lets the actor field select of it: it has no client to load
// anything else with.
func joinedActor(e *ent.Event) *ent.Participant {
	name, ok := joinedActorName(e)
	if !ok {
		return nil
	}
	return &ent.Participant{ID: *e.ActorParticipantID, DisplayName: name}
}

// joinedActorName is the name of e's participant actor that the page's
// statement read; false if it read none: the actor field selects more
// than the join answers, no page read e, or the participant is not of
// the event's prototype (NULL).
func joinedActorName(e *ent.Event) (string, bool) {
	if e.ActorParticipantID == nil {
		return "", false
	}
	return e.Joined().ActorName()
}

// unjoinedActorID is actorID for the events whose actors are left to the
// loader: 0 for those the page's statement read, so that the loader does
// not read them again.
func unjoinedActorID(e *ent.Event) gid.ID {
	if _, ok := joinedActorName(e); ok {
		return 0
	}
	return actorID(e)
}

// eventSubject is the object an event is about, or null if the viewer
// cannot see it (or it is gone). The subjects of a page of events are
// loaded together, one query per type (see loader.go).
func eventSubject(ctx context.Context, c *ent.Client, e *ent.Event) (ent.Noder, error) {
	n, err := loadEventRefs(ctx, c, e, func(e *ent.Event) gid.ID { return e.SubjectID })
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
	if err == nil || ent.IsNotFound(err) || errors.Is(err, privacy.Deny) || (errors.As(err, &appErr) && appErr.Code == CodeNotFound) {
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

package graph

import (
	"context"
	"fmt"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/participant"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/rule"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// Everything a person does on a prototype (trials, feedback, comments,
// votes) is attributed to their Participant there, never to their user,
// so that guests admitted by invites and members are handled alike.
// participantFor and findParticipant are the only places that map the
// viewer onto a participant: a guest identity, which is bound to one
// participant, slots into both as a second case beside the signed-in user.

// participantFor returns the viewer's participant on a prototype of a
// workspace, making it on their first action there.
func participantFor(ctx context.Context, client *ent.Client, workspace, prototype gid.ID) (*ent.Participant, error) {
	id := viewer.FromContext(ctx)
	if id == nil {
		return nil, rule.ErrUnauthenticated
	}
	p, err := userParticipant(ctx, client, id.UserID, prototype)
	if err != nil || p != nil {
		return p, err
	}
	user, err := client.User.Get(ctx, id.UserID)
	if err != nil {
		return nil, fmt.Errorf("load user %s: %w", id.UserID, err)
	}
	// Two first actions of one user may race here. ON CONFLICT DO NOTHING
	// lets the second wait for the first and then insert nothing, where a
	// plain INSERT would fail on the unique index and, on PostgreSQL, abort
	// the whole transaction. Nothing inserted shows as no row returned.
	_, err = client.Participant.Create().
		SetWorkspaceID(workspace).
		SetPrototypeID(prototype).
		SetUserID(id.UserID).
		SetDisplayName(user.Name).
		OnConflictColumns(participant.FieldPrototypeID, participant.FieldUserID).
		DoNothing().
		ID(ctx)
	if err != nil && !conflictSkipped(err) {
		return nil, fmt.Errorf("add participant to prototype %s: %w", prototype, err)
	}
	p, err = userParticipant(ctx, client, id.UserID, prototype)
	if err == nil && p == nil {
		err = fmt.Errorf("participant of user %s on prototype %s vanished after insert", id.UserID, prototype)
	}
	return p, err
}

// findParticipant returns the viewer's participant on a prototype, or nil
// if they have not taken part in it yet. Use it where taking part is not
// the point: a participant that does not exist has done nothing to undo.
func findParticipant(ctx context.Context, client *ent.Client, prototype gid.ID) (*ent.Participant, error) {
	id := viewer.FromContext(ctx)
	if id == nil {
		return nil, rule.ErrUnauthenticated
	}
	return userParticipant(ctx, client, id.UserID, prototype)
}

// userParticipant returns a user's participant on a prototype, or nil.
func userParticipant(ctx context.Context, client *ent.Client, user, prototype gid.ID) (*ent.Participant, error) {
	p, err := client.Participant.Query().
		Where(participant.PrototypeID(prototype), participant.UserID(user)).
		Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("load participant of user %s on prototype %s: %w", user, prototype, err)
	}
	return p, nil
}

// participantName is the name shown for a participant.
func participantName(_ context.Context, p *ent.Participant) string { return p.DisplayName }

// participantEmail is the contact address shown for a participant.
func participantEmail(_ context.Context, p *ent.Participant) *string { return p.Email }

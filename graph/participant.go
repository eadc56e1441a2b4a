package graph

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/membership"
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
// workspace, making it on a member's first action there. A tester acts as
// the participant its invite made; a member, even one who also tests, as
// their user's participant, which is the same row if they redeemed an
// invite (one participant per user and prototype).
func participantFor(ctx context.Context, client *ent.Client, workspace, prototype gid.ID) (*ent.Participant, error) {
	id := viewer.FromContext(ctx)
	if id == nil {
		return nil, rule.ErrUnauthenticated
	}
	if !actsAsUser(id, workspace) {
		return testerParticipant(ctx, client, id, prototype)
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

// actsAsUser reports whether the caller acts on the workspace's
// prototypes as its user's own participant there (a member), rather than
// as an invite's (a tester or a guest).
func actsAsUser(id *viewer.Identity, workspace gid.ID) bool {
	_, member := id.RoleIn(workspace)
	return member
}

// testerParticipant returns the participant a caller who is not a member
// acts as on a prototype it tests. Testers take part only through an
// invite, so one that has none there cannot act on the prototype: it is
// NOT_FOUND, as it is for anyone who cannot see it.
func testerParticipant(ctx context.Context, client *ent.Client, id *viewer.Identity, prototype gid.ID) (*ent.Participant, error) {
	t, ok := id.TesterOf(prototype)
	if !ok {
		return nil, notFound("prototype")
	}
	p, err := client.Participant.Get(ctx, t.Participant)
	if err != nil {
		// The participation is in the identity, so its participant exists
		// unless it was removed since the token was resolved.
		return nil, fmt.Errorf("load participant %s of tester: %w", t.Participant, err)
	}
	return p, nil
}

// findParticipant returns the viewer's participant on a prototype, or nil
// if they have not taken part in it yet. Use it where taking part is not
// the point: a participant that does not exist has done nothing to undo.
func findParticipant(ctx context.Context, client *ent.Client, prototype gid.ID) (*ent.Participant, error) {
	id := viewer.FromContext(ctx)
	if id == nil {
		return nil, rule.ErrUnauthenticated
	}
	if t, ok := id.TesterOf(prototype); ok {
		// The same row as the user's participant for a member who tests.
		p, err := client.Participant.Get(ctx, t.Participant)
		if err != nil {
			return nil, fmt.Errorf("load participant %s of tester: %w", t.Participant, err)
		}
		return p, nil
	}
	if id.IsGuest() {
		return nil, nil // a guest takes part only where its invite admits it
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

// Testers are not told who the other testers are unless the prototype's
// feedback is open: people who give honest feedback on a rough thing
// should not have to do it in front of strangers. Members of the
// workspace see everyone. A tester sees its own name and email, the names
// of the team (participants whose user is a member of the workspace), and
// for any other participant a label that is stable, so that it can tell
// who said what, but tells nothing about the person.
//
// Field collection loads only the columns an operation names, so a
// participant here usually lacks its prototype_id and user_id. What a
// tester needs to know of the participants of its prototype (which are
// there, which are the team's) is read once per request instead, one
// statement per prototype however many names are shown, and kept in the
// identity (see viewer.Identity.Remember).

// maskedPrefix starts the name shown to a tester for another tester.
const maskedPrefix = "Tester "

// Facts about a tested prototype's participants are kept this long for a
// websocket connection, whose identity outlives a request; one that is
// missing from them is looked for again if they are older than
// factsRecheck, so that a tester who just joined is never taken for
// someone the viewer sees as a member.
const (
	factsMaxAge  = 30 * time.Second
	factsRecheck = time.Second
)

// factsKey keys a prototype's participantFacts in an identity.
type factsKey struct{ prototype gid.ID }

// participantFacts are who takes part in a prototype, and who of them is
// on the team.
type participantFacts struct {
	on   map[gid.ID]bool
	team map[gid.ID]bool
}

// factsOf returns the participant facts of the prototype a tester tests,
// read at most once per maxAge for the identity.
func factsOf(ctx context.Context, client *ent.Client, id *viewer.Identity, t viewer.Tester, maxAge time.Duration) (*participantFacts, error) {
	v, err := id.Remember(factsKey{t.Prototype}, maxAge, func() (any, error) {
		// One statement: the participants the tester may read, each with
		// whether its user is a member of the workspace. The tester may
		// not read the workspace's members, only whether these are, which
		// it learns from names it is shown anyway; so the membership test
		// is a subquery the privacy rules do not filter.
		var rows []struct {
			ID   gid.ID `json:"id"`
			Team bool   `json:"team"`
		}
		err := client.Participant.Query().
			Where(participant.PrototypeID(t.Prototype)).
			Modify(func(s *sql.Selector) {
				m := sql.Table(membership.Table)
				team := sql.Exists(sql.Select(m.C(membership.FieldID)).From(m).Where(sql.And(
					sql.EQ(m.C(membership.FieldWorkspaceID), t.Workspace),
					sql.ColumnsEQ(m.C(membership.FieldUserID), s.C(participant.FieldUserID)),
				)))
				s.Select(s.C(participant.FieldID))
				s.AppendSelectExprAs(team, "team")
			}).
			// Not cancelled with the caller: subscriptions of one token
			// share its identity, and callers that arrive while this
			// loads get its result; one client leaving must not hand the
			// others "context canceled". The statement timeout bounds it.
			Scan(context.WithoutCancel(ctx), &rows)
		if err != nil {
			return nil, fmt.Errorf("load participants of prototype %s: %w", t.Prototype, err)
		}
		f := &participantFacts{on: make(map[gid.ID]bool, len(rows)), team: map[gid.ID]bool{}}
		for _, r := range rows {
			f.on[r.ID] = true
			if r.Team {
				f.team[r.ID] = true
			}
		}
		return f, nil
	})
	if err != nil {
		return nil, err
	}
	f, ok := v.(*participantFacts)
	if !ok {
		return nil, fmt.Errorf("participant facts of prototype %s: got a %T", t.Prototype, v)
	}
	return f, nil
}

// clientFunc returns the client to read with in ctx. canSeeIdentity takes
// one rather than a client because only a viewer who tests a prototype
// needs it, and finding a mutation's transaction in the context walks
// every field context up to the root (two dozen at a feedback's author),
// never finding one in a query: a cost per displayName on every page.
type clientFunc func(context.Context) *ent.Client

// canSeeIdentity reports whether the viewer may see who a participant is.
// email says whether it is about the email, which open feedback does not
// open: a tester sees only its own, and the team's stay with the team.
func canSeeIdentity(ctx context.Context, clientOf clientFunc, p *ent.Participant, email bool) (bool, error) {
	if redeemedIn(ctx) {
		return true, nil
	}
	id := viewer.FromContext(ctx)
	if id == nil {
		return false, nil
	}
	if _, own := id.TesterAs(p.ID); own {
		return true, nil
	}
	var client *ent.Client
	for _, t := range id.Testing() {
		if _, member := id.RoleIn(t.Workspace); member {
			continue // a member who also tests sees as a member
		}
		if client == nil {
			client = clientOf(ctx)
		}
		f, err := factsOf(ctx, client, id, t, factsMaxAge)
		if err == nil && !f.on[p.ID] {
			f, err = factsOf(ctx, client, id, t, factsRecheck)
		}
		switch {
		case err != nil:
			return false, err
		case !f.on[p.ID]:
			continue
		case email:
			return false, nil
		}
		return t.OpenFeedback || f.team[p.ID], nil
	}
	// Not on a prototype the viewer only tests, so the viewer read it as
	// a member of its workspace. A caller who is no member anywhere
	// cannot get here with a participant it was allowed to read.
	return id.IsMember(), nil
}

// redeemedIn reports whether the field being resolved is one of
// redeemInvite's participant: the participant the caller has just become.
// gqlgen resolves it with the request's context, in which a new guest is
// still anonymous (or another guest), so the identity cannot say it is
// the caller's own; the payload's shape does. Anything else in the payload
// (the prototype's participants, say) is masked as usual.
func redeemedIn(ctx context.Context) bool {
	fc := graphql.GetFieldContext(ctx)
	for fc != nil && fc.Object == "Participant" {
		fc = fc.Parent
	}
	if fc == nil || fc.Object != "RedeemInvitePayload" || fc.Field.Name != "participant" {
		return false
	}
	fc = fc.Parent
	return fc != nil && fc.Object == "Mutation" && fc.Field.Name == "redeemInvite"
}

// maskedName is what a tester sees for another tester: "Tester " and four
// characters of base32(SHA-256(participant ID)). The ID is no secret (the
// API shows it); the label is just shorter, and the same on every read.
func maskedName(p *ent.Participant) string {
	sum := sha256.Sum256([]byte(p.ID.String()))
	return maskedPrefix + base32.StdEncoding.EncodeToString(sum[:])[:4]
}

// participantName is the name shown for a participant: its own, or, to a
// tester who may not know who it is, a stable label.
func participantName(ctx context.Context, clientOf clientFunc, p *ent.Participant) (string, error) {
	ok, err := canSeeIdentity(ctx, clientOf, p, false)
	switch {
	case err != nil:
		return "", err
	case ok:
		return p.DisplayName, nil
	}
	return maskedName(p), nil
}

// participantEmail is the contact address shown for a participant: to
// members, and to the tester who gave it.
func participantEmail(ctx context.Context, clientOf clientFunc, p *ent.Participant) (*string, error) {
	ok, err := canSeeIdentity(ctx, clientOf, p, true)
	if err != nil || !ok {
		return nil, err
	}
	return p.Email, nil
}

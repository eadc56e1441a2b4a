package graph

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/authtoken"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/invite"
	"github.com/protoloop/protoloop/ent/participant"
	"github.com/protoloop/protoloop/ent/predicate"
	"github.com/protoloop/protoloop/ent/prototype"
	"github.com/protoloop/protoloop/ent/schema"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// An invite's token is a secret link: whoever has it may join a prototype
// as a tester, as a guest or on their account. Like bearer tokens, it is
// stored only as a hash and shown once, when the invite is made.
const (
	invitePrefix    = "pli_" // tells an invite link's token from a bearer token at a glance
	guestTokenLabel = "guest"
	maxDisplayName  = 200
)

// createInvite makes an invite link for testers of a prototype; the
// invite policy admits the workspace's owners and makers.
func createInvite(ctx context.Context, client *ent.Client, input CreateInviteInput) (*CreateInvitePayload, error) {
	me, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	if at := input.ExpiresAt; at != nil && !at.After(time.Now()) {
		return nil, badInput("expiresAt", "expiresAt must be in the future")
	}
	if n := input.MaxUses; n != nil && *n < 1 {
		return nil, badInput("maxUses", "maxUses must be at least 1, not %d", *n)
	}
	p, err := client.Prototype.Get(ctx, input.PrototypeID)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("prototype")
	case err != nil:
		return nil, fmt.Errorf("create invite: load prototype %s: %w", input.PrototypeID, err)
	}
	token, err := newSecret(invitePrefix)
	if err != nil {
		return nil, fmt.Errorf("create invite: %w", err)
	}
	inv, err := client.Invite.Create().
		SetWorkspaceID(p.WorkspaceID).
		SetPrototypeID(p.ID).
		SetCreatedByID(me.UserID).
		SetTokenHash(HashToken(token)).
		SetNillableExpiresAt(input.ExpiresAt).
		SetNillableMaxUses(input.MaxUses).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("create invite for prototype %s: %w", p.ID, err)
	}
	payload := map[string]any{}
	if inv.ExpiresAt != nil {
		payload["expiresAt"] = inv.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if inv.MaxUses != nil {
		payload["maxUses"] = *inv.MaxUses
	}
	record(ctx, change{kind: event.KindINVITE_CREATED, workspace: inv.WorkspaceID, prototype: inv.PrototypeID,
		subject: inv.ID, payload: payload})
	inv, err = loadChild(ctx, client.Invite.Query().Where(invite.ID(inv.ID)), "invite",
		createInvitePayloadImplementors, inviteImplementors)
	if err != nil {
		return nil, fmt.Errorf("create invite: read back: %w", err)
	}
	return &CreateInvitePayload{Invite: inv, Token: token}, nil
}

// revokeInvite stops an invite from admitting anyone else; the guests it
// admitted keep their access. Revoking a revoked invite changes nothing.
func revokeInvite(ctx context.Context, client *ent.Client, dialectName string, id gid.ID) (*ent.Invite, error) {
	// Locked, so that two revocations at once record one event.
	inv, err := locked(client.Invite.Query().Where(invite.ID(id)), dialectName).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("invite")
	case err != nil:
		return nil, fmt.Errorf("load invite %s: %w", id, err)
	}
	if inv.RevokedAt == nil {
		if err := client.Invite.UpdateOne(inv).SetRevokedAt(time.Now()).Exec(ctx); err != nil {
			return nil, fmt.Errorf("revoke invite %s: %w", id, err)
		}
		record(ctx, change{kind: event.KindINVITE_REVOKED, workspace: inv.WorkspaceID, prototype: inv.PrototypeID,
			subject: inv.ID})
	}
	return reload[*ent.Invite](ctx, client, inv.ID)
}

// redeemInvite admits the caller as a tester of the invite's prototype: a
// caller without an account (or a guest, redeeming another link) becomes a
// new guest with a bearer token of their own; a signed-in user becomes a
// tester on their account.
//
// The invite and the rows it creates are the server's to read and write:
// the caller is not a member of the workspace, and may not be anyone yet.
func redeemInvite(ctx context.Context, client *ent.Client, input RedeemInviteInput) (*RedeemInvitePayload, error) {
	name, email, err := checkRedeem(input)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	inv, err := client.Invite.Query().Where(invite.TokenHash(HashToken(input.Token))).Only(system(ctx))
	switch {
	case ent.IsNotFound(err):
		return nil, badInput("token", "this invite link is not valid")
	case err != nil:
		return nil, fmt.Errorf("redeem invite: %w", err)
	}
	if err := checkInvite(inv, now); err != nil {
		return nil, err
	}
	if me := viewer.FromContext(ctx); me != nil && !me.IsGuest() {
		return joinAsUser(ctx, client, me, inv, name, email, now)
	}
	return joinAsGuest(ctx, client, inv, name, email, now)
}

// checkRedeem checks the name and the email a tester gives, and returns
// them as they are stored.
func checkRedeem(input RedeemInviteInput) (name string, email *string, err error) {
	name = strings.TrimSpace(input.DisplayName)
	if name == "" || utf8.RuneCountInString(name) > maxDisplayName {
		return "", nil, badInput("displayName", "displayName must be 1 to %d characters", maxDisplayName)
	}
	if input.Email == nil {
		return name, nil, nil
	}
	// An empty field in a form means no address, not a wrong one.
	e := schema.NormalizeEmail(*input.Email)
	if e == "" {
		return name, nil, nil
	}
	if err := participant.EmailValidator(e); err != nil {
		return "", nil, badInput("email", "email: %v", err)
	}
	return name, &e, nil
}

// checkInvite says why an invite admits nobody, or returns nil if it does.
func checkInvite(inv *ent.Invite, now time.Time) error {
	switch {
	case inv.RevokedAt != nil:
		return badInput("token", "this invite link has been revoked")
	case inv.ExpiresAt != nil && !inv.ExpiresAt.After(now):
		return badInput("token", "this invite link has expired")
	case inv.MaxUses != nil && inv.Uses >= *inv.MaxUses:
		return badInput("token", "this invite link has been used up")
	}
	return nil
}

// redeemable matches invites that still admit testers.
func redeemable(now time.Time) predicate.Invite {
	return invite.And(
		invite.RevokedAtIsNil(),
		invite.Or(invite.ExpiresAtIsNil(), invite.ExpiresAtGT(now)),
		invite.Or(invite.MaxUsesIsNil(), func(s *sql.Selector) {
			s.Where(sql.ColumnsLT(s.C(invite.FieldUses), s.C(invite.FieldMaxUses)))
		}),
	)
}

// countUse counts one use of an invite, or says why it admits nobody. The
// check and the count are one conditional UPDATE, so that concurrent
// redemptions cannot use a link more often than maxUses: on PostgreSQL
// the later ones wait for the row and see its new count; SQLite runs
// writers one at a time.
func countUse(ctx context.Context, client *ent.Client, inv *ent.Invite, now time.Time) error {
	n, err := client.Invite.Update().
		Where(invite.ID(inv.ID), redeemable(now)).
		AddUses(1).
		Save(ctx)
	if err != nil {
		return fmt.Errorf("count use of invite %s: %w", inv.ID, err)
	}
	if n == 1 {
		return nil
	}
	// Someone else used it up, revoked it or it expired since it was read.
	fresh, err := client.Invite.Get(ctx, inv.ID)
	if err != nil {
		return fmt.Errorf("count use of invite %s: %w", inv.ID, err)
	}
	if err := checkInvite(fresh, now); err != nil {
		return err
	}
	return badInput("token", "this invite link has been used up")
}

// joinAsGuest admits a new guest through an invite: a participant without
// an account and a bearer token that acts as it. The token expires with
// the invite, or after the usual lifetime if the invite never does.
func joinAsGuest(ctx context.Context, client *ent.Client, inv *ent.Invite, name string, email *string, now time.Time) (*RedeemInvitePayload, error) {
	sys := system(ctx)
	if err := countUse(sys, client, inv, now); err != nil {
		return nil, err
	}
	p, err := client.Participant.Create().
		SetWorkspaceID(inv.WorkspaceID).
		SetPrototypeID(inv.PrototypeID).
		SetInviteID(inv.ID).
		SetDisplayName(name).
		SetNillableEmail(email).
		Save(sys)
	if err != nil {
		return nil, fmt.Errorf("redeem invite %s: add guest: %w", inv.ID, err)
	}
	token, err := newSecret(tokenPrefix)
	if err != nil {
		return nil, fmt.Errorf("redeem invite %s: %w", inv.ID, err)
	}
	expires := now.Add(tokenLifetime)
	if inv.ExpiresAt != nil {
		expires = *inv.ExpiresAt
	}
	tok, err := client.AuthToken.Create().
		SetParticipantID(p.ID).
		SetTokenHash(HashToken(token)).
		SetExpiresAt(expires).
		SetLabel(guestTokenLabel).
		Save(sys)
	if err != nil {
		return nil, fmt.Errorf("redeem invite %s: issue guest token: %w", inv.ID, err)
	}
	t, err := testerOf(sys, client, p.ID)
	if err != nil {
		return nil, fmt.Errorf("redeem invite %s: %w", inv.ID, err)
	}
	record(ctx, change{kind: event.KindTESTER_JOINED, workspace: p.WorkspaceID, prototype: p.PrototypeID,
		subject: p.ID, participant: p.ID, payload: map[string]any{"invite": inv.ID.String()}})
	// The payload is read as the new guest, who may see what it shows.
	return redeemPayload(viewer.NewContext(ctx, viewer.NewGuest(tok.ID, t)), client, &token, p.ID, p.PrototypeID)
}

// joinAsUser makes a signed-in user a tester through an invite, on their
// own participant in the prototype: the one they have, if they took part
// already, or a new one. A user who is a tester there already is not
// counted as another use of the link.
func joinAsUser(ctx context.Context, client *ent.Client, me *viewer.Identity, inv *ent.Invite, name string, email *string, now time.Time) (*RedeemInvitePayload, error) {
	sys := system(ctx)
	p, err := userParticipant(sys, client, me.UserID, inv.PrototypeID)
	if err != nil {
		return nil, fmt.Errorf("redeem invite %s: %w", inv.ID, err)
	}
	if p == nil || p.InviteID == nil {
		if err := countUse(sys, client, inv, now); err != nil {
			return nil, err
		}
		if p, err = attachInvite(sys, client, me.UserID, inv, name, email); err != nil {
			return nil, fmt.Errorf("redeem invite %s: %w", inv.ID, err)
		}
		record(ctx, change{kind: event.KindTESTER_JOINED, workspace: p.WorkspaceID, prototype: p.PrototypeID,
			subject: p.ID, participant: p.ID, payload: map[string]any{"invite": inv.ID.String()}})
	}
	t, err := testerOf(sys, client, p.ID)
	if err != nil {
		return nil, fmt.Errorf("redeem invite %s: %w", inv.ID, err)
	}
	// The rest of the request, the payload included, reads as a tester.
	me.AddTester(t)
	return redeemPayload(ctx, client, nil, p.ID, p.PrototypeID)
}

// attachInvite gives a user a participant in the invite's prototype that
// came through the invite, and returns it: a new one, or the one they had
// with the invite recorded on it. One upsert does both, so that two
// redemptions racing cannot make two participants.
//
// invite_id is immutable in the schema, so ent's update builders cannot
// set it; the upsert's conflict clause sets it, once: a participant that
// came through an invite keeps the invite it came through.
func attachInvite(ctx context.Context, client *ent.Client, user gid.ID, inv *ent.Invite, name string, email *string) (*ent.Participant, error) {
	err := client.Participant.Create().
		SetWorkspaceID(inv.WorkspaceID).
		SetPrototypeID(inv.PrototypeID).
		SetUserID(user).
		SetInviteID(inv.ID).
		SetDisplayName(name).
		SetNillableEmail(email).
		OnConflict(
			sql.ConflictColumns(participant.FieldPrototypeID, participant.FieldUserID),
			sql.ResolveWith(func(u *sql.UpdateSet) {
				u.Set(participant.FieldInviteID, sql.ExprFunc(func(b *sql.Builder) {
					b.WriteString("COALESCE(").
						Ident(participant.Table).WriteByte('.').Ident(participant.FieldInviteID).
						WriteString(", ").
						Ident("excluded").WriteByte('.').Ident(participant.FieldInviteID).
						WriteByte(')')
				}))
			}),
		).
		Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("add tester: %w", err)
	}
	p, err := userParticipant(ctx, client, user, inv.PrototypeID)
	if err == nil && p == nil {
		err = fmt.Errorf("participant of user %s on prototype %s vanished after insert", user, inv.PrototypeID)
	}
	return p, err
}

// testerOf returns the tester participation a participant stands for.
func testerOf(ctx context.Context, client *ent.Client, participantID gid.ID) (viewer.Tester, error) {
	ts, err := testersWhere(ctx, client, participant.ID(participantID))
	switch {
	case err != nil:
		return viewer.Tester{}, err
	case len(ts) != 1:
		return viewer.Tester{}, fmt.Errorf("participant %s not found", participantID)
	}
	return ts[0], nil
}

// redeemPayload reads what redeemInvite returns, with what the operation
// selects of it eager-loaded as the identity in ctx. A guest's identity
// exists only from this request on, and gqlgen resolves the payload's
// fields with the request's context, so anything not loaded here would be
// read as nobody. Fields with resolvers of their own still see the
// request's identity: Participant's name and email know the payload's
// participant as the caller's own (see redeemedIn).
func redeemPayload(ctx context.Context, client *ent.Client, token *string, participantID, prototypeID gid.ID) (*RedeemInvitePayload, error) {
	p, err := loadChild(ctx, client.Participant.Query().Where(participant.ID(participantID)), "participant",
		redeemInvitePayloadImplementors, participantImplementors)
	if err != nil {
		return nil, fmt.Errorf("redeem invite: read participant: %w", err)
	}
	proto, err := loadChild(ctx, client.Prototype.Query().Where(prototype.ID(prototypeID)), "prototype",
		redeemInvitePayloadImplementors, prototypeImplementors)
	if err != nil {
		return nil, fmt.Errorf("redeem invite: read prototype: %w", err)
	}
	return &RedeemInvitePayload{Token: token, Participant: p, Prototype: proto}, nil
}

// claimGuest links a guest's participation to the caller's account: the
// participant, and with it everything the guest did, becomes the user's,
// and the guest's token stops working. A user who takes part in the
// prototype already cannot also take the guest's part: two participants
// of one user on one prototype are what the schema rules out.
func claimGuest(ctx context.Context, client *ent.Client, dialectName, guestToken string) (*ent.Participant, error) {
	me, err := withAccount(ctx)
	if err != nil {
		return nil, err
	}
	sys := system(ctx)
	now := time.Now()
	tok, err := client.AuthToken.Query().
		Where(
			authtoken.TokenHash(HashToken(guestToken)),
			usable(now),
			authtoken.UserIDIsNil(),
			authtoken.ParticipantIDNotNil(),
		).
		Only(sys)
	switch {
	case ent.IsNotFound(err):
		return nil, badInput("guestToken", "this is not a valid guest token")
	case err != nil:
		return nil, fmt.Errorf("claim guest: %w", err)
	}
	// Locked, so that two claims of one guest cannot both succeed.
	guest, err := locked(client.Participant.Query().Where(participant.ID(*tok.ParticipantID)), dialectName).Only(sys)
	switch {
	case err != nil:
		return nil, fmt.Errorf("claim guest: load participant %s: %w", *tok.ParticipantID, err)
	case guest.UserID != nil:
		return nil, badInput("guestToken", "this is not a valid guest token")
	}
	mine, err := userParticipant(sys, client, me.UserID, guest.PrototypeID)
	switch {
	case err != nil:
		return nil, fmt.Errorf("claim guest: %w", err)
	case mine != nil:
		return nil, conflict("you take part in this prototype already: a guest's participation cannot be merged into yours")
	}
	err = client.Participant.UpdateOne(guest).SetUserID(me.UserID).Exec(sys)
	switch {
	case ent.IsConstraintError(err):
		return nil, conflict("you take part in this prototype already: a guest's participation cannot be merged into yours")
	case err != nil:
		return nil, fmt.Errorf("claim guest %s: %w", guest.ID, err)
	}
	err = client.AuthToken.Update().
		Where(authtoken.ParticipantID(guest.ID), authtoken.UserIDIsNil(), authtoken.RevokedAtIsNil()).
		SetRevokedAt(now).
		Exec(sys)
	if err != nil {
		return nil, fmt.Errorf("claim guest %s: revoke guest tokens: %w", guest.ID, err)
	}
	t, err := testerOf(sys, client, guest.ID)
	if err != nil {
		return nil, fmt.Errorf("claim guest %s: %w", guest.ID, err)
	}
	me.AddTester(t)
	payload := map[string]any{"claimedGuest": true}
	if guest.InviteID != nil {
		payload["invite"] = guest.InviteID.String()
	}
	record(ctx, change{kind: event.KindTESTER_JOINED, workspace: guest.WorkspaceID, prototype: guest.PrototypeID,
		subject: guest.ID, participant: guest.ID, payload: payload})
	return reload[*ent.Participant](ctx, client, guest.ID)
}

// loadChild reads the one object q finds, with what the operation selects
// under the field name of the current field's payload eager-loaded (for
// each alias of it): for mutations that return a payload type rather
// than the object itself. payload and object list the types the payload
// and the object satisfy.
func loadChild[T any, Q interface {
	CollectFields(context.Context, ...string) (Q, error)
	Only(context.Context) (T, error)
}](ctx context.Context, q Q, name string, payload, object []string) (T, error) {
	q, err := collectEach(q, childFields(ctx, name, payload...), object...)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("collect fields of %s: %w", name, err)
	}
	return q.Only(ctx)
}

// collectEach has q eager-load what the operation selects in each of
// fields (one per alias of a field) for objects that satisfy
// implementors.
func collectEach[Q interface {
	CollectFields(context.Context, ...string) (Q, error)
}](q Q, fields []context.Context, implementors ...string) (Q, error) {
	for _, field := range fields {
		var err error
		if q, err = q.CollectFields(field, implementors...); err != nil {
			return q, err
		}
	}
	return q, nil
}

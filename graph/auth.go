package graph

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect/sql"
	"golang.org/x/crypto/argon2"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/authtoken"
	"github.com/protoloop/protoloop/ent/membership"
	"github.com/protoloop/protoloop/ent/participant"
	"github.com/protoloop/protoloop/ent/predicate"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/prototype"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/rule"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// ErrInvalidToken is returned for a bearer token that is unknown, expired
// or revoked, and for a guest's token whose participation was claimed.
var ErrInvalidToken = errors.New("invalid or expired token")

const (
	tokenPrefix   = "plt_" // makes leaked tokens easy to recognise and scan for
	tokenBytes    = 32
	tokenLifetime = 30 * 24 * time.Hour
)

// system returns ctx with privacy checks lifted, for the few reads and
// writes the server makes on its own behalf: resolving a token, creating
// an account. Keep its uses few and obvious.
func system(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// withAccount returns the identity of a caller signed in to an account,
// for what only an account can do (start a workspace, claim a guest's
// participation). Guests are told to sign in: their token lets them test
// one prototype, nothing more.
func withAccount(ctx context.Context) (*viewer.Identity, error) {
	id := viewer.FromContext(ctx)
	switch {
	case id == nil:
		return nil, rule.ErrUnauthenticated
	case id.IsGuest():
		return nil, &Error{Code: CodeUnauthenticated, Message: "sign in to an account to do this: a guest can only test"}
	}
	return id, nil
}

// HashToken is how a bearer token is stored and looked up.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// newSecret returns a fresh random secret: prefix, then 32 random bytes in
// URL-safe base64, so that it fits in a link as it is.
func newSecret(prefix string) (string, error) {
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("new secret: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(raw), nil
}

// issueToken creates a bearer token for a user and returns it; only its
// hash is stored.
func issueToken(ctx context.Context, client *ent.Client, user gid.ID) (string, error) {
	token, err := newSecret(tokenPrefix)
	if err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	err = client.AuthToken.Create().
		SetUserID(user).
		SetTokenHash(HashToken(token)).
		SetExpiresAt(time.Now().Add(tokenLifetime)).
		Exec(system(ctx))
	if err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	return token, nil
}

// Authenticate resolves a bearer token into an identity: for a user's
// token, the user with their role in each of their workspaces and the
// prototypes they were invited to test; for a guest's token, the guest's
// one tester participation. It costs three statements for a user and two
// for a guest, however many workspaces and invites there are.
func Authenticate(ctx context.Context, client *ent.Client, token string) (*viewer.Identity, error) {
	if !strings.HasPrefix(token, tokenPrefix) {
		return nil, ErrInvalidToken
	}
	ctx = system(ctx)
	tok, err := client.AuthToken.Query().
		Where(
			authtoken.TokenHash(HashToken(token)),
			authtoken.RevokedAtIsNil(),
			authtoken.Or(authtoken.ExpiresAtIsNil(), authtoken.ExpiresAtGT(time.Now())),
		).
		Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, ErrInvalidToken
	case err != nil:
		return nil, fmt.Errorf("look up token: %w", err)
	case tok.UserID != nil:
		return userIdentity(ctx, client, *tok.UserID, tok.ID)
	case tok.ParticipantID != nil:
		return guestIdentity(ctx, client, *tok.ParticipantID, tok.ID)
	}
	return nil, ErrInvalidToken // a token of nobody: not one the server issues
}

// userIdentity is the identity of a signed-in user.
func userIdentity(ctx context.Context, client *ent.Client, userID, tokenID gid.ID) (*viewer.Identity, error) {
	members, err := client.Membership.Query().
		Where(membership.UserID(userID)).
		Select(membership.FieldWorkspaceID, membership.FieldRole).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load memberships: %w", err)
	}
	roles := make(map[gid.ID]viewer.Role, len(members))
	for _, m := range members {
		roles[m.WorkspaceID] = m.Role
	}
	// A participant of the user's that came through an invite makes them a
	// tester there; one they got by taking part as a member does not.
	testers, err := testersWhere(ctx, client, participant.UserID(userID), participant.InviteIDNotNil())
	if err != nil {
		return nil, err
	}
	id := viewer.NewIdentity(userID, tokenID, roles)
	for _, t := range testers {
		id.AddTester(t)
	}
	return id, nil
}

// guestIdentity is the identity of a guest, bound to one participant. A
// participant that has been claimed by an account is no longer a guest's.
func guestIdentity(ctx context.Context, client *ent.Client, participantID, tokenID gid.ID) (*viewer.Identity, error) {
	testers, err := testersWhere(ctx, client, participant.ID(participantID), participant.UserIDIsNil())
	if err != nil {
		return nil, err
	}
	if len(testers) != 1 {
		return nil, ErrInvalidToken
	}
	return viewer.NewGuest(tokenID, testers[0]), nil
}

// testersWhere returns the tester participations of the participants that
// match ps, with whether their prototypes have open feedback, in one
// query: it joins the prototypes rather than loading them after.
func testersWhere(ctx context.Context, client *ent.Client, ps ...predicate.Participant) ([]viewer.Tester, error) {
	var rows []struct {
		ID           gid.ID `json:"id"`
		WorkspaceID  gid.ID `json:"workspace_id"`
		PrototypeID  gid.ID `json:"prototype_id"`
		OpenFeedback bool   `json:"open_feedback"`
	}
	err := client.Participant.Query().
		Where(ps...).
		Modify(func(s *sql.Selector) {
			p := sql.Table(prototype.Table)
			s.Join(p).On(s.C(participant.FieldPrototypeID), p.C(prototype.FieldID))
			s.Select(
				s.C(participant.FieldID),
				s.C(participant.FieldWorkspaceID),
				s.C(participant.FieldPrototypeID),
				p.C(prototype.FieldOpenFeedback),
			)
		}).
		Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("load tester participations: %w", err)
	}
	testers := make([]viewer.Tester, len(rows))
	for i, r := range rows {
		testers[i] = viewer.Tester{
			Prototype:    r.PrototypeID,
			Workspace:    r.WorkspaceID,
			Participant:  r.ID,
			OpenFeedback: r.OpenFeedback,
		}
	}
	return testers, nil
}

// Passwords are hashed with argon2id at the parameters OWASP recommends
// for it (19 MiB, two passes), in the PHC string format.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16

	minPassword = 10
	maxPassword = 1024 // bounds the work one request can ask of the KDF
)

func hashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// checkPassword reports whether password matches an encoded hash, in time
// that does not depend on where they differ.
func checkPassword(encoded, password string) bool {
	var (
		version, memory, iterations int
		threads                     uint8
	)
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &iterations, &threads); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, uint32(iterations), uint32(memory), threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when no account has the email given to
// logIn, so that a wrong email takes as long as a wrong password.
// It is computed on first use, not at start-up.
var dummyHash = sync.OnceValue(func() string {
	h, err := hashPassword("not a password anyone has")
	if err != nil {
		panic(err)
	}
	return h
})

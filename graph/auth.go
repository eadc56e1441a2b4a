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

	"golang.org/x/crypto/argon2"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/authtoken"
	"github.com/protoloop/protoloop/ent/membership"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// ErrInvalidToken is returned for a bearer token that is unknown, expired
// or revoked.
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

// HashToken is how a bearer token is stored and looked up.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// issueToken creates a bearer token for a user and returns it; only its
// hash is stored.
func issueToken(ctx context.Context, client *ent.Client, user gid.ID) (string, error) {
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	err := client.AuthToken.Create().
		SetUserID(user).
		SetTokenHash(HashToken(token)).
		SetExpiresAt(time.Now().Add(tokenLifetime)).
		Exec(system(ctx))
	if err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	return token, nil
}

// Authenticate resolves a bearer token into the identity of its user, with
// the user's role in each of their workspaces.
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
			authtoken.UserIDNotNil(),
		).
		Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, ErrInvalidToken
	case err != nil:
		return nil, fmt.Errorf("look up token: %w", err)
	}
	members, err := client.Membership.Query().
		Where(membership.UserID(*tok.UserID)).
		Select(membership.FieldWorkspaceID, membership.FieldRole).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load memberships: %w", err)
	}
	roles := make(map[gid.ID]viewer.Role, len(members))
	for _, m := range members {
		roles[m.WorkspaceID] = m.Role
	}
	return viewer.NewIdentity(*tok.UserID, tok.ID, roles), nil
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

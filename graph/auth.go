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

	"entgo.io/ent/dialect"
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
// one tester participation. It costs one statement (see loadIdentity),
// however many workspaces and invites there are.
func Authenticate(ctx context.Context, client *ent.Client, token string) (*viewer.Identity, error) {
	if !strings.HasPrefix(token, tokenPrefix) {
		return nil, ErrInvalidToken
	}
	id, _, err := loadIdentity(ctx, client, authtoken.TokenHash(HashToken(token)), tokenWorks())
	return id, err
}

// identityRow is a row of loadIdentity's statement. Kind says what it is:
//
//	"t": the token: A its id, B its user, C its guest participant, Exp
//	     when it expires
//	"m": a membership of the token's user: A the workspace, Role the role
//	"p": a tester participation of the token's user or guest: A the
//	     participant, B its workspace, C its prototype, Open whether the
//	     prototype has open feedback
type identityRow struct {
	Kind string     `json:"kind"`
	A    *gid.ID    `json:"a"`
	B    *gid.ID    `json:"b"`
	C    *gid.ID    `json:"c"`
	Role *string    `json:"role"`
	Open *bool      `json:"open"`
	Exp  *time.Time `json:"exp"`
}

// loadIdentity builds the identity the one token matching tokenIs gives,
// with when the token expires (zero for never), or ErrInvalidToken if
// none does. Every request starts with it, so it is
// a single statement: the token, its user's memberships and its tester
// participations (a user's that came through an invite, or the guest's own
// participant, unless an account claimed it) are four branches of one
// UNION ALL, each an indexed lookup behind the token's unique hash.
func loadIdentity(ctx context.Context, client *ent.Client, tokenIs ...predicate.AuthToken) (*viewer.Identity, time.Time, error) {
	var rows []identityRow
	err := client.AuthToken.Query().
		Where(tokenIs...).
		Modify(func(s *sql.Selector) {
			const (
				noID   = "CAST(NULL AS BIGINT)"
				noText = "CAST(NULL AS VARCHAR(16))"
				noBool = "CAST(NULL AS BOOLEAN)"
			)
			d := s.Dialect()
			noTime := "CAST(NULL AS TIMESTAMP WITH TIME ZONE)"
			if d == dialect.SQLite {
				noTime = "NULL" // SQLite has no such type; the column takes the token's
			}
			// columns selects the row's kind and its five values, in order.
			columns := func(sel *sql.Selector, kind string, values ...string) {
				sel.SelectExpr()
				sel.AppendSelectExprAs(sql.Expr("'"+kind+"'"), "kind")
				for i, as := range []string{"a", "b", "c", "role", "open", "exp"} {
					sel.AppendSelectExprAs(sql.Expr(values[i]), as)
				}
			}
			// ofToken is a branch reading table t joined to the token.
			ofToken := func(t *sql.SelectTable, on func(tok *sql.SelectTable) *sql.Predicate) *sql.Selector {
				tok := sql.Dialect(d).Table(authtoken.Table).As("tok")
				sel := sql.Dialect(d).Select().From(tok).Join(t).OnP(on(tok))
				for _, p := range tokenIs {
					p(sel)
				}
				return sel
			}
			columns(s, "t", s.C(authtoken.FieldID), s.C(authtoken.FieldUserID), s.C(authtoken.FieldParticipantID), noText, noBool,
				s.C(authtoken.FieldExpiresAt))

			m := sql.Dialect(d).Table(membership.Table).As("m")
			members := ofToken(m, func(tok *sql.SelectTable) *sql.Predicate {
				return sql.ColumnsEQ(m.C(membership.FieldUserID), tok.C(authtoken.FieldUserID))
			})
			columns(members, "m", m.C(membership.FieldWorkspaceID), noID, noID, m.C(membership.FieldRole), noBool, noTime)

			// A participant of the user's that came through an invite makes
			// them a tester there; one they got by taking part as a member
			// does not. A guest's participant stops being a guest's once an
			// account has claimed it.
			tested := func(on func(p, tok *sql.SelectTable) *sql.Predicate) *sql.Selector {
				p := sql.Dialect(d).Table(participant.Table).As("p")
				pr := sql.Dialect(d).Table(prototype.Table).As("pr")
				sel := ofToken(p, func(tok *sql.SelectTable) *sql.Predicate { return on(p, tok) })
				sel.Join(pr).On(p.C(participant.FieldPrototypeID), pr.C(prototype.FieldID))
				columns(sel, "p", p.C(participant.FieldID), p.C(participant.FieldWorkspaceID),
					p.C(participant.FieldPrototypeID), noText, pr.C(prototype.FieldOpenFeedback), noTime)
				return sel
			}
			s.UnionAll(members).
				UnionAll(tested(func(p, tok *sql.SelectTable) *sql.Predicate {
					return sql.And(sql.ColumnsEQ(p.C(participant.FieldUserID), tok.C(authtoken.FieldUserID)),
						sql.NotNull(p.C(participant.FieldInviteID)))
				})).
				UnionAll(tested(func(p, tok *sql.SelectTable) *sql.Predicate {
					return sql.And(sql.ColumnsEQ(p.C(participant.FieldID), tok.C(authtoken.FieldParticipantID)),
						sql.IsNull(p.C(participant.FieldUserID)))
				}))
		}).
		Scan(system(ctx), &rows)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("load identity: %w", err)
	}
	return identityFromRows(rows)
}

// identityFromRows assembles what loadIdentity read.
func identityFromRows(rows []identityRow) (*viewer.Identity, time.Time, error) {
	var (
		token   *identityRow
		roles   = map[gid.ID]viewer.Role{}
		testers []viewer.Tester
		tokens  int
	)
	for i, r := range rows {
		switch {
		case r.Kind == "t" && r.A != nil:
			token = &rows[i]
			tokens++
		case r.Kind == "m" && r.A != nil && r.Role != nil:
			roles[*r.A] = viewer.Role(*r.Role)
		case r.Kind == "p" && r.A != nil && r.B != nil && r.C != nil:
			testers = append(testers, viewer.Tester{
				Participant:  *r.A,
				Workspace:    *r.B,
				Prototype:    *r.C,
				OpenFeedback: r.Open != nil && *r.Open,
			})
		default:
			return nil, time.Time{}, fmt.Errorf("load identity: unexpected row %+v", r)
		}
	}
	if tokens != 1 {
		return nil, time.Time{}, ErrInvalidToken // none, or (impossibly) a hash shared by two
	}
	var expires time.Time
	if token.Exp != nil {
		expires = *token.Exp
	}
	switch {
	case token.B != nil:
		id := viewer.NewIdentity(*token.B, *token.A, roles)
		for _, t := range testers {
			id.AddTester(t)
		}
		return id, expires, nil
	case token.C != nil:
		if len(testers) != 1 {
			return nil, time.Time{}, ErrInvalidToken // claimed by an account since
		}
		return viewer.NewGuest(*token.A, testers[0]), expires, nil
	}
	return nil, time.Time{}, ErrInvalidToken // a token of nobody: not one the server issues
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

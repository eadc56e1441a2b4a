package rule

import (
	"context"
	"slices"

	"entgo.io/ent/entql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/authtoken"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// FilterOwnTokens limits token queries, updates and deletes to the
// caller's own tokens: a user's (user_id), or a guest's, which act as its
// participant (participant_id). Resolving a bearer token, which has no
// caller yet, runs as the system and never gets here.
func FilterOwnTokens() privacy.QueryMutationRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		tf, ok := f.(*ent.AuthTokenFilter)
		if !ok {
			return privacy.Denyf("rule: %T is not a token filter", f)
		}
		id := viewer.FromContext(ctx)
		switch {
		case id == nil:
			return Deny(ErrUnauthenticated)
		case id.IsGuest():
			tf.Where(inIDs(authtoken.FieldParticipantID, testerParticipants(id)))
		default:
			tf.Where(entql.FieldEQ(authtoken.FieldUserID, int64(id.UserID)))
		}
		return privacy.Skip
	})
}

// tokenChanges are what a caller may change of its own token: revoke it,
// or rename it. Expiry, scopes and use are the server's.
var tokenChanges = []string{authtoken.FieldRevokedAt, authtoken.FieldLabel, authtoken.FieldUpdatedAt}

// LimitTokenChanges refuses a caller's change to a token that does more
// than tokenChanges allow, and the creation or deletion of tokens, which
// only the server makes (signing in, redeeming an invite) as the system.
func LimitTokenChanges() privacy.MutationRule {
	return privacy.AuthTokenMutationRuleFunc(func(_ context.Context, m *ent.AuthTokenMutation) error {
		if !m.Op().Is(ent.OpUpdate | ent.OpUpdateOne) {
			return Deny(ErrForbidden)
		}
		if len(m.AddedFields()) > 0 || len(m.ClearedFields()) > 0 || len(m.ClearedEdges()) > 0 || len(m.AddedEdges()) > 0 {
			return Deny(ErrForbidden)
		}
		for _, f := range m.Fields() {
			if !slices.Contains(tokenChanges, f) {
				return Deny(ErrForbidden)
			}
		}
		return privacy.Skip
	})
}

package graph

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/authtoken"
	"github.com/protoloop/protoloop/ent/predicate"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/rule"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// Token use is recorded coarsely: lastUsedAt says when a token was last
// used to within about a minute, which is what its owner needs to tell a
// forgotten token from a live one, and it costs no write per request.
const (
	// tokenUseGrain is how stale lastUsedAt may be: a token is written at
	// most once per grain, however often it is used.
	tokenUseGrain = time.Minute
	// tokenUseBatch bounds the IDs in one UPDATE, well below the
	// bound-parameter limits of SQLite (32766) and PostgreSQL (65535).
	tokenUseBatch = 1000
)

// TokenUse keeps AuthToken.lastUsedAt without a write per request. The
// server touches a token on each request it authenticates, which only
// notes the use in memory; Flush writes every token touched since the
// last flush in one UPDATE. The server flushes every so often and when it
// shuts down, so a crash loses at most the uses since the last flush.
//
// It is safe for concurrent use.
type TokenUse struct {
	client *ent.Client
	now    func() time.Time

	mu      sync.Mutex
	pending map[gid.ID]struct{}  // touched since the last flush
	noted   map[gid.ID]time.Time // when each token was last queued for a write
}

// NewTokenUse returns a tracker that writes through client.
func NewTokenUse(client *ent.Client) *TokenUse {
	return &TokenUse{
		client:  client,
		now:     time.Now,
		pending: map[gid.ID]struct{}{},
		noted:   map[gid.ID]time.Time{},
	}
}

// Touch notes that a token was used just now. A token already written or
// queued within the last minute is not queued again.
func (u *TokenUse) Touch(token gid.ID) {
	if token == 0 {
		return
	}
	now := u.now()
	u.mu.Lock()
	defer u.mu.Unlock()
	if at, ok := u.noted[token]; ok && now.Sub(at) < tokenUseGrain {
		return
	}
	u.noted[token] = now
	u.pending[token] = struct{}{}
}

// Flush writes lastUsedAt, as the time of the flush, for every token
// touched since the last flush, and returns how many it wrote. Tokens it
// could not write stay queued for the next flush.
func (u *TokenUse) Flush(ctx context.Context) (int, error) {
	now := u.now()
	u.mu.Lock()
	ids := make([]gid.ID, 0, len(u.pending))
	for id := range u.pending {
		ids = append(ids, id)
	}
	clear(u.pending)
	// Forget what is older than the grain: the map holds only the tokens
	// of the last minute, not every token ever seen.
	for id, at := range u.noted {
		if now.Sub(at) >= tokenUseGrain {
			delete(u.noted, id)
		}
	}
	u.mu.Unlock()

	for start := 0; start < len(ids); start += tokenUseBatch {
		batch := ids[start:min(start+tokenUseBatch, len(ids))]
		err := u.client.AuthToken.Update().
			Where(authtoken.IDIn(batch...)).
			SetLastUsedAt(now).
			Exec(system(ctx)) // tokens are the server's own records
		if err != nil {
			u.requeue(ids[start:])
			return start, fmt.Errorf("record token use: %w", err)
		}
	}
	return len(ids), nil
}

// requeue puts tokens back to be written by the next flush.
func (u *TokenUse) requeue(ids []gid.ID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, id := range ids {
		u.pending[id] = struct{}{}
	}
}

// usable are the tokens that still work: not revoked, not expired.
func usable(now time.Time) predicate.AuthToken {
	return authtoken.And(
		authtoken.RevokedAtIsNil(),
		authtoken.Or(authtoken.ExpiresAtIsNil(), authtoken.ExpiresAtGT(now)),
	)
}

// userTokens lists a user's working tokens, newest first. The token
// policy shows callers only their own, so anyone else's list is empty.
func userTokens(ctx context.Context, client *ent.Client, u *ent.User) ([]*ent.AuthToken, error) {
	tokens, err := client.AuthToken.Query().
		Where(authtoken.UserID(u.ID), usable(time.Now())).
		Order(ent.Desc(authtoken.FieldCreatedAt), ent.Desc(authtoken.FieldID)).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens of user %s: %w", u.ID, err)
	}
	return tokens, nil
}

// revokeToken revokes one of the caller's own tokens; revoking one that is
// revoked already changes nothing. The token policy hides everybody
// else's, so they are NOT_FOUND.
func revokeToken(ctx context.Context, client *ent.Client, id gid.ID) (*ent.AuthToken, error) {
	tok, err := client.AuthToken.Get(ctx, id)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("token")
	case err != nil:
		return nil, fmt.Errorf("revoke token %s: %w", id, err)
	case tok.RevokedAt != nil:
		return tok, nil
	}
	tok, err = client.AuthToken.UpdateOne(tok).SetRevokedAt(time.Now()).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("revoke token %s: %w", id, err)
	}
	return tok, nil
}

// logOut revokes the token the request was made with.
func logOut(ctx context.Context, client *ent.Client) (bool, error) {
	id := viewer.FromContext(ctx)
	if id == nil || id.TokenID == 0 {
		return false, rule.ErrUnauthenticated
	}
	err := client.AuthToken.Update().
		Where(authtoken.ID(id.TokenID), authtoken.RevokedAtIsNil()).
		SetRevokedAt(time.Now()).
		Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("log out: %w", err)
	}
	return true, nil
}

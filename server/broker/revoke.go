package broker

import (
	"context"
	"time"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/schema/gid"
)

// pauseMembers stops live delivery to the subscribers a membership change
// (MEMBER_ROLE_CHANGED, MEMBER_REMOVED) may concern, from e on: the
// catch-up that takes them over reloads the caller's identity before it
// delivers anything, so a removed member gets nothing after their
// removal. The change concerns the user its payload names; without one,
// every member of the workspace is rechecked. Call with b.mu held.
func (b *Broker) pauseMembers(e *ent.Event) {
	if b.opts.Identities == nil {
		return
	}
	user := payloadUser(e)
	for _, t := range b.topics {
		for _, s := range t.subs {
			if s.workspace != e.WorkspaceID || s.who.UserID == 0 || (user != 0 && s.who.UserID != user) {
				continue
			}
			if _, member := s.who.RoleIn(e.WorkspaceID); !member {
				continue // a tester there: membership changes do not touch it
			}
			b.markRecheck(s)
		}
	}
}

// markRecheck has s's identity reloaded before anything more is
// delivered to it: the catch-up that takes it over reloads it, and ends
// s if it may no longer watch its topic. Call with b.mu held.
func (b *Broker) markRecheck(s *subscriber) {
	s.rechecks++
	if !s.lagging {
		b.startCatchUp(s, s.last)
	}
}

// IdentitiesChanged rechecks, from the database, the subscribers whose
// identity lists one of the changed IDs (viewer.Identity.DependsOn); an
// invalidation naming none (anything may have changed: a LISTEN
// connection heard again after announcements may have been lost) rechecks
// every subscriber, whether its identity came from a cache or from the
// database, since either may have missed them. A subscriber marked again
// before its reload has begun is reloaded once. Call it with every invalidation of the identity
// cache that Request.Cached reports on (graph.IdentityCache.OnInvalidate):
// the membership events' pause (pauseMembers) cannot cover a subscription
// served a cached identity after its event was dispatched, and a
// catch-up does not recheck replayed membership events.
// It takes the broker's lock and never waits for the database.
func (b *Broker) IdentitiesChanged(changed []gid.ID) {
	if b.opts.Identities == nil {
		return
	}
	set := make(map[gid.ID]bool, len(changed))
	for _, id := range changed {
		set[id] = true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range b.topics {
		for _, s := range t.subs {
			if len(changed) == 0 || s.who.DependsOn(set) {
				b.markRecheck(s)
			}
		}
	}
}

// payloadUser returns the user a membership event is about, or 0.
func payloadUser(e *ent.Event) gid.ID {
	s, _ := e.Payload["user"].(string)
	id, err := gid.Parse(s)
	if err != nil || id.Type() != gid.User {
		return 0
	}
	return id
}

// Recheck has the bearer tokens in use, the subscriptions' and
// Options.Holders', checked at once rather than at the next
// Options.Revalidate: call it when what tokens resolve to changed
// (graph.IdentityCache.OnInvalidate), so that a token revoked on any
// replica ends its subscriptions and its holders' connections right
// away. It never blocks; requests made while one is pending coalesce.
func (b *Broker) Recheck() {
	select {
	case b.recheck <- struct{}{}:
	default: // a check is pending already
	}
}

// revalidate checks, every Options.Revalidate and when Recheck asks, the
// bearer tokens of the subscriptions and of Options.Holders, with one
// query for all of them: it ends the subscriptions whose token has been
// revoked or has expired since they began, and hands the holders theirs.
func (b *Broker) revalidate(ctx context.Context) {
	t := time.NewTicker(b.opts.Revalidate)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.recheck:
		}
		b.checkTokens(ctx)
	}
}

// checkTokens is one check of revalidate.
func (b *Broker) checkTokens(ctx context.Context) {
	inUse := map[gid.ID]bool{}
	b.mu.Lock()
	for _, t := range b.topics {
		for _, s := range t.subs {
			if s.who.TokenID != 0 {
				inUse[s.who.TokenID] = true
			}
		}
	}
	b.mu.Unlock()
	if b.opts.Holders != nil {
		for _, tok := range b.opts.Holders.Tokens() {
			inUse[tok] = true
		}
	}
	if len(inUse) == 0 {
		return
	}
	tokens := make([]gid.ID, 0, len(inUse))
	for tok := range inUse {
		tokens = append(tokens, tok)
	}
	revoked, err := b.opts.Identities.Revoked(ctx, tokens)
	if err != nil {
		if ctx.Err() == nil {
			b.log.ErrorContext(ctx, "broker: check the tokens in use", "err", err)
		}
		return
	}
	if len(revoked) == 0 {
		return
	}
	if b.opts.Holders != nil {
		b.opts.Holders.Revoke(revoked)
	}
	gone := make(map[gid.ID]bool, len(revoked))
	for _, tok := range revoked {
		gone[tok] = true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range b.topics {
		for i := len(t.subs) - 1; i >= 0; i-- { // endLocked removes t.subs[i]
			if s := t.subs[i]; gone[s.who.TokenID] {
				b.endLocked(s)
			}
		}
	}
}

package graph

import (
	"context"
	"fmt"
	"slices"

	"entgo.io/ent/dialect"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/authtoken"
	"github.com/protoloop/protoloop/ent/membership"
	"github.com/protoloop/protoloop/ent/participant"
	"github.com/protoloop/protoloop/ent/prototype"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/broker"
)

// Watch makes every mutation through client that can change what a bearer
// token resolves to announce it, once its transaction has committed: to
// c, and on PostgreSQL to every process, with a NOTIFY in the mutation's
// transaction (broker.NotifyIdentitiesSQL), which the brokers' LISTEN
// connections hear (broker.Options.OnIdentityChanged).
//
// It is an ent hook, so that no write path is missed: identityChange says
// which mutations count. Mutations that change no identity (most) cost
// nothing more.
func (c *IdentityCache) Watch(client *ent.Client, dialectName string) {
	if client == nil {
		return // no database: no mutation to watch
	}
	client.Use(func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			changed, all, err := identityChange(ctx, m)
			if err != nil || (!all && len(changed) == 0) {
				if err != nil {
					return nil, fmt.Errorf("identities changed by %s: %w", m.Type(), err)
				}
				return next.Mutate(ctx, m)
			}
			v, err := next.Mutate(ctx, m)
			if err != nil {
				return v, err
			}
			invalidate := func() { c.Invalidate(changed...) }
			if tx := ent.TxFromContext(ctx); tx != nil {
				tx.OnCommit(func(next ent.Committer) ent.Committer {
					return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
						err := next.Commit(ctx, tx)
						if err == nil {
							invalidate()
						}
						return err
					})
				})
			} else {
				// Committed already, outside a transaction: this process
				// forgets at once, whatever becomes of the NOTIFY.
				invalidate()
			}
			if dialectName == dialect.Postgres {
				mc, ok := m.(interface{ Client() *ent.Client })
				if !ok {
					return nil, fmt.Errorf("announce identity change: %T has no client", m)
				}
				_, err := mc.Client().ExecContext(ctx, broker.NotifyIdentitiesSQL, broker.IdentityPayload(c.origin, changed))
				if err != nil {
					return nil, fmt.Errorf("announce identity change: %w", err)
				}
			}
			return v, nil
		})
	})
}

// identityChange returns the IDs (see identityKeys) whose identities m
// may change, or all if it cannot tell which. Only these change what a
// token resolves to (loadIdentity):
//
//   - a token revoked, expiring, moved or deleted (one issued changes no
//     identity that could be cached);
//   - a membership made, changed or removed (its user: read for a
//     change or a removal, which the mutation names by its ID only);
//   - a participant that came through an invite made for a user (the
//     user), or changed in who or what it is, or deleted;
//   - a user, a workspace or a prototype deleted (the database deletes
//     tokens, memberships and participants with them), or a prototype's
//     open feedback switched.
//
// An update or delete of many rows names the tokens it touches, read
// first; of anything else, all.
func identityChange(ctx context.Context, m ent.Mutation) (changed []gid.ID, all bool, err error) {
	type identified interface{ ID() (gid.ID, bool) }
	op := m.Op()
	touches := func(fields ...string) bool {
		if op.Is(ent.OpDelete | ent.OpDeleteOne) {
			return true
		}
		for _, f := range append(m.Fields(), m.ClearedFields()...) {
			if slices.Contains(fields, f) {
				return true
			}
		}
		return false
	}
	// one returns the mutated row's ID, or all for many rows.
	one := func() ([]gid.ID, bool, error) {
		if id, ok := m.(identified).ID(); ok && op.Is(ent.OpUpdateOne|ent.OpDeleteOne) {
			return []gid.ID{id}, false, nil
		}
		return nil, true, nil
	}
	switch m := m.(type) {
	case *ent.AuthTokenMutation:
		if op.Is(ent.OpCreate) || !touches(authtoken.FieldRevokedAt, authtoken.FieldExpiresAt, authtoken.FieldTokenHash,
			authtoken.FieldUserID, authtoken.FieldParticipantID) {
			return nil, false, nil
		}
		// logOut and claiming a guest revoke by a condition: name the
		// tokens it matches, which it costs one statement to read.
		ids, err := m.IDs(system(ctx))
		return ids, false, err
	case *ent.MembershipMutation:
		if op.Is(ent.OpCreate) {
			user, _ := m.UserID()
			return []gid.ID{user}, false, nil
		}
		// A role changed or a member removed: name the users, which it
		// costs one statement to read (two for a change by condition).
		ids, err := m.IDs(system(ctx))
		if err != nil || len(ids) == 0 {
			return nil, false, err
		}
		users, err := m.Client().Membership.Query().Where(membership.IDIn(ids...)).QueryUser().IDs(system(ctx))
		return users, false, err
	case *ent.ParticipantMutation:
		if op.Is(ent.OpCreate) {
			// A participant without an invite makes no one a tester; a
			// guest's is new to every token but the one issued after it.
			user, hasUser := m.UserID()
			if _, invited := m.InviteID(); invited && hasUser {
				return []gid.ID{user}, false, nil
			}
			return nil, false, nil
		}
		if !touches(participant.FieldUserID, participant.FieldInviteID, participant.FieldPrototypeID, participant.FieldWorkspaceID) {
			return nil, false, nil
		}
		changed, all, _ := one()
		if user, ok := m.UserID(); ok {
			changed = append(changed, user) // a user claiming a guest's participation
		}
		return changed, all, nil
	case *ent.PrototypeMutation:
		if op.Is(ent.OpCreate) || !touches(prototype.FieldOpenFeedback) {
			return nil, false, nil
		}
		return one()
	case *ent.UserMutation, *ent.WorkspaceMutation:
		if !op.Is(ent.OpDelete | ent.OpDeleteOne) {
			return nil, false, nil
		}
		return one()
	}
	return nil, false, nil
}

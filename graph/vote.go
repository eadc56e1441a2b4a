package graph

import (
	"context"
	"fmt"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/vote"
)

// Vote events are about the feedback voted on, not the vote: a removed
// vote no longer exists to be shown, and what watchers follow is the
// feedback's count.

// addVote adds the viewer's "me too" to feedback; voting again changes
// nothing.
func addVote(ctx context.Context, client *ent.Client, feedbackID gid.ID) (*ent.Feedback, error) {
	// Locked as mergeFeedback locks the pair it merges, so that a vote and
	// a merge of the same feedback run one after the other: a vote that
	// comes second sees the feedback MERGED and is refused, one that comes
	// first is moved by the merge. Unlocked, a vote that read the duplicate
	// before the merge committed could insert its row after the merge had
	// moved the votes, and stay on the merged duplicate. Feedback first,
	// then votes: the merge's lock order, so the two cannot deadlock.
	fb, err := lockFeedback(ctx, client, dialectOf(ctx), feedbackID)
	if err != nil {
		return nil, err
	}
	if err := checkNotMerged(fb, "feedbackID"); err != nil {
		return nil, err
	}
	p, err := participantFor(ctx, client, fb.WorkspaceID, fb.PrototypeID)
	if err != nil {
		return nil, err
	}
	// ON CONFLICT DO NOTHING turns a second vote, even one racing the
	// first, into no change rather than an error on the unique index.
	err = client.Vote.Create().
		SetWorkspaceID(fb.WorkspaceID).
		SetPrototypeID(fb.PrototypeID).
		SetFeedbackID(fb.ID).
		SetParticipantID(p.ID).
		OnConflictColumns(vote.FieldFeedbackID, vote.FieldParticipantID).
		DoNothing().
		Exec(ctx)
	switch {
	case conflictSkipped(err):
		return reloadOneFeedback(ctx, client, fb.ID)
	case err != nil:
		return nil, fmt.Errorf("vote on feedback %s: %w", fb.ID, err)
	}
	if err := countVotes(ctx, client, fb.ID, +1); err != nil {
		return nil, err
	}
	if err := alertVotes(ctx, client, fb, 1); err != nil {
		return nil, err
	}
	record(ctx, change{
		kind:        event.KindVOTE_ADDED,
		workspace:   fb.WorkspaceID,
		prototype:   fb.PrototypeID,
		subject:     fb.ID,
		participant: p.ID,
	})
	return reloadOneFeedback(ctx, client, fb.ID)
}

// removeVote takes the viewer's vote on feedback back, if there is one.
func removeVote(ctx context.Context, client *ent.Client, feedbackID gid.ID) (*ent.Feedback, error) {
	fb, err := lockFeedback(ctx, client, dialectOf(ctx), feedbackID) // as addVote
	if err != nil {
		return nil, err
	}
	p, err := findParticipant(ctx, client, fb.PrototypeID)
	switch {
	case err != nil:
		return nil, err
	case p == nil:
		return reloadOneFeedback(ctx, client, fb.ID) // never took part, so never voted
	}
	n, err := client.Vote.Delete().
		Where(vote.FeedbackID(fb.ID), vote.ParticipantID(p.ID)).
		Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("remove vote on feedback %s: %w", fb.ID, err)
	}
	if n > 0 {
		if err := countVotes(ctx, client, fb.ID, -1); err != nil {
			return nil, err
		}
		record(ctx, change{
			kind:        event.KindVOTE_REMOVED,
			workspace:   fb.WorkspaceID,
			prototype:   fb.PrototypeID,
			subject:     fb.ID,
			participant: p.ID,
		})
	}
	return reloadOneFeedback(ctx, client, fb.ID)
}

// countVotes keeps feedback's vote count with its votes, in the same
// transaction. The count is the server's bookkeeping, not an edit of the
// feedback (which only editors may make), so it is written as the system.
func countVotes(ctx context.Context, client *ent.Client, feedbackID gid.ID, delta int) error {
	if err := client.Feedback.UpdateOneID(feedbackID).AddVoteCount(delta).Exec(system(ctx)); err != nil {
		return fmt.Errorf("count votes on feedback %s: %w", feedbackID, err)
	}
	return nil
}

package graph

import (
	"context"
	"fmt"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/comment"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/schema/gid"
)

// addComment comments on feedback as the viewer's participant, or replies
// to a comment on the same feedback.
func addComment(ctx context.Context, client *ent.Client, input AddCommentInput) (*ent.Comment, error) {
	if err := validateBody(input.Body); err != nil {
		return nil, err
	}
	// Locked for the reason addVote locks it: a comment racing a merge
	// lands on the original or is refused, never on the merged duplicate.
	fb, err := lockFeedback(ctx, client, dialectOf(ctx), input.FeedbackID)
	if err != nil {
		return nil, err
	}
	if err := checkNotMerged(fb, "feedbackID"); err != nil {
		return nil, err
	}
	if input.ParentID != nil {
		if err := checkParent(ctx, client, *input.ParentID, fb.ID); err != nil {
			return nil, err
		}
	}
	p, err := participantFor(ctx, client, fb.WorkspaceID, fb.PrototypeID)
	if err != nil {
		return nil, err
	}
	c, err := client.Comment.Create().
		SetWorkspaceID(fb.WorkspaceID).
		SetPrototypeID(fb.PrototypeID).
		SetFeedbackID(fb.ID).
		SetAuthorID(p.ID).
		SetNillableParentID(input.ParentID).
		SetBody(input.Body).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("comment on feedback %s: %w", fb.ID, err)
	}
	record(ctx, change{
		kind:        event.KindCOMMENT_ADDED,
		workspace:   c.WorkspaceID,
		prototype:   c.PrototypeID,
		subject:     c.ID,
		participant: p.ID,
		payload:     map[string]any{"feedback": fb.ID.String()},
	})
	return reloadComment(ctx, client, c.ID)
}

// reloadComment reads a new comment back with the fields the client
// selected loaded, as reloadFeedback does for feedback.
func reloadComment(ctx context.Context, client *ent.Client, id gid.ID) (*ent.Comment, error) {
	query, err := client.Comment.Query().Where(comment.ID(id)).CollectFields(ctx)
	if err != nil {
		return nil, fmt.Errorf("collect comment fields: %w", err)
	}
	c, err := query.Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("reload comment %s: %w", id, err)
	}
	return c, nil
}

// checkParent checks that a reply's parent is a comment on the feedback
// the reply is on, so that a thread never spans two pieces of feedback.
func checkParent(ctx context.Context, client *ent.Client, parentID, feedbackID gid.ID) error {
	parent, err := client.Comment.Get(ctx, parentID)
	switch {
	case ent.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("load comment %s: %w", parentID, err)
	case parent.FeedbackID == feedbackID:
		return nil
	}
	return badInput("parentID", "comment %s is not a comment on feedback %s", parentID, feedbackID)
}

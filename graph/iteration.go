package graph

import (
	"context"
	"fmt"
	"time"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/iteration"
	"github.com/protoloop/protoloop/ent/prototype"
	"github.com/protoloop/protoloop/ent/schema/gid"
)

// createIteration drafts an iteration of a prototype. It has no number
// until it is published.
func createIteration(ctx context.Context, client *ent.Client, prototypeID gid.ID, input ent.CreateIterationInput) (*ent.Iteration, error) {
	p, err := client.Prototype.Get(ctx, prototypeID)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("prototype")
	case err != nil:
		return nil, fmt.Errorf("create iteration: %w", err)
	}
	it, err := client.Iteration.Create().
		SetInput(input).
		SetPrototypeID(p.ID).
		SetWorkspaceID(p.WorkspaceID).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("create iteration: %w", err)
	}
	record(ctx, change{kind: event.KindITERATION_CREATED, workspace: it.WorkspaceID, prototype: it.PrototypeID, subject: it.ID})
	return reload[*ent.Iteration](ctx, client, it.ID)
}

// updateIteration changes an iteration's title, changelog or URL.
func updateIteration(ctx context.Context, client *ent.Client, dialect string, id gid.ID, input ent.UpdateIterationInput) (*ent.Iteration, error) {
	it, err := lockIteration(ctx, client, dialect, id)
	if err != nil {
		return nil, fmt.Errorf("update iteration: %w", err)
	}
	if it.Status == iteration.StatusRETIRED {
		return nil, badInput("id", "a retired iteration cannot change")
	}
	upd := client.Iteration.UpdateOne(it).SetInput(input)
	fields := changedFields(upd.Mutation())
	if it, err = upd.Save(ctx); err != nil {
		return nil, fmt.Errorf("update iteration: %w", err)
	}
	if len(fields) > 0 {
		record(ctx, change{kind: event.KindITERATION_UPDATED, workspace: it.WorkspaceID, prototype: it.PrototypeID, subject: it.ID,
			payload: map[string]any{"fields": fields}})
	}
	return reload[*ent.Iteration](ctx, client, it.ID)
}

// publishIteration gives a draft the prototype's next number and opens it
// to testers.
func publishIteration(ctx context.Context, client *ent.Client, dialect string, id gid.ID) (*ent.Iteration, error) {
	it, err := lockIteration(ctx, client, dialect, id)
	if err != nil {
		return nil, fmt.Errorf("publish iteration: %w", err)
	}
	if it.Status != iteration.StatusDRAFT {
		return nil, badInput("id", "the iteration is %s: only a DRAFT can be published", it.Status)
	}
	// Numbers are read, then written: publishes of one prototype take its
	// row lock in turn, so each sees the number the one before it took.
	// The unique index on (prototype_id, number) backs this up.
	if _, err := locked(client.Prototype.Query().Where(prototype.ID(it.PrototypeID)), dialect).OnlyID(ctx); err != nil {
		return nil, fmt.Errorf("publish iteration: %w", err)
	}
	number, err := nextIterationNumber(ctx, client, it.PrototypeID)
	if err != nil {
		return nil, fmt.Errorf("publish iteration: %w", err)
	}
	it, err = client.Iteration.UpdateOne(it).
		SetNumber(number).
		SetStatus(iteration.StatusPUBLISHED).
		SetPublishedAt(time.Now()).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("publish iteration: %w", err)
	}
	record(ctx, change{kind: event.KindITERATION_PUBLISHED, workspace: it.WorkspaceID, prototype: it.PrototypeID, subject: it.ID,
		payload: map[string]any{"number": number}})
	if err := requestVerificationsOnPublish(ctx, client, it); err != nil {
		return nil, fmt.Errorf("publish iteration: %w", err)
	}
	// The latest iteration changed: rating alerts look at the new one.
	if err := alertRating(ctx, client, it.PrototypeID); err != nil {
		return nil, fmt.Errorf("publish iteration: %w", err)
	}
	return reload[*ent.Iteration](ctx, client, it.ID)
}

// retireIteration closes a published iteration to new trials and feedback.
func retireIteration(ctx context.Context, client *ent.Client, dialect string, id gid.ID) (*ent.Iteration, error) {
	it, err := lockIteration(ctx, client, dialect, id)
	if err != nil {
		return nil, fmt.Errorf("retire iteration: %w", err)
	}
	if it.Status != iteration.StatusPUBLISHED {
		return nil, badInput("id", "the iteration is %s: only a PUBLISHED one can be retired", it.Status)
	}
	if it, err = client.Iteration.UpdateOne(it).SetStatus(iteration.StatusRETIRED).Save(ctx); err != nil {
		return nil, fmt.Errorf("retire iteration: %w", err)
	}
	record(ctx, change{kind: event.KindITERATION_RETIRED, workspace: it.WorkspaceID, prototype: it.PrototypeID, subject: it.ID})
	if err := alertRating(ctx, client, it.PrototypeID); err != nil {
		return nil, fmt.Errorf("retire iteration: %w", err)
	}
	return reload[*ent.Iteration](ctx, client, it.ID)
}

// lockIteration reads an iteration and locks its row for the rest of the
// transaction, so that a change that depends on its status cannot race
// another one (two publishes of the same draft, an edit and a retirement).
func lockIteration(ctx context.Context, client *ent.Client, dialect string, id gid.ID) (*ent.Iteration, error) {
	it, err := locked(client.Iteration.Query().Where(iteration.ID(id)), dialect).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("iteration")
	}
	return it, err
}

// nextIterationNumber is one more than the highest number a prototype's
// iterations have, or 1 for its first.
func nextIterationNumber(ctx context.Context, client *ent.Client, prototypeID gid.ID) (int, error) {
	last, err := client.Iteration.Query().
		Where(iteration.PrototypeID(prototypeID), iteration.NumberNotNil()).
		Order(ent.Desc(iteration.FieldNumber)).
		Select(iteration.FieldNumber).
		First(ctx)
	switch {
	case ent.IsNotFound(err):
		return 1, nil
	case err != nil:
		return 0, fmt.Errorf("last iteration number: %w", err)
	}
	return *last.Number + 1, nil
}

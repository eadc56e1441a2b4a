package graph

import (
	"context"
	"fmt"
	"time"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/iteration"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/trial"
)

// startTrial starts the viewer's trial of a published iteration.
func startTrial(ctx context.Context, client *ent.Client, input StartTrialInput) (*ent.Trial, error) {
	it, err := publishedIteration(ctx, client, input.IterationID)
	if err != nil {
		return nil, err
	}
	p, err := participantFor(ctx, client, it.WorkspaceID, it.PrototypeID)
	if err != nil {
		return nil, err
	}
	t, err := client.Trial.Create().
		SetWorkspaceID(it.WorkspaceID).
		SetPrototypeID(it.PrototypeID).
		SetIterationID(it.ID).
		SetParticipantID(p.ID).
		SetNillableTask(input.Task).
		SetNillableDevice(input.Device).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("start trial of iteration %s: %w", it.ID, err)
	}
	record(ctx, change{
		kind:        event.KindTRIAL_STARTED,
		workspace:   t.WorkspaceID,
		prototype:   t.PrototypeID,
		subject:     t.ID,
		participant: p.ID,
		payload:     map[string]any{"iteration": it.ID.String()},
	})
	return reloadTrial(ctx, client, t.ID)
}

// endTrial ends one of the viewer's own trials with its outcome.
func endTrial(ctx context.Context, client *ent.Client, dialectName string, id gid.ID, outcome trial.Outcome) (*ent.Trial, error) {
	// Locked, so that of two concurrent ends the second sees the first's.
	t, err := locked(client.Trial.Query().Where(trial.ID(id)), dialectName).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("trial")
	case err != nil:
		return nil, fmt.Errorf("load trial %s: %w", id, err)
	}
	p, err := findParticipant(ctx, client, t.PrototypeID)
	if err != nil {
		return nil, err
	}
	if p == nil || p.ID != t.ParticipantID {
		return nil, forbidden("only the person who started a trial can end it")
	}
	if t.EndedAt != nil {
		return nil, conflict("trial already ended")
	}
	t, err = client.Trial.UpdateOne(t).
		SetEndedAt(time.Now()).
		SetOutcome(outcome).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("end trial %s: %w", id, err)
	}
	if err := alertAbandoned(ctx, client, t); err != nil {
		return nil, err
	}
	record(ctx, change{
		kind:        event.KindTRIAL_ENDED,
		workspace:   t.WorkspaceID,
		prototype:   t.PrototypeID,
		subject:     t.ID,
		participant: p.ID,
		payload:     map[string]any{"outcome": string(outcome)},
	})
	return reloadTrial(ctx, client, t.ID)
}

// reloadTrial reads a trial back after a change with the fields the
// client selected loaded, as reloadFeedback does for feedback.
func reloadTrial(ctx context.Context, client *ent.Client, id gid.ID) (*ent.Trial, error) {
	query, err := client.Trial.Query().Where(trial.ID(id)).CollectFields(ctx)
	if err != nil {
		return nil, fmt.Errorf("collect trial fields: %w", err)
	}
	t, err := query.Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("reload trial %s: %w", id, err)
	}
	return t, nil
}

// publishedIteration loads an iteration that people may try and give
// feedback on: drafts are not out yet, retired ones are over.
func publishedIteration(ctx context.Context, client *ent.Client, id gid.ID) (*ent.Iteration, error) {
	it, err := client.Iteration.Get(ctx, id)
	switch {
	case ent.IsNotFound(err):
		return nil, notFound("iteration")
	case err != nil:
		return nil, fmt.Errorf("load iteration %s: %w", id, err)
	case it.Status != iteration.StatusPUBLISHED:
		return nil, badInput("iterationID", "iteration %s is %s: only a published iteration can be tried or given feedback", id, it.Status)
	}
	return it, nil
}

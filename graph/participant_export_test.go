package graph

import (
	"context"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
)

// ParticipantFacts reads, through id's memo as canSeeIdentity does, the
// participants of the prototype tester t tests, and which of them are on
// the team.
func ParticipantFacts(ctx context.Context, client *ent.Client, id *viewer.Identity, t viewer.Tester) (on, team map[gid.ID]bool, err error) {
	f, err := factsOf(ctx, client, id, t, factsMaxAge)
	if err != nil {
		return nil, nil, err
	}
	return f.on, f.team, nil
}

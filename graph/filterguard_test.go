package graph_test

import (
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

// Filters through related objects run as SQL subqueries that the privacy
// rules do not reach, so testers may not use them; members may.
func TestTestersCannotFilterThroughRelatedObjects(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newTesterWorld(t, s)
		throughTrials := `query($p: ID!) { node(id: $p) { ... on Prototype {
			feedback(where: {hasTrialWith: {outcomeIsNil: true}}) { totalCount } } } }`
		throughDrafts := `query($p: ID!) { node(id: $p) { ... on Prototype {
			iterations(where: {or: [{hasAddressesWith: {kind: BUG}}]}) { totalCount } } } }`
		ownFields := `query($p: ID!) { node(id: $p) { ... on Prototype {
			feedback(where: {kind: BUG, ratingGTE: 1}) { totalCount } } } }`
		vars := map[string]any{"p": w.loop.Prototype.ID}

		for _, tester := range []worldTester{w.ada, w.cy} {
			s.Do(t, tester.token, throughTrials, vars).RequireError(t, "BAD_USER_INPUT", "where")
			s.Do(t, tester.token, throughDrafts, vars).RequireError(t, "BAD_USER_INPUT", "where")
			s.Do(t, tester.token, ownFields, vars).RequireOK(t)
		}
		for _, member := range []string{w.loop.Owner.Token, w.viewer.Token} {
			s.Do(t, member, throughTrials, vars).RequireOK(t)
			s.Do(t, member, throughDrafts, vars).RequireOK(t)
		}
	})
}

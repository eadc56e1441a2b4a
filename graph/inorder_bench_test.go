package graph_test

import (
	"runtime"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

// BenchmarkNestedQuery runs the dashboard query of issue 6 (pages of 20,
// 5 and 10 with authors) over HTTP on PostgreSQL, on 4 prototypes × 5
// iterations × 10 feedback: what one request costs the process, server
// and client, in allocations and time, one request at a time and 32 at
// once (the c = 32 of protoloop-bench read). It skips without PostgreSQL.
func BenchmarkNestedQuery(b *testing.B) {
	s, owner, ws, _ := seedBench(b, 4, 5, 10)
	benchmarkQuery(b, func(b *testing.B) {
		s.Do(b, owner.Token, leanNestedQuery, vars{"slug": ws.Slug}).RequireOK(b)
	})
}

// dashboardQuery is protoloop-bench's dashboard: leanNestedQuery with the
// scalars the dashboard shows (enums, an Int, titles), whose marshalling
// the lean query leaves out.
const dashboardQuery = `query($slug: String!) {
	workspace(slug: $slug) { id name
		prototypes(first: 20) { edges { node { id title status
			iterations(first: 5) { edges { node { id number title
				feedback(first: 10) { edges { node { id kind body rating author { displayName } } } }
			} } }
		} } }
	}
}`

// BenchmarkDashboard runs protoloop-bench's dashboard as
// BenchmarkNestedQuery runs the lean query, on the same data.
func BenchmarkDashboard(b *testing.B) {
	s, owner, ws, _ := seedBench(b, 4, 5, 10)
	benchmarkQuery(b, func(b *testing.B) {
		s.Do(b, owner.Token, dashboardQuery, vars{"slug": ws.Slug}).RequireOK(b)
	})
}

// timelinePageQuery is protoloop-bench's timeline page: the latest 30 events
// of a prototype with their actors, and the page's cursors.
const timelinePageQuery = `query($id: ID!) {
	node(id: $id) { ... on Prototype {
		timeline(first: 30, orderBy: {field: SEQ, direction: DESC}) {
			edges { cursor node { id seq kind occurredAt actor { displayName } } }
			pageInfo { hasNextPage endCursor }
		}
	} }
}`

// BenchmarkTimelinePage runs protoloop-bench's timeline page over HTTP on
// PostgreSQL, on a prototype of 3 iterations with 12 feedback each (over
// 40 events by two actors), as BenchmarkNestedQuery runs the dashboard.
func BenchmarkTimelinePage(b *testing.B) {
	s, owner, _, protos := seedBench(b, 1, 3, 12)
	benchmarkQuery(b, func(b *testing.B) {
		s.Do(b, owner.Token, timelinePageQuery, vars{"id": protos[0].ID}).RequireOK(b)
	})
}

// seedBench starts a server on PostgreSQL (skipping without it) and
// seeds a workspace with prototypes, each with published iterations,
// each with feedback by a tester (a viewer of the workspace). It returns
// the server, the owner, the workspace and its prototypes.
func seedBench(b *testing.B, prototypes, iterations, feedback int) (*servertest.Server, servertest.User, servertest.Workspace, []servertest.Prototype) {
	b.Helper()
	s := servertest.Start(b, servertest.Postgres)
	owner := s.NewUser(b, "Olive")
	tester := s.NewUser(b, "Tess")
	ws := s.NewWorkspace(b, owner.Token)
	s.AddMember(b, owner.Token, ws.ID, tester.Email, "VIEWER")
	protos := make([]servertest.Prototype, prototypes)
	for i := range protos {
		protos[i] = s.NewPrototype(b, owner.Token, ws.ID)
		for range iterations {
			it := s.NewPublishedIteration(b, owner.Token, protos[i].ID)
			for range feedback {
				s.LeaveFeedback(b, tester.Token, it.ID, nil)
			}
		}
	}
	return s, owner, ws, protos
}

// benchmarkQuery runs query once, then one at a time and 32 at once.
func benchmarkQuery(b *testing.B, query func(b *testing.B)) {
	b.Helper()
	query(b)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			query(b)
		}
	})
	b.Run("c=32", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				query(b)
			}
		})
	})
}

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
	s := servertest.Start(b, servertest.Postgres)
	owner := s.NewUser(b, "Olive")
	tester := s.NewUser(b, "Tess")
	ws := s.NewWorkspace(b, owner.Token)
	s.AddMember(b, owner.Token, ws.ID, tester.Email, "VIEWER")
	for range 4 {
		p := s.NewPrototype(b, owner.Token, ws.ID)
		for range 5 {
			it := s.NewPublishedIteration(b, owner.Token, p.ID)
			for range 10 {
				s.LeaveFeedback(b, tester.Token, it.ID, nil)
			}
		}
	}
	query := func(b *testing.B) {
		s.Do(b, owner.Token, leanNestedQuery, vars{"slug": ws.Slug}).RequireOK(b)
	}
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

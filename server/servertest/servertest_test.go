package servertest_test

import (
	"context"
	"database/sql"
	"net/url"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

func TestRunServesGraphQLOnEveryBackend(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		if t.Name() != "TestRunServesGraphQLOnEveryBackend/"+string(s.Backend) {
			t.Errorf("subtest %q runs on %s", t.Name(), s.Backend)
		}
		var got struct {
			Typename string `json:"__typename"`
		}
		s.Do(t, "", `{ __typename }`, nil).RequireOK(t).Decode(t, &got)
		if got.Typename != "Query" {
			t.Errorf("__typename = %q, want Query", got.Typename)
		}
	})
}

func TestFixturesBuildALoopThroughTheAPI(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		before := s.Statements()
		loop := s.NewLoop(t)
		if s.Statements() <= before {
			t.Errorf("Statements() did not grow while seeding: %d, then %d", before, s.Statements())
		}
		if loop.Iteration.Number != 1 {
			t.Errorf("first published iteration has number %d, want 1", loop.Iteration.Number)
		}
		if loop.Prototype.WorkspaceID != loop.Workspace.ID {
			t.Errorf("prototype in workspace %s, want %s", loop.Prototype.WorkspaceID, loop.Workspace.ID)
		}

		var got struct {
			Viewer struct{ ID, Email string }
		}
		s.Do(t, loop.Owner.Token, `{ viewer { id email } }`, nil).RequireOK(t).Decode(t, &got)
		if got.Viewer.ID != loop.Owner.ID || got.Viewer.Email != loop.Owner.Email {
			t.Errorf("viewer = %+v, want the owner %+v", got.Viewer, loop.Owner)
		}

		maker := s.NewMember(t, loop.Owner.Token, loop.Workspace.ID, "MAKER")
		fb := s.LeaveFeedback(t, maker.Token, loop.Iteration.ID, map[string]any{"kind": "BUG", "rating": 2})
		if fb == "" {
			t.Error("LeaveFeedback returned no ID")
		}
	})
}

func TestPostgresSchemaIsDroppedWhenTheTestEnds(t *testing.T) {
	servertest.RequirePostgres(t)
	var schema string
	t.Run("uses a schema", func(t *testing.T) {
		u, err := url.Parse(servertest.PostgresSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		schema = u.Query().Get("search_path")
		if schema == "" {
			t.Fatalf("URL %s selects no schema", u.Redacted())
		}
	})

	db, err := sql.Open("postgres", servertest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(context.Background(),
		`SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("schema %s still exists after its test ended", schema)
	}
}

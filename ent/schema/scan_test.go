package schema_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/feedback"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/bytea"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/servertest"
)

// A query scans all its rows into one block of values (ent/entc.go,
// scanValuesNew). The tests below read feedback through a client of their
// own.

// serverWithFeedback starts a server on backend with a loop whose
// iteration has n feedback more, and returns it with allowedClient's
// client and context on its database. For tests that count allocations:
// the server is started on its own, not beside the other backend's.
func serverWithFeedback(t *testing.T, backend servertest.Backend, n int) (*servertest.Server, *ent.Client, context.Context) {
	t.Helper()
	s := servertest.Start(t, backend)
	loop := s.NewLoop(t)
	for range n {
		s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)
	}
	client, ctx := allowedClient(t, s)
	return s, client, ctx
}

// allowedClient returns an ent client on s's database and a context in
// which privacy allows everything.
func allowedClient(t *testing.T, s *servertest.Server) (*ent.Client, context.Context) {
	t.Helper()
	d := dialect.SQLite
	if s.Backend == servertest.Postgres {
		d = dialect.Postgres
	}
	client := ent.NewClient(ent.Driver(entsql.OpenDB(d, s.DB.SQL)))
	return client, privacy.DecisionContext(context.Background(), privacy.Allow)
}

// TestRowsReadTogetherHaveTheirOwnValues reads feedback whose nullable
// columns alternate between NULL and a value (rating and minutes saved:
// integers; addressed in: an ID behind a NullScanner) in one query, and
// each row again on its own: a row must not show a value of the row
// scanned before it.
func TestRowsReadTogetherHaveTheirOwnValues(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		for range 6 {
			s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)
		}
		client, ctx := allowedClient(t, s)
		all, err := client.Feedback.Query().Order(ent.Asc(feedback.FieldID)).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range all {
			update := client.Feedback.UpdateOneID(f.ID)
			if i%2 == 0 {
				update.SetRating(1 + i%5).SetMinutesSavedPerDay(10 + i)
			} else {
				update.SetAddressedInID(f.IterationID)
			}
			if err := update.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		all, err = client.Feedback.Query().Order(ent.Asc(feedback.FieldID)).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 6 {
			t.Fatalf("read %d feedback, want 6", len(all))
		}
		for i, f := range all {
			alone, err := client.Feedback.Get(ctx, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			if f.String() != alone.String() {
				t.Errorf("feedback %d read with the others:\n%v\nread alone:\n%v", i, f, alone)
			}
			if (f.Rating != nil) != (i%2 == 0) || (f.AddressedInID != nil) != (i%2 == 1) {
				t.Errorf("feedback %d: %v; want a rating only on even rows, addressed only on odd ones", i, f)
			}
		}
	})
}

// TestReadingARowAllocatesWhatItsValuesNeed counts the allocations of
// reading 20 more feedback rows (the dashboard's columns), through ent and
// through database/sql alone scanning into the same variables row after
// row: ent may add the node it builds, but not a value per column and row
// to scan into (it did: six allocations a row more, for five columns).
func TestReadingARowAllocatesWhatItsValuesNeed(t *testing.T) {
	s, client, ctx := serverWithFeedback(t, servertest.Postgres, 40)
	columns := []string{feedback.FieldID, feedback.FieldKind, feedback.FieldBody, feedback.FieldIterationID, feedback.FieldAuthorID}
	viaEnt := func(n int) func() {
		return func() {
			got, err := client.Feedback.Query().Select(columns...).Order(ent.Asc(feedback.FieldID)).Limit(n).All(ctx)
			if err != nil || len(got) != n {
				t.Fatalf("read %d of %d feedback: %v", len(got), n, err)
			}
		}
	}
	query := fmt.Sprintf("SELECT %s FROM %s ORDER BY %s LIMIT $1", strings.Join(columns, ", "), feedback.Table, feedback.FieldID)
	dest := make([]any, len(columns))
	values := make([]any, len(columns))
	for i := range dest {
		dest[i] = &values[i]
	}
	viaSQL := func(n int) func() {
		return func() {
			rows, err := s.DB.SQL.QueryContext(ctx, query, n)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			read := 0
			for rows.Next() {
				if err := rows.Scan(dest...); err != nil {
					t.Fatal(err)
				}
				read++
			}
			if err := rows.Err(); err != nil || read != n {
				t.Fatalf("read %d of %d rows: %v", read, n, err)
			}
		}
	}
	perRow := func(read func(int) func()) float64 {
		return (testing.AllocsPerRun(20, read(40)) - testing.AllocsPerRun(20, read(20))) / 20
	}
	entRow, sqlRow := perRow(viaEnt), perRow(viaSQL)
	t.Logf("allocations per row: %.2f through ent, %.2f through database/sql", entRow, sqlRow)
	// The node and its share of the growing result, and some slack: the
	// count takes in the test server's own work meanwhile.
	if entRow > sqlRow+3.5 {
		t.Errorf("reading a row through ent allocates %.2f times, database/sql %.2f: more than the node ent builds", entRow, sqlRow)
	}
}

// TestReusedScannersForgetTheirValueOnNull: the value scanners that
// ent/entc.go lets queries reuse from row to row must not keep a row's
// value when the next row's column is NULL.
func TestReusedScannersForgetTheirValueOnNull(t *testing.T) {
	var id gid.ID
	var b bytea.Bytes
	for _, step := range []struct {
		dest interface{ Scan(any) error }
		src  any
	}{{&id, int64(42)}, {&id, nil}, {&b, []byte{1, 2}}, {&b, nil}} {
		if err := step.dest.Scan(step.src); err != nil {
			t.Fatal(err)
		}
	}
	if id != 0 || b != nil {
		t.Errorf("after a value and then NULL: ID %v, bytes %v; want 0 and nil", id, b)
	}
}

// TestEveryTypesRowsReadTogetherAreAsReadAlone reads every row of the
// types two feedback loops fill in one query per type, and each row again
// on its own: through the block a query reuses for its rows, a row must
// not show a value of the row scanned before it, in any column (IDs,
// nullable IDs, times, enums, JSON, bytes).
func TestEveryTypesRowsReadTogetherAreAsReadAlone(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		for range 2 {
			loop := s.NewLoop(t)
			for range 3 {
				s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)
			}
		}
		client, ctx := allowedClient(t, s)
		readAlone(ctx, t, "auth tokens", client.AuthToken.Query().All, func(r *ent.AuthToken) gid.ID { return r.ID }, client.AuthToken.Get)
		readAlone(ctx, t, "events", client.Event.Query().All, func(r *ent.Event) gid.ID { return r.ID }, client.Event.Get)
		readAlone(ctx, t, "feedback", client.Feedback.Query().All, func(r *ent.Feedback) gid.ID { return r.ID }, client.Feedback.Get)
		readAlone(ctx, t, "iterations", client.Iteration.Query().All, func(r *ent.Iteration) gid.ID { return r.ID }, client.Iteration.Get)
		readAlone(ctx, t, "memberships", client.Membership.Query().All, func(r *ent.Membership) gid.ID { return r.ID }, client.Membership.Get)
		readAlone(ctx, t, "prototypes", client.Prototype.Query().All, func(r *ent.Prototype) gid.ID { return r.ID }, client.Prototype.Get)
		readAlone(ctx, t, "users", client.User.Query().All, func(r *ent.User) gid.ID { return r.ID }, client.User.Get)
		readAlone(ctx, t, "workspaces", client.Workspace.Query().All, func(r *ent.Workspace) gid.ID { return r.ID }, client.Workspace.Get)
	})
}

// readAlone reads the rows of a type together (all), then each by its ID
// (get), and fails the test where the two differ.
func readAlone[T interface{ String() string }](ctx context.Context, t *testing.T, name string,
	all func(context.Context) ([]T, error), id func(T) gid.ID, get func(context.Context, gid.ID) (T, error)) {
	t.Helper()
	rows, err := all(ctx)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(rows) < 2 {
		t.Fatalf("%s: %d rows; the test needs several", name, len(rows))
	}
	for i, row := range rows {
		alone, err := get(ctx, id(row))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if row.String() != alone.String() {
			t.Errorf("%s %d read with the others:\n%v\nread alone:\n%v", name, i, row, alone)
		}
	}
}

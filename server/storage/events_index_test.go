package storage_test

import (
	"context"
	"database/sql"
	"regexp"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/protoloop/protoloop/server/storage"
)

// The foreign keys of events, by column, each with the index a lookup by
// it must use: deleting the referenced row (a prototype, with its
// participants; a user; a workspace) makes the database look the events
// up by it.
var eventForeignKeys = []struct{ column, index string }{
	{"workspace_id", "event_workspace_id_seq"},
	{"prototype_id", "event_prototype_id_seq"},
	{"actor_user_id", "event_actor_user_id"},
	{"actor_participant_id", "event_actor_participant_id"},
}

// TestEventForeignKeysKeepAnIndex looks the events up by each foreign
// key as the database does when the referenced row is deleted: by a value
// the plan does not know (PostgreSQL plans its referential actions once,
// generically). Every event write pays for each index of events twice on
// PostgreSQL (the pending insert, then the numbering), so an index may
// leave rows out (see ent/schema/event.go), but not those such a lookup
// must find: without a usable index, deleting a prototype would scan
// every event once for it and once for each of its participants.
func TestEventForeignKeysKeepAnIndex(t *testing.T) {
	eachDialect(t, func(t *testing.T, opts storage.Options) {
		db := openMigrated(t, opts)
		conn := lookupConn(t, db)
		for _, fk := range eventForeignKeys {
			if plan, ok := lookupUsesIndex(t, db, conn, fk.column, fk.index); !ok {
				t.Errorf("%s: a lookup of events by %s does not search index %s on it:\n%s", db.Dialect, fk.column, fk.index, plan)
			}
		}
	})
}

// TestEventForeignKeyIndexCheckNoticesAMissingIndex: with enable_seqscan
// off, PostgreSQL scans the whole primary key index (filtering each row)
// rather than the table, so a plan merely naming an index proves nothing;
// without the index on the column, the check above must fail.
func TestEventForeignKeyIndexCheckNoticesAMissingIndex(t *testing.T) {
	eachDialect(t, func(t *testing.T, opts storage.Options) {
		db := openMigrated(t, opts)
		conn := lookupConn(t, db)
		fk := eventForeignKeys[2]
		if _, err := conn.ExecContext(context.Background(), "DROP INDEX "+fk.index); err != nil {
			t.Fatal(err)
		}
		if plan, ok := lookupUsesIndex(t, db, conn, fk.column, fk.index); ok {
			t.Errorf("%s: index %s dropped, yet the lookup by %s passes the check:\n%s", db.Dialect, fk.index, fk.column, plan)
		}
	})
}

// lookupConn returns a connection of db set up to plan as PostgreSQL
// plans its referential actions.
func lookupConn(t *testing.T, db *storage.DB) *sql.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if db.Dialect == dialect.Postgres {
		// The table is empty: without these, a sequential scan is
		// cheapest whatever the indexes.
		for _, set := range []string{"SET enable_seqscan = off", "SET plan_cache_mode = force_generic_plan"} {
			if _, err := conn.ExecContext(ctx, set); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { conn.ExecContext(context.Background(), "RESET ALL") })
	}
	return conn
}

// lookupUsesIndex explains a lookup of events by column and reports
// whether it searches index by that column: on PostgreSQL a scan (plain or
// bitmap) of the index with an Index Cond on the column, on SQLite a SEARCH
// using it.
func lookupUsesIndex(t *testing.T, db *storage.DB, conn *sql.Conn, column, index string) (string, bool) {
	t.Helper()
	if db.Dialect != dialect.Postgres {
		plan := explain(t, conn, "EXPLAIN QUERY PLAN SELECT 1 FROM events WHERE "+column+" = ?", 1)
		search := regexp.MustCompile(`SEARCH events USING (COVERING )?INDEX ` + index + ` \(` + column + `=\?\)`)
		return plan, search.MatchString(plan)
	}
	name := "by_" + column
	if _, err := conn.ExecContext(context.Background(), "PREPARE "+name+"(bigint) AS SELECT 1 FROM ONLY events x WHERE $1 OPERATOR(pg_catalog.=) "+column+" FOR KEY SHARE OF x"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "DEALLOCATE "+name)
	plan := explain(t, conn, "EXPLAIN EXECUTE "+name+"(1)")
	scan := regexp.MustCompile(`(Index (Only )?Scan using ` + index + ` on events|Bitmap Index Scan on ` + index + `)\b`)
	cond := regexp.MustCompile(`Index Cond: \(` + column + ` = \$1\)`)
	return plan, scan.MatchString(plan) && cond.MatchString(plan)
}

// TestEventActorIndexesLeaveOutRowsWithoutTheirActor: an event has a user
// or a participant as its actor, not both, so each actor index leaves out
// the rows without its actor, which no lookup by an actor asks for; each
// event write then updates one of them, not both.
func TestEventActorIndexesLeaveOutRowsWithoutTheirActor(t *testing.T) {
	eachDialect(t, func(t *testing.T, opts storage.Options) {
		db := openMigrated(t, opts)
		ctx := context.Background()
		for _, column := range []string{"actor_user_id", "actor_participant_id"} {
			index := "event_" + column
			var def string
			q := `SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1`
			if db.Dialect != dialect.Postgres {
				q = `SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`
			}
			if err := db.SQL.QueryRowContext(ctx, q, index).Scan(&def); err != nil {
				t.Fatalf("index %s: %v", index, err)
			}
			if !strings.Contains(def, column+" IS NOT NULL") {
				t.Errorf("%s: index %s keeps the rows without its actor: %s", db.Dialect, index, def)
			}
		}
	})
}

// explain returns the plan of an EXPLAIN statement, a line per row, its
// columns joined (SQLite's EXPLAIN QUERY PLAN has several).
func explain(t *testing.T, conn *sql.Conn, query string, args ...any) string {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	for rows.Next() {
		values := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range values {
			ptrs[i] = &values[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			plan.WriteString(v.String + " ")
		}
		plan.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String()
}

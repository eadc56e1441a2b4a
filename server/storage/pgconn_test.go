package storage_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"entgo.io/ent/schema/field"

	"github.com/protoloop/protoloop/ent/authtoken"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/bytea"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/storage"
)

// TestBytesFieldsAreBytea holds the rule PostgreSQL connections send
// parameters by (storage.NewPostgresConnector): a bytes field whose Go type
// were a plain []byte would be sent as text, and read as bytea's text form.
func TestBytesFieldsAreBytea(t *testing.T) {
	g, err := entc.LoadGraph("../../ent/schema", &gen.Config{})
	if err != nil {
		t.Fatalf("load ent schema: %v", err)
	}
	seen := 0
	for _, n := range g.Nodes {
		for _, f := range n.Fields {
			if f.Type.Type != field.TypeBytes {
				continue
			}
			seen++
			if rt := f.Type.RType; rt == nil || rt.PkgPath != "github.com/protoloop/protoloop/ent/schema/bytea" || rt.Name != "Bytes" {
				t.Errorf("%s.%s is a bytes field without GoType(bytea.Bytes(nil))", n.Name, f.Name)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no bytes field found: is the schema path right?")
	}
}

// TestParametersKeepTheirTypes writes and reads back what PostgreSQL
// connections send in each format: hashes (binary bytea, with the bytes
// bytea's text form would misread), JSON fields (text jsonb), through ent
// and through hand-written SQL.
func TestParametersKeepTheirTypes(t *testing.T) {
	eachDialect(t, func(t *testing.T, opts storage.Options) {
		db := openMigrated(t, opts)
		ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
		hash := bytea.Bytes{0, '\\', 'x', 0xff, '\'', 0x80, 'a'}
		scopes := []string{"read", `"quoted" \ back`, "ünïcode"}
		u, err := db.Client.User.Create().SetEmail("h@example.org").SetName("h").SetPasswordHash("x").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Client.AuthToken.Create().SetUserID(u.ID).SetTokenHash(hash).SetScopes(scopes).Save(ctx); err != nil {
			t.Fatalf("create token: %v", err)
		}
		tok, err := db.Client.AuthToken.Query().Where(authtoken.TokenHash(hash)).Only(ctx)
		if err != nil {
			t.Fatalf("token by hash: %v", err)
		}
		if string(tok.TokenHash) != string(hash) || len(tok.Scopes) != len(scopes) || tok.Scopes[1] != scopes[1] || tok.Scopes[2] != scopes[2] {
			t.Errorf("token read back as hash %x scopes %q, want %x %q", tok.TokenHash, tok.Scopes, hash, scopes)
		}
		if n, err := db.Client.AuthToken.Query().Where(authtoken.TokenHashIn(hash[:3], hash)).Count(ctx); err != nil || n != 1 {
			t.Errorf("tokens with hash in (prefix, hash) = %d, %v; want 1", n, err)
		}

		ws, err := db.Client.Workspace.Create().SetName("w").SetSlug("w").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		payload := map[string]any{"title": `a "b" \ c`, "n": 3.5}
		e, err := db.Client.Event.Create().SetID(gid.New(gid.Event)).SetSeq(1).SetKind(event.KindWORKSPACE_CREATED).
			SetWorkspaceID(ws.ID).SetSubjectID(ws.ID).SetPayload(payload).Save(ctx)
		if err != nil {
			t.Fatalf("create event: %v", err)
		}
		e, err = db.Client.Event.Get(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.Payload["title"] != payload["title"] || e.Payload["n"] != payload["n"] {
			t.Errorf("payload read back as %v, want %v", e.Payload, payload)
		}

		// Hand-written SQL: a bytea.Bytes is a bytea, a []byte is text.
		// Twice, on one connection: the second call runs the statement
		// the first prepared, whose bytea and integer columns come back
		// in binary.
		conn, err := db.SQL.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for range 2 {
			var owner int64
			var got []byte
			if err := conn.QueryRowContext(ctx, `SELECT user_id, token_hash FROM auth_tokens WHERE token_hash = $1`, hash).Scan(&owner, &got); err != nil || gid.ID(owner) != u.ID || string(got) != string(hash) {
				t.Errorf("token owner and hash by hand-written SQL = %d %x, %v; want %d %x", owner, got, err, u.ID, hash)
			}
		}
		for range 2 {
			if opts.DatabaseURL == "" {
				break
			}
			var title string
			if err := conn.QueryRowContext(ctx, `SELECT $1::jsonb ->> 'title'`, []byte(`{"title": "x"}`)).Scan(&title); err != nil || title != "x" {
				t.Errorf("jsonb from []byte = %q, %v; want x", title, err)
			}
			var null bool
			if err := conn.QueryRowContext(ctx, `SELECT $1::jsonb IS NULL AND $2::bytea IS NULL`, []byte(nil), bytea.Bytes(nil)).Scan(&null); err != nil || !null {
				t.Errorf("nil []byte and bytea.Bytes are NULL: %v, %v", null, err)
			}
		}
	})
}

// TestStatementsArePreparedOncePerConnection runs a statement with
// parameters twice on one PostgreSQL connection: the connection has it
// prepared once (pg_prepared_statements of its own session), and both
// calls ran that statement.
func TestStatementsArePreparedOncePerConnection(t *testing.T) {
	db := open(t, storage.Options{DatabaseURL: postgresURL(t)})
	ctx := context.Background()
	conn, err := db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const query = `SELECT $1::int + 1`
	for i := range 2 {
		var n int
		if err := conn.QueryRowContext(ctx, query, i).Scan(&n); err != nil || n != i+1 {
			t.Fatalf("%s with %d = %d, %v", query, i, n, err)
		}
	}
	var prepared, runs int
	err = conn.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(generic_plans + custom_plans), 0) FROM pg_prepared_statements WHERE statement = $1`, query).Scan(&prepared, &runs)
	if err != nil {
		t.Fatal(err)
	}
	if prepared != 1 || runs != 2 {
		t.Errorf("the connection has %q prepared %d times, run %d times; want once, run twice", query, prepared, runs)
	}
}

// TestInvalidatedStatementsArePreparedAgain changes the columns a cached
// statement returns: outside a transaction the statement is prepared again
// and answers; inside one the transaction has failed, and the error is
// returned for the caller to roll back, after which the statement works.
func TestInvalidatedStatementsArePreparedAgain(t *testing.T) {
	db := open(t, storage.Options{DatabaseURL: postgresURL(t)})
	ctx := context.Background()
	if _, err := db.SQL.ExecContext(ctx, `CREATE TABLE t (a int)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL.ExecContext(ctx, `INSERT INTO t VALUES ($1)`, 1); err != nil {
		t.Fatal(err)
	}
	conn, err := db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const query = `SELECT * FROM t WHERE a = $1`
	columns := func(q interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}) (int, error) {
		rows, err := q.QueryContext(ctx, query, 1)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		cols, err := rows.Columns()
		return len(cols), err
	}
	if n, err := columns(conn); err != nil || n != 1 {
		t.Fatalf("columns before = %d, %v; want 1", n, err)
	}
	if _, err := db.SQL.ExecContext(ctx, `ALTER TABLE t ADD COLUMN b int`); err != nil {
		t.Fatal(err)
	}
	if n, err := columns(conn); err != nil || n != 2 {
		t.Errorf("columns after ADD COLUMN = %d, %v; want 2", n, err)
	}

	if _, err := db.SQL.ExecContext(ctx, `ALTER TABLE t ADD COLUMN c int`); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := columns(tx); err == nil || !strings.Contains(err.Error(), "cached plan must not change result type") {
		t.Errorf("in a transaction, after ADD COLUMN: %v; want the cached plan error", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n, err := columns(conn); err != nil || n != 3 {
		t.Errorf("columns after the rollback = %d, %v; want 3", n, err)
	}
}

// TestCachedStatementWhileRowsAreOpen starts a statement while another's
// rows are still open on the same connection: an error, as lib/pq's own,
// rather than one reading the other's messages.
func TestCachedStatementWhileRowsAreOpen(t *testing.T) {
	db := open(t, storage.Options{DatabaseURL: postgresURL(t)})
	ctx := context.Background()
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT generate_series(1, $1::int)`, 3)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT $1::int`, 7).Scan(&n); err == nil {
		t.Errorf("second statement with the first's rows open = %d, nil; want an error", n)
	}
	sum := 0
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		sum += n
	}
	if err := rows.Err(); err != nil || sum != 6 {
		t.Errorf("first rows sum to %d, %v; want 6", sum, err)
	}
	rows.Close()
	if err := tx.QueryRowContext(ctx, `SELECT $1::int`, 7).Scan(&n); err != nil || n != 7 {
		t.Errorf("after closing the rows = %d, %v; want 7", n, err)
	}
}

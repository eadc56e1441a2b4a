package storage_test

import (
	"context"
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
		var owner int64
		if err := db.SQL.QueryRowContext(ctx, `SELECT user_id FROM auth_tokens WHERE token_hash = $1`, hash).Scan(&owner); err != nil || gid.ID(owner) != u.ID {
			t.Errorf("token owner by hand-written SQL = %d, %v; want %d", owner, err, u.ID)
		}
		if opts.DatabaseURL != "" {
			var title string
			if err := db.SQL.QueryRowContext(ctx, `SELECT $1::jsonb ->> 'title'`, []byte(`{"title": "x"}`)).Scan(&title); err != nil || title != "x" {
				t.Errorf("jsonb from []byte = %q, %v; want x", title, err)
			}
			var null bool
			if err := db.SQL.QueryRowContext(ctx, `SELECT $1::jsonb IS NULL AND $2::bytea IS NULL`, []byte(nil), bytea.Bytes(nil)).Scan(&null); err != nil || !null {
				t.Errorf("nil []byte and bytea.Bytes are NULL: %v, %v", null, err)
			}
		}
	})
}

package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/storage"
)

// The fuzz targets below drive the server's handler in process, over a
// SQLite database of their own, and require of every input what a client
// may count on: no panic, no 5xx, and a GraphQL response whose errors all
// carry extensions.code.

// fuzzHandler returns the handler of a server over a fresh SQLite
// database, and the token of a user with a workspace and a prototype in it.
func fuzzHandler(f *testing.F) (http.Handler, string) {
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{DataDir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	h := server.New(db, server.Config{Logger: slog.New(slog.DiscardHandler)}).Handler()

	do := func(token, query string, vars map[string]any) map[string]any {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var r struct {
			Data   map[string]any
			Errors []any
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || len(r.Errors) > 0 {
			f.Fatalf("%.40s: %v %s", query, err, rec.Body.String())
		}
		return r.Data
	}
	up := do("", `mutation { signUp(input: {email: "fuzz@example.org", name: "Fuzz", password: "long enough password"}) { token } }`, nil)
	token := up["signUp"].(map[string]any)["token"].(string)
	ws := do(token, `mutation { createWorkspace(input: {name: "Fuzz", slug: "fuzz"}) { id } }`, nil)
	wsID := ws["createWorkspace"].(map[string]any)["id"].(string)
	for _, slug := range []string{"one", "two", "three"} {
		do(token, `mutation($in: CreatePrototypeInput!) { createPrototype(input: $in) { id } }`, map[string]any{"in": map[string]any{
			"workspaceID": wsID, "title": "Fuzz " + slug, "slug": slug, "problem": "p", "missionLink": "m",
		}})
	}
	return h, token
}

// requireCoded fails t unless rec holds a well-formed GraphQL answer: not
// a 5xx, JSON, and every error with a code.
func requireCoded(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("HTTP %d: %s", rec.Code, rec.Body.String())
	}
	var r struct {
		Data   json.RawMessage
		Errors []struct {
			Message    string
			Extensions map[string]any
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("HTTP %d, not JSON: %v: %.300s", rec.Code, err, rec.Body.String())
	}
	if len(r.Errors) == 0 && len(r.Data) == 0 {
		t.Fatalf("HTTP %d, neither data nor errors: %.300s", rec.Code, rec.Body.String())
	}
	for _, e := range r.Errors {
		if code, _ := e.Extensions["code"].(string); code == "" {
			t.Fatalf("HTTP %d, an error without a code: %+v", rec.Code, e)
		}
		if code, _ := e.Extensions["code"].(string); code == "INTERNAL" && !strings.Contains(e.Message, "canceled") {
			t.Fatalf("HTTP %d, an internal error: %+v", rec.Code, e)
		}
	}
}

// FuzzPOST fuzzes the body of a POST /graphql.
func FuzzPOST(f *testing.F) {
	h, token := fuzzHandler(f)
	for _, seed := range []string{
		`{"query":"{ __typename }"}`,
		`{"query":"query($s: String!) { workspace(slug: $s) { id name prototypes(first: 2) { edges { cursor node { title } } } } }","variables":{"s":"fuzz"}}`,
		`{"query":"query($c: Cursor) { viewer { memberships { workspace { prototypes(first: 1, after: $c) { totalCount } } } } }","variables":{"c":"gqFp"}}`,
		`{"query":"{ node(id: \"pro_0000000000\") { id } nodes(ids: [\"x\"]) { id } }"}`,
		`{"query":"mutation { logIn(input: {email: \"x@example.org\", password: \"x\"}) { token } }"}`,
		`{"query":"{ viewer { id ...F } } fragment F on User { ...F }"}`,
		`{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"00"}}}`,
		`{"query":"{ __typename }","operationName":"X","variables":[]}`,
		`[{"query":"{ __typename }"}]`,
		`{"query":1}`,
		`{}`,
		`null`,
		``,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		requireCoded(t, rec)
	})
}

// FuzzGET fuzzes the query string of a GET /graphql.
func FuzzGET(f *testing.F) {
	h, token := fuzzHandler(f)
	for _, seed := range []string{
		"query=%7B+__typename+%7D",
		"query=mutation+%7B+logOut+%7D",
		"query=query+Q+%7B+__typename+%7D+mutation+M+%7B+logOut+%7D&operationName=M",
		"query=query(%24s%3A+String!)+%7B+workspace(slug%3A+%24s)+%7B+id+%7D+%7D&variables=%7B%22s%22%3A%22fuzz%22%7D",
		`extensions={"persistedQuery":{"version":1,"sha256Hash":"ab"}}`,
		"variables=%5B%5D&query=%7B%7D",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		req, err := http.NewRequest(http.MethodGet, "/graphql?"+rawQuery, nil)
		if err != nil {
			return // not a URL a client could send
		}
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		requireCoded(t, rec)
	})
}

// FuzzCursor fuzzes the after and before cursors of connections at the
// top and nested, which entgql decodes in different places.
func FuzzCursor(f *testing.F) {
	h, token := fuzzHandler(f)
	// A real cursor, to mutate from.
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(
		`{"query":"{ workspace(slug: \"fuzz\") { prototypes(first: 1) { edges { cursor } } } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var r struct {
		Data struct {
			Workspace struct {
				Prototypes struct{ Edges []struct{ Cursor string } }
			}
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || len(r.Data.Workspace.Prototypes.Edges) == 0 {
		f.Fatalf("no cursor: %v %s", err, rec.Body.String())
	}
	f.Add(r.Data.Workspace.Prototypes.Edges[0].Cursor)
	for _, seed := range []string{"", "gqFp", "gaFpzwAAAAAAAAAB", "=", "null", "gqFpwKF2kZA="} {
		f.Add(seed)
	}
	const query = `query($c: Cursor) {
		workspace(slug: "fuzz") {
			a: prototypes(first: 2, after: $c) { totalCount edges { cursor } }
			b: prototypes(last: 2, before: $c, orderBy: {field: TITLE}) { edges { cursor } }
		}
		viewer { memberships { workspace { prototypes(first: 1, after: $c) { edges { node { iterations(first: 1, after: $c) { totalCount } } } } } } }
	}`
	f.Fuzz(func(t *testing.T, cursor string) {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{"c": cursor}})
		req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		requireCoded(t, rec)
	})
}

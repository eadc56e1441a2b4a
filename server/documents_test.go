package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/protoloop/protoloop/server"
)

func sha(doc string) string {
	h := sha256.Sum256([]byte(doc))
	return hex.EncodeToString(h[:])
}

// persisted is the extensions of a request naming a document by hash.
func persisted(hash string) map[string]any {
	return map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
}

func TestTrustedDocuments(t *testing.T) {
	const (
		listed   = `query Listed { __typename }`
		signUp   = `mutation SignUp($in: SignUpInput!) { signUp(input: $in) { token } }`
		unlisted = `query Unlisted { viewer { id } }`
	)
	manifest := map[string]string{sha(listed): listed, sha(signUp): signUp}
	docs, err := server.NewTrustedDocuments(manifest)
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, server.Config{TrustedDocuments: docs})

	for _, tc := range []struct {
		name string
		req  request
		code string // "" when it runs
	}{
		{"a listed document named by hash runs", request{Extensions: persisted(sha(listed))}, ""},
		{"a listed document sent as text runs", request{Query: listed}, ""},
		{"a listed document sent as text with its hash runs", request{Query: listed, Extensions: persisted(sha(listed))}, ""},
		{"an unlisted hash is refused", request{Extensions: persisted(sha(unlisted))}, "PERSISTED_QUERY_NOT_IN_LIST"},
		{"an unlisted document is refused", request{Query: unlisted}, "QUERY_NOT_IN_SAFELIST"},
		{"an unlisted document under a listed hash is refused", request{Query: unlisted, Extensions: persisted(sha(listed))}, "QUERY_NOT_IN_SAFELIST"},
		{"a listed document changed by a blank is refused", request{Query: listed + " "}, "QUERY_NOT_IN_SAFELIST"},
		{"a listed document named by documentId runs", request{DocumentID: "sha256:" + sha(listed)}, ""},
		{"a listed document named by a bare documentId runs", request{DocumentID: strings.ToUpper(sha(listed))}, ""},
		{"an unlisted documentId is refused", request{DocumentID: "sha256:" + sha(unlisted)}, "PERSISTED_QUERY_NOT_IN_LIST"},
		{"a documentId of another algorithm is refused", request{DocumentID: "md5:" + sha(listed)[:32]}, "BAD_USER_INPUT"},
		{"a documentId and a persistedQuery naming different documents are refused", request{DocumentID: sha(listed), Extensions: persisted(sha(signUp))}, "BAD_USER_INPUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r, _ := send(t, s.url, nil, tc.req)
			switch {
			case tc.code == "" && len(r.Errors) > 0:
				t.Fatalf("errors %+v, want it to run", r.Errors)
			case tc.code == "" && r.Data["__typename"] != "Query":
				t.Fatalf("data %v, want the listed query's", r.Data)
			case tc.code != "" && (len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != tc.code):
				t.Fatalf("errors %+v, want extensions.code %s", r.Errors, tc.code)
			}
		})
	}

	t.Run("a listed mutation named by hash over GET is refused with 405", func(t *testing.T) {
		ext, _ := json.Marshal(persisted(sha(signUp)))
		resp := get(t, s.url+"/graphql?"+url.Values{"extensions": {string(ext)}}.Encode(), nil)
		requireError(t, resp, http.StatusMethodNotAllowed, "BAD_USER_INPUT")
	})

	t.Run("GET runs a listed query named by documentId, and refuses a mutation with 405", func(t *testing.T) {
		resp := get(t, s.url+"/graphql?"+url.Values{"documentId": {"sha256:" + sha(listed)}}.Encode(), nil)
		var r gqlResponse
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusOK || r.Data["__typename"] != "Query" {
			t.Fatalf("HTTP %d: %+v (%v), want the listed query's data", resp.StatusCode, r, err)
		}
		resp = get(t, s.url+"/graphql?"+url.Values{"documentId": {"sha256:" + sha(signUp)}}.Encode(), nil)
		requireError(t, resp, http.StatusMethodNotAllowed, "BAD_USER_INPUT")
		resp = get(t, s.url+"/graphql?"+url.Values{"documentId": {"sha256:xyz"}}.Encode(), nil)
		requireError(t, resp, http.StatusBadRequest, "BAD_USER_INPUT")
	})

	for _, proto := range protocols {
		t.Run(proto+"/websockets run only listed documents too", func(t *testing.T) {
			c := dial(t, s.url, proto, nil)
			c.init(nil)
			typ := "subscribe"
			if proto == graphQLWS {
				typ = "start"
			}
			for id, payload := range map[string]any{
				"unlisted": map[string]any{"query": `subscription { __typename }`},
				"hash":     map[string]any{"extensions": persisted(sha(unlisted))},
			} {
				raw, _ := json.Marshal(payload)
				c.send(wsMessage{Type: typ, ID: id, Payload: raw})
				// A result with the error and no data (gqlgen sends refusals
				// that are not parse or validation errors that way).
				m := c.next()
				for m.Type == "complete" && m.ID != id {
					m = c.next() // the previous operation's
				}
				if m.ID != id || m.Type == "complete" || !strings.Contains(string(m.Payload), "NOT_IN") ||
					strings.Contains(string(m.Payload), "__typename\":") {
					t.Fatalf("%s: got %s %s %s, want a refusal", id, m.ID, m.Type, m.Payload)
				}
			}
		})
	}
}

func TestTrustedDocumentsManifests(t *testing.T) {
	const doc = `query { __typename }`
	write := func(t *testing.T, content string) string {
		path := filepath.Join(t.TempDir(), "documents.json")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name, content string
		ok            bool
	}{
		{"GraphQL Code Generator's persisted documents", `{"` + sha(doc) + `": "query { __typename }"}`, true},
		{"an Apollo persisted query manifest", `{"format": "apollo-persisted-query-manifest", "version": 1,
			"operations": [{"id": "` + sha(doc) + `", "name": "Q", "type": "query", "body": "query { __typename }"}]}`, true},
		{"a hash that is not the document's", `{"` + sha("other") + `": "query { __typename }"}`, false},
		{"another format", `{"format": "relay"}`, false},
		{"not JSON", `query { __typename }`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := server.LoadTrustedDocuments(write(t, tc.content))
			if tc.ok && (err != nil || docs.Len() != 1) {
				t.Fatalf("got %v, %v; want one document", docs, err)
			}
			if !tc.ok && err == nil {
				t.Fatal("loaded")
			}
			t.Log(err)
		})
	}
	if _, err := server.LoadTrustedDocuments(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("loaded a missing file")
	}
}

func TestAutomaticPersistedQueries(t *testing.T) {
	s := start(t, server.Config{})
	const doc = `query APQ { __typename }`

	_, r, _ := send(t, s.url, nil, request{Extensions: persisted(sha(doc))})
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("an unknown hash: errors %+v, want PERSISTED_QUERY_NOT_FOUND", r.Errors)
	}
	if _, r, _ = send(t, s.url, nil, request{Query: doc, Extensions: persisted(sha(doc))}); len(r.Errors) > 0 {
		t.Fatalf("registering: %+v", r.Errors)
	}
	if _, r, _ = send(t, s.url, nil, request{Extensions: persisted(sha(doc))}); len(r.Errors) > 0 || r.Data["__typename"] != "Query" {
		t.Fatalf("by hash: %v %+v", r.Data, r.Errors)
	}
	if _, r, _ = send(t, s.url, nil, request{DocumentID: "sha256:" + sha(doc)}); len(r.Errors) > 0 || r.Data["__typename"] != "Query" {
		t.Fatalf("by documentId: %v %+v", r.Data, r.Errors)
	}
	if _, r, _ = send(t, s.url, nil, request{Query: `{ viewer { id } }`, Extensions: persisted(sha(doc))}); len(r.Errors) == 0 {
		t.Fatal("a document under another's hash ran")
	}
	// Documents registered by hash meet the limits like any other.
	big := "{ viewer { " + strings.Repeat("id ", 1000) + "} }"
	_, r, _ = send(t, s.url, nil, request{Query: big, Extensions: persisted(sha(big))})
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "TOO_MANY_FIELDS" {
		t.Fatalf("a large document by APQ: errors %+v, want TOO_MANY_FIELDS", r.Errors)
	}

	t.Run("a mutation registered by hash cannot then run over GET", func(t *testing.T) {
		m := `mutation M { logIn(input: {email: "x@example.org", password: "xxxxxxxxxxxx"}) { token } }`
		send(t, s.url, nil, request{Query: m, Extensions: persisted(sha(m))})
		ext, _ := json.Marshal(persisted(sha(m)))
		resp := get(t, s.url+"/graphql?"+url.Values{"extensions": {string(ext)}}.Encode(), nil)
		requireError(t, resp, http.StatusMethodNotAllowed, "BAD_USER_INPUT")
	})
}

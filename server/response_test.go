package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/protoloop/protoloop/server/servertest"
)

// TestResponsesAreWrittenAsJSONMarshalWouldWriteThem checks that the
// server's own response writer, which copies the executor's data instead
// of re-encoding it, gives the bytes gqlgen's transports gave: compact,
// errors first, and with <, >, & and U+2028 escaped as json.Marshal
// escapes them for pages that embed a response in HTML.
func TestResponsesAreWrittenAsJSONMarshalWouldWriteThem(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		u := s.NewUser(t, "<b>Tom & Jerry</b>\u2028!")
		const query = `{ viewer { id name } missing: node(id: "not an id") { id } }`
		for _, tc := range []struct {
			name string
			req  func() *http.Request
		}{
			{"over POST", func() *http.Request {
				body, _ := json.Marshal(map[string]any{"query": query})
				r, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				return r
			}},
			{"over GET", func() *http.Request {
				r, _ := http.NewRequest(http.MethodGet, s.URL+"/graphql?query="+url.QueryEscape(query), nil)
				return r
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req := tc.req()
				req.Header.Set("Authorization", "Bearer "+u.Token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				raw, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "application/json" {
					t.Fatalf("HTTP %d, Content-Type %q: %s", resp.StatusCode, ct, raw)
				}
				var r graphql.Response
				if err := json.Unmarshal(raw, &r); err != nil {
					t.Fatalf("not JSON: %v: %s", err, raw)
				}
				if len(r.Errors) != 1 || !bytes.Contains(r.Data, []byte(`\u003cb\u003eTom \u0026 Jerry\u003c/b\u003e\u2028!`)) {
					t.Fatalf("want the viewer's name escaped and one error, got %s", raw)
				}
				want, err := json.Marshal(&r)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(raw, want) {
					t.Errorf("response\n%s\nwant, as json.Marshal writes it,\n%s", raw, want)
				}
			})
		}
	})
}

package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/protoloop/protoloop/server"
)

func TestCORS(t *testing.T) {
	const app = "https://app.example.org"
	s := start(t, server.Config{AllowedOrigins: []string{app}})
	query := `{"query":"{ __typename }"}`

	preflight := func(t *testing.T, origin string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodOptions, s.url+"/graphql", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		return do(t, req)
	}

	t.Run("an allowed origin's preflight is answered", func(t *testing.T) {
		resp := preflight(t, app)
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("status = %d, want 204", resp.StatusCode)
		}
		h := resp.Header
		if got := h.Get("Access-Control-Allow-Origin"); got != app {
			t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, app)
		}
		if got := h.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
			t.Errorf("Access-Control-Allow-Methods = %q, want POST in it", got)
		}
		if got := strings.ToLower(h.Get("Access-Control-Allow-Headers")); !strings.Contains(got, "authorization") || !strings.Contains(got, "content-type") {
			t.Errorf("Access-Control-Allow-Headers = %q, want Authorization and Content-Type", got)
		}
	})
	t.Run("another origin's preflight is refused", func(t *testing.T) {
		resp := preflight(t, "https://evil.example")
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Access-Control-Allow-Origin = %q, want none", got)
		}
		requireError(t, resp, http.StatusForbidden, "FORBIDDEN")
	})
	t.Run("an allowed origin's request runs with CORS headers", func(t *testing.T) {
		resp := post(t, s.url+"/graphql", http.Header{"Origin": {app}}, strings.NewReader(query))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, want 200", resp.StatusCode)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != app {
			t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, app)
		}
		if !strings.Contains(resp.Header.Get("Vary"), "Origin") {
			t.Errorf("Vary = %q, want Origin in it: caches must not share answers across origins", resp.Header.Get("Vary"))
		}
	})
	t.Run("another origin's request is refused before it runs", func(t *testing.T) {
		resp := post(t, s.url+"/graphql", http.Header{"Origin": {"https://evil.example"}}, strings.NewReader(query))
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Access-Control-Allow-Origin = %q, want none", got)
		}
		requireError(t, resp, http.StatusForbidden, "FORBIDDEN")
	})
	t.Run("the server's own origin and clients without one are served", func(t *testing.T) {
		for _, h := range []http.Header{{"Origin": {s.url}}, nil} {
			if resp := post(t, s.url+"/graphql", h, strings.NewReader(query)); resp.StatusCode != http.StatusOK {
				t.Errorf("Origin %q: status = %d, want 200", h.Get("Origin"), resp.StatusCode)
			}
		}
	})
	t.Run(`"*" allows any origin`, func(t *testing.T) {
		any := start(t, server.Config{AllowedOrigins: []string{"*"}})
		resp := post(t, any.url+"/graphql", http.Header{"Origin": {"https://elsewhere.example"}}, strings.NewReader(query))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "https://elsewhere.example" {
			t.Errorf("status %d, Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	})
}

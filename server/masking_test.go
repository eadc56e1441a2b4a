package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/servertest"
)

// driverWords are bits of text that only a database driver, SQL or a
// constraint name would put in an error message.
var driverWords = []string{"sql", "pq:", "sqlite", "constraint", "database is closed", "duplicate key", "unique", "violates", "users_", "SQLSTATE"}

// requireMasked fails t if an error message leaks database detail.
func requireMasked(t *testing.T, messages ...string) {
	t.Helper()
	for _, m := range messages {
		for _, w := range driverWords {
			if strings.Contains(strings.ToLower(m), strings.ToLower(w)) {
				t.Errorf("message %q leaks %q", m, w)
			}
		}
	}
}

func TestDatabaseErrorsAreMasked(t *testing.T) {
	const signUp = `mutation($in: SignUpInput!) { signUp(input: $in) { token } }`
	signUpVars := func(email string) map[string]any {
		return map[string]any{"in": map[string]any{"email": email, "name": "Masked", "password": "long enough password"}}
	}
	for _, b := range servertest.Backends() {
		t.Run(string(b)+"/a closed database is INTERNAL, with the detail in the log only", func(t *testing.T) {
			s := startOn(t, b, server.Config{})
			if err := s.db.Close(); err != nil {
				t.Fatal(err)
			}
			_, r, _ := send(t, s.url, nil, request{Query: signUp, Variables: signUpVars("closed@example.org")})
			if len(r.Errors) == 0 {
				t.Fatalf("signUp ran on a closed database: %v", r.Data)
			}
			for _, e := range r.Errors {
				if e.Extensions["code"] != "INTERNAL" {
					t.Errorf("error %+v, want extensions.code INTERNAL", e)
				}
				requireMasked(t, e.Message)
			}
			waitForLog(t, s.logs, "database is closed")
		})
		t.Run(string(b)+"/a unique violation is CONFLICT without the constraint", func(t *testing.T) {
			s := startOn(t, b, server.Config{})
			// Concurrently, so that some get past any check before the
			// insert and meet the database's unique index.
			const n = 8
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				messages []string
				codes    = map[string]int{}
			)
			for range n {
				wg.Go(func() {
					_, r, _ := sendAsync(s.url, request{Query: signUp, Variables: signUpVars("twice@example.org")})
					mu.Lock()
					defer mu.Unlock()
					if r == nil {
						codes["no response"]++
						return
					}
					if len(r.Errors) == 0 {
						codes["ok"]++
					}
					for _, e := range r.Errors {
						codes[fmt.Sprint(e.Extensions["code"])]++
						messages = append(messages, e.Message)
					}
				})
			}
			wg.Wait()
			t.Logf("outcomes: %v", codes)
			if codes["ok"] != 1 || codes["CONFLICT"] != n-1 {
				t.Errorf("outcomes %v, want 1 ok and %d CONFLICT", codes, n-1)
			}
			requireMasked(t, messages...)
		})
	}
}

// sendAsync is send for goroutines: it returns nil instead of failing.
func sendAsync(base string, req request) (*http.Response, *gqlResponse, error) {
	body := fmt.Sprintf(`{"query": %q, "variables": %s}`, req.Query, mustJSON(req.Variables))
	hr, err := http.NewRequestWithContext(context.Background(), http.MethodPost, base+"/graphql", strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var r gqlResponse
	if err := jsonDecode(resp.Body, &r); err != nil {
		return resp, nil, err
	}
	return resp, &r, nil
}

func mustJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(data)
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

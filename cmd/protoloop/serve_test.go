package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/protoloop/protoloop/server/servertest"
)

// startServe runs `protoloop serve` with args and env until the test ends,
// and returns the address it serves at (http://host:port).
func startServe(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr servertest.Buffer
	done := make(chan int, 1)
	args = append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	go func() {
		done <- run(ctx, args, func(name string) string { return env[name] }, &servertest.Buffer{}, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for line := range strings.Lines(stderr.String()) {
			var entry struct{ Msg, GraphQL string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "serving" {
				return strings.TrimSuffix(entry.GraphQL, "/graphql")
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d:\n%s", code, stderr.String())
		default:
		}
	}
	t.Fatalf("serve did not say where it listens:\n%s", stderr.String())
	return ""
}

func TestServeInProductionWithTrustedDocuments(t *testing.T) {
	const doc = `query Listed { __typename }`
	sum := sha256.Sum256([]byte(doc))
	manifest := filepath.Join(t.TempDir(), "documents.json")
	if err := os.WriteFile(manifest, []byte(`{"`+hex.EncodeToString(sum[:])+`": "`+doc+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := startServe(t, map[string]string{"PROTOLOOP_ENV": "production"}, "--trusted-documents", manifest)

	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET / = %d in production, want 404 (no GraphiQL)", resp.StatusCode)
	}
	for query, want := range map[string]string{doc: `"Query"`, `{ __typename }`: "QUERY_NOT_IN_SAFELIST"} {
		body, _ := json.Marshal(map[string]string{"query": query})
		resp, err := http.Post(base+"/graphql", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !strings.Contains(string(got), want) {
			t.Errorf("%s: got %s, %v; want %s in it", query, got, err, want)
		}
	}
}

func TestServeRefusesBadHardeningFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"an unknown environment", []string{"--env", "staging"}, nil, "development or production"},
		{"an unknown environment from PROTOLOOP_ENV", nil, map[string]string{"PROTOLOOP_ENV": "prod"}, "development or production"},
		{"a missing trusted documents file", []string{"--trusted-documents", "/nonexistent/documents.json"}, nil, "trusted documents"},
		{"a limit that is not a number", []string{"--max-depth", "deep"}, nil, "max-depth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, tc.args...)
			code, _, stderr := protoloop(t, context.Background(), tc.env, args...)
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want a failure mentioning %q:\n%s", code, tc.want, stderr)
			}
		})
	}
}

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/servertest"
)

// serveConfig parses serve's timeout and limit flags as the command line
// gives them.
func serveConfig(t *testing.T, args ...string) (server.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o serveOptions
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		return server.Config{}, err
	}
	return o.config()
}

func TestServeHasRateLimitsUnlessToldOtherwise(t *testing.T) {
	cfg, err := serveConfig(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimits == nil || *cfg.RateLimits != server.DefaultRateLimits() {
		t.Errorf("default rate limits %+v, want %+v", cfg.RateLimits, server.DefaultRateLimits())
	}
	if cfg.RequestTimeout != server.DefaultRequestTimeout {
		t.Errorf("request timeout %v, want %v", cfg.RequestTimeout, server.DefaultRequestTimeout)
	}

	cfg, err = serveConfig(t, "--rate-feedback", "0", "--rate-login", "5", "--login-backoff", "0", "--request-timeout", "2s")
	if err != nil {
		t.Fatal(err)
	}
	want := server.DefaultRateLimits()
	want.Feedback, want.LogIn, want.LogInBackoff = 0, 5, 0
	if *cfg.RateLimits != want || cfg.RequestTimeout != 2*time.Second {
		t.Errorf("limits %+v and timeout %v, want %+v and 2s", *cfg.RateLimits, cfg.RequestTimeout, want)
	}
}

func TestTrustedProxiesAreAddressesOrCIDRs(t *testing.T) {
	cfg, err := serveConfig(t, "--trusted-proxy", "10.0.0.7, 192.168.0.0/16,::1")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.7/32"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("::1/128"),
	}
	if !slices.Equal(cfg.TrustedProxies, want) {
		t.Errorf("trusted proxies %v, want %v", cfg.TrustedProxies, want)
	}
	for _, bad := range []string{"proxy.internal", "10.0.0.0/33"} {
		if _, err := serveConfig(t, "--trusted-proxy", bad); err == nil {
			t.Errorf("--trusted-proxy %s accepted", bad)
		}
	}
	if _, err := serveConfig(t, "--request-timeout", "0s"); err == nil {
		t.Error("--request-timeout 0s accepted")
	}
}

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
		{"a heap floor in an unknown unit", []string{"--gc-heap-floor", "64MB"}, nil, "want B, KiB, MiB, GiB or TiB"},
		{"a heap floor from PROTOLOOP_GC_HEAP_FLOOR that is not a size", nil, map[string]string{"PROTOLOOP_GC_HEAP_FLOOR": "lots"}, "PROTOLOOP_GC_HEAP_FLOOR"},
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

func TestServeRaisesTheGCTargetUnlessGOGCIsSet(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	for _, tc := range []struct {
		name string
		gogc string // "" for unset
		want int
	}{
		{"GOGC unset: 200", "", defaultGCPercent},
		{"GOGC set: as the runtime read it", "150", 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc) // restores it after the test
			if tc.gogc == "" {
				if err := os.Unsetenv("GOGC"); err != nil {
					t.Fatal(err)
				}
			}
			atStart := 100 // what the runtime read from GOGC
			if tc.gogc != "" {
				atStart = tc.want
			}
			debug.SetGCPercent(atStart)
			if got := gcPercent(); got != tc.want {
				t.Errorf("gcPercent() = %d, want %d", got, tc.want)
			}
			if got := debug.SetGCPercent(100); got != atStart {
				t.Errorf("gcPercent left the GC percent at %d, not %d", got, atStart)
			}
		})
	}
}

func TestHeapFloorSizes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want byteSize
		err  bool
	}{
		{"64MiB", 64 << 20, false},
		{"1GiB", 1 << 30, false},
		{"512KiB", 512 << 10, false},
		{"1000", 1000, false},
		{"1000B", 1000, false},
		{"0", 0, false},
		{"64MB", 0, true},
		{"MiB", 0, true},
		{"-1", 0, true},
		{"", 0, true},
		{"20000000TiB", 0, true},
	} {
		var b byteSize
		err := b.Set(tc.in)
		if (err != nil) != tc.err || !tc.err && b != tc.want {
			t.Errorf("Set(%q) = %d, %v; want %d, error %v", tc.in, b, err, tc.want, tc.err)
		}
		if err == nil {
			var again byteSize
			if err := again.Set(b.String()); err != nil || again != b {
				t.Errorf("%q printed as %q, read back as %d, %v", tc.in, b.String(), again, err)
			}
		}
	}
}

func TestServeKeepsTheHeapFloorItIsGiven(t *testing.T) {
	const floor = 96 << 20
	startServe(t, nil, "--gc-heap-floor", "96MiB")
	goal := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	for deadline := time.Now().Add(10 * time.Second); ; {
		runtime.GC() // the floor is set after each collection
		time.Sleep(10 * time.Millisecond)
		if metrics.Read(goal); goal[0].Value.Uint64() >= floor*9/10 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("heap goal %d MiB while serving with a floor of 96 MiB", goal[0].Value.Uint64()>>20)
		}
	}
}

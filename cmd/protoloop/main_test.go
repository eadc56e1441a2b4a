package main

import (
	"context"
	"encoding/json"
	"flag"
	"github.com/protoloop/protoloop/server/servertest"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/protoloop/protoloop/server/storage"
)

// protoloop runs the command line args as main would, with the given
// environment, and returns the exit code and what it wrote.
func protoloop(t *testing.T, ctx context.Context, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut servertest.Buffer
	getenv := func(name string) string { return env[name] }
	code = run(ctx, args, getenv, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"help prints the commands", []string{"help"}, 0},
		{"no command prints them as an error", nil, 2},
		{"an unknown command is an error", []string{"frobnicate"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := protoloop(t, context.Background(), nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d", code, tt.code)
			}
			for _, c := range []string{"serve", "migrate", "seed", "export", "version"} {
				if !strings.Contains(stdout+stderr, c) {
					t.Errorf("usage does not list %s:\n%s%s", c, stdout, stderr)
				}
			}
		})
	}
}

func TestFlagsWinOverEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantURL string
		wantDir string
		wantLvl slog.Level
		wantErr bool
	}{
		{name: "defaults", wantDir: storage.DefaultDataDir(), wantLvl: slog.LevelInfo},
		{name: "the environment sets what flags do not",
			env:     map[string]string{"DATABASE_URL": "postgres://env", "PROTOLOOP_DATA": "/env", "PROTOLOOP_LOG_LEVEL": "debug"},
			wantURL: "postgres://env", wantDir: "/env", wantLvl: slog.LevelDebug},
		{name: "a flag wins over its variable",
			args:    []string{"--database-url", "postgres://flag", "--data", "/flag", "--log-level", "warn"},
			env:     map[string]string{"DATABASE_URL": "postgres://env", "PROTOLOOP_DATA": "/env", "PROTOLOOP_LOG_LEVEL": "debug"},
			wantURL: "postgres://flag", wantDir: "/flag", wantLvl: slog.LevelWarn},
		{name: "a bad log level in the environment is an error",
			env: map[string]string{"PROTOLOOP_LOG_LEVEL": "loud"}, wantErr: true},
		{name: "a bad log format in the environment is an error",
			env: map[string]string{"PROTOLOOP_LOG_FORMAT": "xml"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			var f sharedFlags
			f.register(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := applyEnv(fs, func(name string) string { return tt.env[name] })
			if tt.wantErr {
				if err == nil {
					t.Fatal("applyEnv succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.databaseURL != tt.wantURL || f.dataDir != tt.wantDir || f.level != tt.wantLvl {
				t.Errorf("got url %q, data %q, level %v; want %q, %q, %v",
					f.databaseURL, f.dataDir, f.level, tt.wantURL, tt.wantDir, tt.wantLvl)
			}
		})
	}
}

func TestMigrateSaysWhatItApplied(t *testing.T) {
	data := t.TempDir()
	code, stdout, stderr := protoloop(t, context.Background(), nil, "migrate", "--data", data)
	if code != 0 || !strings.HasPrefix(stdout, "applied ") {
		t.Fatalf("first run: exit %d, stdout %q, want applied migrations\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = protoloop(t, context.Background(), nil, "migrate", "--data", data)
	if code != 0 || stdout != "up to date\n" {
		t.Fatalf("second run: exit %d, stdout %q, want up to date\n%s", code, stdout, stderr)
	}
}

func TestServeWithoutMigratingRefusesAnOldDatabase(t *testing.T) {
	code, _, stderr := protoloop(t, context.Background(), nil, "serve", "--no-migrate", "--data", t.TempDir(), "--addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, "protoloop migrate") {
		t.Fatalf("exit %d, want 1 with advice to run protoloop migrate:\n%s", code, stderr)
	}
}

func TestServeStopsCleanlyOnSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr servertest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--log-format", "json"},
			func(string) string { return "" }, &servertest.Buffer{}, &stderr)
	}()

	// The server logs where it listens; the port is the kernel's choice.
	var graphqlURL string
	for deadline := time.Now().Add(30 * time.Second); graphqlURL == ""; {
		for line := range strings.Lines(stderr.String()) {
			var entry struct{ Msg, GraphQL string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "serving" {
				graphqlURL = entry.GraphQL
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not say where it listens:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get(strings.TrimSuffix(graphqlURL, "/graphql") + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("readyz: status %d, want 200", resp.StatusCode)
	}

	cancel() // what SIGINT and SIGTERM do, through signal.NotifyContext
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d after a signal, want 0:\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop after its context was cancelled")
	}
}

func TestSeedCanRunAgain(t *testing.T) {
	data := t.TempDir()
	for i, wantSlug := range []string{"demo", "demo-2"} {
		code, stdout, stderr := protoloop(t, context.Background(), nil, "seed", "--data", data)
		if code != 0 {
			t.Fatalf("run %d: exit %d:\n%s", i+1, code, stderr)
		}
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		if len(lines) < 2 || lines[len(lines)-2] != "workspace: "+wantSlug || !strings.HasPrefix(lines[len(lines)-1], "token: plt_") {
			t.Fatalf("run %d: output ends %q, want workspace: %s and a token", i+1, lines, wantSlug)
		}
		token := strings.TrimPrefix(lines[len(lines)-1], "token: ")
		checkDemo(t, data, wantSlug, token)
	}
}

// checkDemo asks the API, as the owner, what the seed left in the workspace.
func checkDemo(t *testing.T, data, slug, token string) {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	api := &inProcessAPI{handler: newServer(slog.New(slog.DiscardHandler), db).Handler()}
	var ws struct {
		ViewerRole string
		Prototypes struct {
			Edges []struct {
				Node struct {
					Status     string
					Iterations struct {
						TotalCount int
						Edges      []struct {
							Node struct {
								Trials struct {
									Edges []struct{ Node struct{ Outcome *string } }
								}
							}
						}
					}
					Feedback struct {
						Edges []struct {
							Node struct {
								Kind, Status string
								Votes        struct{ TotalCount int }
								Comments     struct{ TotalCount int }
							}
						}
					}
				}
			}
		}
	}
	err = api.do(ctx, token, `query($slug: String!) { workspace(slug: $slug) {
		viewerRole
		prototypes(first: 10) { edges { node {
			status
			iterations(first: 10) { totalCount edges { node { trials(first: 50) { edges { node { outcome } } } } } }
			feedback(first: 100) { edges { node { kind status votes { totalCount } comments { totalCount } } } }
		} } }
	} }`, vars{"slug": slug}, &ws)
	if err != nil {
		t.Fatalf("query the demo: %v", err)
	}
	if ws.ViewerRole != "OWNER" {
		t.Errorf("the token's role is %q, want OWNER", ws.ViewerRole)
	}
	seen := map[string]bool{}
	votes, comments := 0, 0
	for _, p := range ws.Prototypes.Edges {
		seen["prototype "+p.Node.Status] = true
		if p.Node.Iterations.TotalCount < 2 {
			t.Errorf("a prototype has %d iterations, want several", p.Node.Iterations.TotalCount)
		}
		for _, it := range p.Node.Iterations.Edges {
			for _, tr := range it.Node.Trials.Edges {
				if tr.Node.Outcome != nil {
					seen["trial "+*tr.Node.Outcome] = true
				}
			}
		}
		for _, f := range p.Node.Feedback.Edges {
			seen[f.Node.Kind] = true
			seen[f.Node.Status] = true
			votes += f.Node.Votes.TotalCount
			comments += f.Node.Comments.TotalCount
		}
	}
	for _, want := range []string{
		"prototype DRAFT", "prototype TESTING", "prototype ADOPTED",
		"trial COMPLETED", "trial ABANDONED", "trial BLOCKED",
		"BUG", "IDEA", "QUESTION", "PRAISE", "CONFUSION", "WORKAROUND",
		"OPEN", "ACKNOWLEDGED", "PLANNED", "ADDRESSED", "DECLINED",
	} {
		if !seen[want] {
			t.Errorf("the demo has no %s", want)
		}
	}
	if votes == 0 || comments == 0 {
		t.Errorf("the demo has %d votes and %d comments, want some of each", votes, comments)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := protoloop(t, context.Background(), nil, "version")
	if code != 0 || !strings.HasPrefix(stdout, "protoloop dev") {
		t.Errorf("exit %d, output %q, want protoloop dev…", code, stdout)
	}
}

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/servertest"
)

// bench runs the command line args as main would and fails the test if
// the scenario fails; it returns what it printed.
func bench(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut servertest.Buffer
	if code := run(ctx, args, &out, &errOut); code != 0 {
		t.Fatalf("protoloop-bench %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	}
	return out.String()
}

// written is a report as a scenario writes it with --out.
type written struct {
	Params  map[string]any   `json:"params"`
	Results []map[string]any `json:"results"`
	Notes   []string         `json:"notes"`
}

// readReport reads the report a scenario wrote to path.
func readReport(t *testing.T, path string) written {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r written
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// params returns the parameters of the run a scenario wrote to path.
func params(t *testing.T, path string) map[string]any {
	t.Helper()
	return readReport(t, path).Params
}

// results returns the rows of the report a scenario wrote to path,
// failing the test if it has none or notes an error.
func results(t *testing.T, path string) []map[string]any {
	t.Helper()
	r := readReport(t, path)
	if len(r.Results) == 0 {
		t.Fatalf("%s has no results", path)
	}
	for _, n := range r.Notes {
		if strings.Contains(n, "error") || strings.Contains(n, "failed") {
			t.Errorf("%s: %s", filepath.Base(path), n)
		}
	}
	return r.Results
}

// checkRowCPU checks that a row has the CPU per request of the server
// (here the test's own process, --server-pid), of PostgreSQL (on this
// host) and of the tool; a row of hand-written SQL, which does not go
// through the server (idle meanwhile), has none for it. Only the tool's
// is surely above zero: /proc counts in 10 ms ticks, more than a short
// run may take.
func checkRowCPU(t *testing.T, r map[string]any) {
	t.Helper()
	columns := cpuColumns
	if strings.HasPrefix(r["scenario"].(string), "sql ") {
		if v, ok := r["server cpu ms/req"]; ok {
			t.Errorf("%s: server cpu ms/req is %v, want none", r["scenario"], v)
		}
		columns = columns[1:]
	}
	for _, c := range columns {
		if v, ok := r[c].(float64); !ok || v < 0 || (c == "tool cpu ms/req" && v == 0) {
			t.Errorf("%s: %s is %v", r["scenario"], c, r[c])
		}
	}
}

// TestScenariosAgainstARealServer seeds a tiny dataset and runs every
// scenario briefly: read, write and fanout against a server on a loopback
// port, replicas and startup against protoloop processes they start
// themselves (from a binary built for the test). The figures are not
// checked (they belong in BENCHMARKS.md), but each scenario must finish,
// and every request and every event must succeed. A request cut off by
// the end of a run is not counted, so runs are long enough for a few
// requests to finish on a busy machine (a first write also makes the
// account a participant).
func TestScenariosAgainstARealServer(t *testing.T) {
	s := servertest.Start(t, servertest.Postgres)
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	common := []string{"--database-url", s.DB.URL, "--state", state}
	server := append([]string{"--url", s.URL, "--admin-url", s.AdminURL, "--server-pid", strconv.Itoa(os.Getpid())}, common...)

	out := bench(t, append([]string{"seed", "--prototypes", "3", "--iterations", "2", "--feedback", "3", "--out", filepath.Join(dir, "seed.json")}, common...)...)
	rows, added := map[string]float64{}, map[string]float64{}
	for _, r := range results(t, filepath.Join(dir, "seed.json")) {
		rows[r["table"].(string)], added[r["table"].(string)] = r["rows"].(float64), r["added"].(float64)
	}
	// 3 prototypes × 2 iterations × 3 feedback, each with a comment, two
	// votes and an event, besides the events of the rest; the database was
	// empty, so what it holds is what was added.
	for table, want := range map[string]float64{"prototypes": 3, "iterations": 6, "participants": 30, "trials": 60,
		"feedback": 18, "comments": 18, "votes": 36} {
		if rows[table] != want || added[table] != want {
			t.Errorf("%s: %v rows, %v added, want %v\n%s", table, rows[table], added[table], want, out)
		}
	}
	// One PROTOTYPE_CREATED, two per iteration, one per trial, feedback,
	// comment and vote, and the bench account's WORKSPACE_CREATED.
	if want := float64(3 + 2*6 + 60 + 18 + 18 + 36 + 1); rows["events"] != want {
		t.Errorf("%v events, want %v\n%s", rows["events"], want, out)
	}

	t.Run("read", func(t *testing.T) {
		path := filepath.Join(dir, "read.json")
		bench(t, append([]string{"read", "-c", "2", "-d", "1s", "--out", path}, server...)...)
		if got := params(t, path)["sql_conns"]; got != 2.0 {
			t.Errorf("sql_conns is %v, want 2: a connection per worker unless --sql-conns says otherwise", got)
		}
		got := results(t, path)
		if len(got) != 6 {
			t.Fatalf("%d rows, want 3 GraphQL and 3 SQL", len(got))
		}
		for _, r := range got {
			if r["ok"].(float64) == 0 || r["errors"].(float64) != 0 {
				t.Errorf("%s: %v ok, %v errors", r["scenario"], r["ok"], r["errors"])
			}
			if r["sql/req"].(float64) <= 0 {
				t.Errorf("%s: %v SQL statements per request", r["scenario"], r["sql/req"])
			}
			checkRowCPU(t, r)
		}
	})
	t.Run("read of the timeline alone", func(t *testing.T) {
		path := filepath.Join(dir, "read-timeline.json")
		bench(t, append([]string{"read", "--queries", "timeline", "-c", "2", "-d", "1s", "--slice", "250ms", "--out", path}, server...)...)
		if got := params(t, path)["slice"]; got != "250ms" {
			t.Errorf("slice is %v, want 250ms: the two sides in four turns each", got)
		}
		got := results(t, path)
		if len(got) != 2 || got[0]["scenario"] != "graphql timeline page" || got[1]["scenario"] != "sql timeline page" {
			t.Fatalf("rows %v, want the timeline page's over GraphQL and over SQL", got)
		}
		if share, _ := got[0]["vs sql"].(string); !strings.HasSuffix(share, "%") {
			t.Errorf("vs sql is %v, want the GraphQL side's share of the SQL's", got[0]["vs sql"])
		}
		for _, r := range got {
			if r["ok"].(float64) == 0 || r["errors"].(float64) != 0 {
				t.Errorf("%s: %v ok, %v errors", r["scenario"], r["ok"], r["errors"])
			}
		}
	})
	t.Run("read-sql through one connection", func(t *testing.T) {
		path := filepath.Join(dir, "read-sql.json")
		bench(t, append([]string{"read-sql", "-c", "2", "-d", "1s", "--sql-conns", "1", "--out", path}, common...)...)
		if got := params(t, path)["sql_conns"]; got != 1.0 {
			t.Errorf("sql_conns is %v, want 1", got)
		}
		for _, r := range results(t, path) {
			if r["ok"].(float64) == 0 || r["errors"].(float64) != 0 {
				t.Errorf("%s: %v ok, %v errors with two workers on one connection", r["scenario"], r["ok"], r["errors"])
			}
		}
	})
	t.Run("write", func(t *testing.T) {
		path := filepath.Join(dir, "write.json")
		bench(t, append([]string{"write", "-c", "2", "-d", "3s", "--floor", "--out", path}, server...)...)
		for _, r := range results(t, path) {
			if r["ok"].(float64) == 0 || r["errors"].(float64) != 0 {
				t.Errorf("%s: %v ok, %v errors", r["scenario"], r["ok"], r["errors"])
			}
			checkRowCPU(t, r)
		}
	})
	t.Run("fanout", func(t *testing.T) {
		path := filepath.Join(dir, "fanout.json")
		bench(t, append([]string{"fanout", "-k", "20", "-events", "5", "-r", "50", "--out", path}, server...)...)
		r := results(t, path)[0]
		if r["events"].(float64) != 5 {
			t.Errorf("%v of 5 events committed", r["events"])
		}
		if r["complete"].(float64) != 20 {
			t.Errorf("%v of 20 subscribers received every event", r["complete"])
		}
		// The server is this process: /proc counts in 10 ms ticks, which
		// 100 messages may not reach, but getrusage does.
		if v, ok := r["msgs/write"].(float64); !ok || v < 1 {
			t.Errorf("fanout: msgs/write is %v, want 1 or more", r["msgs/write"])
		}
		for _, c := range messageCPUColumns {
			if v, ok := r[c].(float64); !ok || v < 0 || (c == "tool cpu µs/msg" && v == 0) {
				t.Errorf("fanout: %s is %v", c, r[c])
			}
		}
		first, _ := r["first p50 ms"].(float64)
		spread, ok := r["spread p50 ms"].(float64)
		if first <= 0 || !ok || spread < 0 || first+spread > r["max ms"].(float64) {
			t.Errorf("fanout: an event's first receipt %v ms and spread %v ms, of latencies up to %v ms", r["first p50 ms"], r["spread p50 ms"], r["max ms"])
		}
	})

	spawn := append([]string{"--server-bin", servertest.BuildProtoloop(t)}, common...)
	t.Run("replicas", func(t *testing.T) {
		path := filepath.Join(dir, "replicas.json")
		bench(t, append([]string{"replicas", "-k", "5", "-events", "3", "-r", "20", "--out", path}, spawn...)...)
		r := results(t, path)[0]
		if r["events"].(float64) != 3 || r["complete"].(float64) != 5 {
			t.Errorf("%v of 3 events committed, %v of 5 subscribers received every one", r["events"], r["complete"])
		}
	})
	t.Run("startup", func(t *testing.T) {
		path := filepath.Join(dir, "startup.json")
		bench(t, append([]string{"startup", "--runs", "2", "--out", path}, spawn...)...)
		if r := results(t, path)[0]; r["runs"].(float64) != 2 || r["median ms"].(float64) <= 0 {
			t.Errorf("startup: %v runs, median %v ms, want 2 timed starts", r["runs"], r["median ms"])
		}
	})
}

func TestReadQueriesByName(t *testing.T) {
	names := func(ops []readOp) []string {
		var n []string
		for _, op := range ops {
			n = append(n, op.name)
		}
		return n
	}
	for _, tc := range []struct {
		list string
		want []string
	}{
		{"", []string{"dashboard", "prototype page", "timeline page"}},
		{"timeline", []string{"timeline page"}},
		{" timeline , dashboard,timeline", []string{"dashboard", "timeline page"}},
	} {
		ops, err := chosenReadOps(tc.list)
		if err != nil || !slices.Equal(names(ops), tc.want) {
			t.Errorf("--queries %q: %v, %v; want %v", tc.list, names(ops), err, tc.want)
		}
	}
	for _, list := range []string{"nope", "timeline,", "timeline page"} {
		if _, err := chosenReadOps(list); err == nil || !strings.Contains(err.Error(), "dashboard, prototype, timeline") {
			t.Errorf("--queries %q: %v, want an error naming the queries there are", list, err)
		}
	}
	var out, errOut servertest.Buffer
	if code := run(context.Background(), []string{"read-sql", "--queries", "nope", "--database-url", "postgres://127.0.0.1:1/none"}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), `no read query "nope"`) {
		t.Errorf("read-sql --queries nope: exit %d, %q; want 1 and the error, before any connection", code, errOut.String())
	}
}

// TestARateLimitedServerIsToldHowToStart points write at a server whose
// rate limits are on (--url), as one started by hand with its defaults
// is: the run fails on the limit, and says which flags the server needs.
func TestARateLimitedServerIsToldHowToStart(t *testing.T) {
	s := servertest.StartWith(t, servertest.Postgres, servertest.Options{
		Config: server.Config{RateLimits: &server.RateLimits{Feedback: 1}},
	})
	dir := t.TempDir()
	common := []string{"--database-url", s.DB.URL, "--state", filepath.Join(dir, "state.json")}
	bench(t, append([]string{"seed", "--prototypes", "1", "--iterations", "2", "--feedback", "1"}, common...)...)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut servertest.Buffer
	args := append([]string{"write", "--url", s.URL, "--admin-url", s.AdminURL, "-c", "2", "-d", "1s"}, common...)
	code := run(ctx, args, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "(RATE_LIMITED)") ||
		!strings.Contains(errOut.String(), "start it with "+strings.Join(unlimitedRates, " ")) {
		t.Errorf("write against a rate-limited server: exit %d\n%s\nwant 1, the server's refusal and the flags it needs", code, errOut.String())
	}
}

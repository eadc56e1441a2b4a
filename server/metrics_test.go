package server_test

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

// scrape reads the admin listener's /metrics into name{labels} → value.
func scrape(t *testing.T, s *servertest.Server) map[string]float64 {
	t.Helper()
	resp, err := http.Get(s.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q, want Prometheus text format", ct)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("malformed metrics line %q", line)
		}
		m[line[:i]] = v
	}
	return m
}

func TestMetricsCountRequestsAndStatements(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		before := scrape(t, s)
		const query = `query PrototypePage($id: ID!) { node(id: $id) { ... on Prototype { title } } }`
		for range 3 {
			s.Do(t, loop.Owner.Token, query, map[string]any{"id": loop.Prototype.ID}).RequireOK(t)
		}
		after := scrape(t, s)

		const count = `protoloop_graphql_request_duration_seconds_count{operation="PrototypePage",type="query"}`
		if got := after[count] - before[count]; got != 3 {
			t.Errorf("%s grew by %v, want 3", count, got)
		}
		const inf = `protoloop_graphql_request_duration_seconds_bucket{operation="PrototypePage",type="query",le="+Inf"}`
		if after[inf] != after[count] {
			t.Errorf("+Inf bucket %v != count %v", after[inf], after[count])
		}
		if got := after["protoloop_sql_statements_total"] - before["protoloop_sql_statements_total"]; got < 3 {
			t.Errorf("protoloop_sql_statements_total grew by %v for 3 queries, want at least 3", got)
		}
		if got := after["protoloop_sql_statement_duration_seconds_count"]; got != after["protoloop_sql_statements_total"] {
			// Both count every statement since the server started.
			t.Errorf("statement histogram counted %v statements, the counter %v", got, after["protoloop_sql_statements_total"])
		}
		for _, name := range []string{"protoloop_db_pool_open_connections", "protoloop_db_queue_wait_total", "go_goroutines", "protoloop_broker_dispatched_seq"} {
			if _, ok := after[name]; !ok {
				t.Errorf("no %s", name)
			}
		}
		if after["protoloop_broker_dispatched_seq"] > after["protoloop_broker_heard_seq"] {
			t.Errorf("dispatched %v events past the %v heard of", after["protoloop_broker_dispatched_seq"], after["protoloop_broker_heard_seq"])
		}
	})
}

func TestAdminServesProfiles(t *testing.T) {
	s := servertest.Start(t, servertest.SQLite)
	resp, err := http.Get(s.AdminURL + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile:") {
		t.Errorf("GET /debug/pprof/goroutine: %s\n%.200s", resp.Status, body)
	}
	// The API's own listener shows neither.
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s on the API listener: %s, want 404", path, resp.Status)
		}
	}
}

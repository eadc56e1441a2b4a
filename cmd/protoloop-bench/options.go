package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// defaultDatabaseURL is the local PostgreSQL the tests use, in a database
// of the bench's own so that its data does not mix with anything else.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/protoloop_bench?sslmode=disable"

// options are the flags every scenario takes; each reads those it needs.
type options struct {
	stdout, stderr io.Writer

	databaseURL string
	state       string
	out         string
	serverBin   string
	url         string
	adminURL    string
	serverPID   int
	serverLog   string

	concurrency int
	sqlConns    int
	duration    time.Duration
	slice       time.Duration
	subscribers int
	rate        float64
	events      int
	hold        time.Duration
	runs        int
	floor       bool
	queries     string

	scale      float64
	prototypes int
	iterations int
	feedback   int
}

func (o *options) register(fs *flag.FlagSet) {
	fs.StringVar(&o.databaseURL, "database-url", "", "PostgreSQL `URL` (env DATABASE_URL; default "+defaultDatabaseURL+", created if missing)")
	fs.StringVar(&o.state, "state", "protoloop-bench.json", "`file` where seed writes the bench account's token and the scenarios read it")
	fs.StringVar(&o.out, "out", "", "write the figures as JSON to `file`")
	fs.StringVar(&o.serverBin, "server-bin", "", "the protoloop `binary` to start (default: protoloop beside this binary, else on PATH)")
	fs.StringVar(&o.url, "url", "", "use the server already running at this base `URL` (http://host:port) instead of starting one; start it with "+strings.Join(unlimitedRates, " "))
	fs.StringVar(&o.adminURL, "admin-url", "", "with --url: its admin listener's base `URL`, for /metrics (SQL statements per request)")
	fs.IntVar(&o.serverPID, "server-pid", 0, "with --url: the server's `pid`, to read its RSS and CPU time from /proc")
	fs.StringVar(&o.serverLog, "server-log", "", "append the started servers' logs to `file` (default: discard)")

	fs.IntVar(&o.concurrency, "c", 32, "concurrency: requests in flight at once")
	fs.IntVar(&o.sqlConns, "sql-conns", 0, "read, write: `connections` of the pool that runs the hand-written SQL and the plain INSERTs (default: as many as -c); the server's own pool is its --db-max-conns")
	fs.DurationVar(&o.duration, "d", 10*time.Second, "duration of each measured phase")
	fs.DurationVar(&o.slice, "slice", time.Second, "read, write: measure the GraphQL requests and the SQL they are compared with in turns of at most this `duration`, in the order graphql sql, sql graphql, …, so that both meet the host's drift alike; 0 for one whole phase each, graphql first")
	fs.IntVar(&o.subscribers, "k", 1000, "fanout: websocket subscribers")
	fs.Float64Var(&o.rate, "r", 10, "fanout: events per second the writer adds")
	fs.IntVar(&o.events, "events", 100, "fanout: events the writer adds")
	fs.DurationVar(&o.hold, "hold", 0, "fanout: keep the idle subscribers open this long before writing, to take profiles (the admin URL is printed)")
	fs.StringVar(&o.queries, "queries", "", "read, read-sql: the read `queries` to run, comma-separated, of "+strings.Join(readQueryKeys(), ", ")+" (default: all of them), to measure or profile one alone")
	fs.IntVar(&o.runs, "runs", 5, "startup: how many starts to time")
	fs.BoolVar(&o.floor, "floor", false, "write: also measure `{ __typename }` as a query and as a mutation at the same concurrency: what the HTTP and GraphQL layers (and, for the mutation, BEGIN and COMMIT) cost without any work")

	fs.Float64Var(&o.scale, "scale", 1, "seed: multiplies the number of prototypes")
	fs.IntVar(&o.prototypes, "prototypes", 1000, "seed: prototypes at scale 1")
	fs.IntVar(&o.iterations, "iterations", 5, "seed: iterations per prototype")
	fs.IntVar(&o.feedback, "feedback", 20, "seed: feedback per iteration")
}

// turnsText says how a paired measurement takes its turns, for progress
// lines.
func (o *options) turnsText() string {
	n, turn := turnsOf(o.duration, o.slice)
	if n == 1 {
		return "one after the other"
	}
	return fmt.Sprintf("in %d turns of %s", n, turn)
}

// sqlPool is the size of the pool that runs the hand-written SQL and the
// plain INSERTs: -sql-conns, else one connection per request in flight.
func (o *options) sqlPool() int {
	if o.sqlConns > 0 {
		return o.sqlConns
	}
	return o.concurrency
}

// benchState is what seed leaves for the scenarios.
type benchState struct {
	Token      string   `json:"token"`
	Email      string   `json:"email"`
	Workspaces []string `json:"workspaces"` // slugs
}

func (o *options) loadState() (*benchState, error) {
	data, err := os.ReadFile(o.state)
	if err != nil {
		return nil, fmt.Errorf("read %s (run `protoloop-bench seed` first): %w", o.state, err)
	}
	var st benchState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("read %s: %w", o.state, err)
	}
	if st.Token == "" || len(st.Workspaces) == 0 {
		return nil, fmt.Errorf("%s has no token or workspaces: run `protoloop-bench seed`", o.state)
	}
	return &st, nil
}

// serverProc is a protoloop server the bench talks to: a child process it
// started, or one it was pointed at.
type serverProc struct {
	URL      string
	AdminURL string
	PID      int
	Startup  time.Duration // exec to /readyz 200; zero when not started here

	cmd         *exec.Cmd
	done        chan error
	cacheWaited bool // see waitForIdentityCache
}

// unlimitedRates are the flags of `protoloop serve` that turn its rate
// limits off. The load tool is one caller sending as fast as the server
// goes: the limits that protect a server from such callers would measure
// themselves. A server the tool starts gets them; one it is pointed at
// (--url) must have been started with them.
var unlimitedRates = []string{"--rate-feedback", "0", "--rate-guest-feedback-ip", "0", "--rate-redeem", "0", "--rate-login", "0"}

// startServer starts `protoloop serve` on free loopback ports, or returns
// the server --url names.
func (o *options) startServer(ctx context.Context) (*serverProc, error) {
	if o.url != "" {
		return &serverProc{URL: strings.TrimSuffix(o.url, "/"), AdminURL: strings.TrimSuffix(o.adminURL, "/"), PID: o.serverPID}, nil
	}
	return o.spawnServer(ctx)
}

func (o *options) spawnServer(ctx context.Context) (*serverProc, error) {
	bin, err := o.serverBinary()
	if err != nil {
		return nil, err
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	var logOut io.Writer = io.Discard
	if o.serverLog != "" {
		f, err := os.OpenFile(o.serverLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, err
		}
		logOut = f
	}
	args := append([]string{"serve", "--database-url", o.databaseURL, "--addr", addr,
		"--admin-addr", admin, "--log-level", "warn", "--log-format", "json"}, unlimitedRates...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logOut
	cmd.Stderr = logOut
	dieWithParent(cmd)
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &serverProc{URL: "http://" + addr, AdminURL: "http://" + admin, PID: cmd.Process.Pid, cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	probe := &http.Client{Timeout: 2 * time.Second}
	for {
		if resp, err := probe.Get(p.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.Startup = time.Since(began)
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("the server exited before it was ready (%v); see --server-log", err)
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Since(began) > time.Minute {
			p.stop()
			return nil, errors.New("the server was not ready within a minute")
		}
	}
}

// stop stops a server the bench started, gracefully, then for good.
func (p *serverProc) stop() {
	if p == nil || p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// serverBinary finds the protoloop binary: --server-bin, then beside this
// one, then on PATH.
func (o *options) serverBinary() (string, error) {
	if o.serverBin != "" {
		return o.serverBin, nil
	}
	if self, err := os.Executable(); err == nil {
		candidate := filepath.Join(filepath.Dir(self), "protoloop")
		if _, err := os.Stat(candidate); err == nil {
			return candidate, nil
		}
	}
	if p, err := exec.LookPath("protoloop"); err == nil {
		return p, nil
	}
	return "", errors.New("no protoloop binary: build both with `go build -o bin/ ./cmd/...` and run bin/protoloop-bench, or pass --server-bin")
}

// freePort returns a loopback address nothing listens on just now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// rss returns a process's resident set size in bytes, from /proc.
func rss(pid int) (int64, error) {
	if pid == 0 {
		return 0, errors.New("no server pid")
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// metrics scrapes the server's /metrics into name{labels} → value.
func (p *serverProc) metrics(ctx context.Context) (map[string]float64, error) {
	if p.AdminURL == "" {
		return nil, errors.New("no admin URL: pass --admin-url")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.AdminURL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

// gc asks the server to collect garbage (a heap profile with gc=1 does),
// so that its memory figures are of live data.
func (p *serverProc) gc(ctx context.Context) {
	if p.AdminURL == "" {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.AdminURL+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// describeMachine says what the figures were taken on.
func describeMachine() string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s)%s, %s/%s, %s", runtime.NumCPU(), cpu, mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

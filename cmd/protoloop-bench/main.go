// Command protoloop-bench seeds a protoloop database with a realistic
// dataset and measures the server against the database's own limits on
// the same machine:
//
//	protoloop-bench seed      bulk-load prototypes, iterations, feedback, …
//	protoloop-bench read      nested, prototype-page and timeline queries over HTTP, in turns with the same data by hand-written SQL
//	protoloop-bench read-sql  the hand-written SQL alone
//	protoloop-bench write     leaveFeedback over HTTP, in turns with plain INSERTs
//	protoloop-bench fanout    K websocket subscribers, a writer at R events/s
//	protoloop-bench replicas  fanout with subscribers on one server process, writes on another
//	protoloop-bench startup   time from exec to ready, migrations already applied
//
// Each scenario starts the protoloop server itself, as a child process on
// loopback ports (--server-bin), unless --url names one already running.
// It prints a table and, with --out, writes the figures as JSON for
// comparing runs. BENCHMARKS.md has the figures and how they were taken.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/protoloop/protoloop/graph"
)

// scenario is one subcommand.
type scenario struct {
	name    string
	summary string
	run     func(ctx context.Context, o *options) (*report, error)
}

func scenarios() []scenario {
	return []scenario{
		{"seed", "bulk-load a dataset (default 1,000 prototypes × 5 iterations × 20 feedback)", runSeed},
		{"read", "nested, prototype-page and timeline queries at concurrency C, in turns with the same by hand-written SQL", runRead},
		{"read-sql", "the read scenario's hand-written SQL alone: the database's limit", runReadSQL},
		{"write", "leaveFeedback at concurrency C, in turns with plain INSERTs: the limit", runWrite},
		{"fanout", "K graphql-transport-ws subscribers on one prototype, a writer at R events/s", runFanout},
		{"replicas", "fanout with the subscribers on one server process and the writer on another", runReplicas},
		{"startup", "time from starting the server to /readyz answering 200 (migrations applied)", runStartup},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var sc *scenario
	for _, s := range scenarios() {
		if s.name == args[0] {
			sc = &s
		}
	}
	if sc == nil {
		fmt.Fprintf(stderr, "protoloop-bench: unknown scenario %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("protoloop-bench "+sc.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{stdout: stdout, stderr: stderr}
	o.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: protoloop-bench %s [flags]\n\n%s\n\nflags:\n", sc.name, sc.summary)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "protoloop-bench %s: unexpected arguments %q\n", sc.name, fs.Args())
		return 2
	}
	if o.databaseURL == "" {
		o.databaseURL = os.Getenv("DATABASE_URL")
	}
	if o.databaseURL == "" {
		o.databaseURL = defaultDatabaseURL
	}
	began := time.Now()
	rep, err := sc.run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "protoloop-bench %s: %v\n", sc.name, err)
		var refused *gqlError
		if o.url != "" && errors.As(err, &refused) && refused.code() == string(graph.CodeRateLimited) {
			fmt.Fprintf(stderr, "protoloop-bench: the server at --url refused a request for its rate limits; start it with %s to measure it\n",
				strings.Join(unlimitedRates, " "))
		}
		return 1
	}
	if rep != nil {
		rep.Scenario = sc.name
		rep.Began = began.UTC()
		rep.Machine = describeMachine()
		rep.print(stdout)
		if o.out != "" {
			if err := rep.save(o.out); err != nil {
				fmt.Fprintf(stderr, "protoloop-bench %s: %v\n", sc.name, err)
				return 1
			}
			fmt.Fprintf(stdout, "\nwrote %s\n", o.out)
		}
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprint(w, "protoloop-bench: seed a protoloop database and measure the server against the database's limits\n\nusage: protoloop-bench <scenario> [flags]\n\nscenarios:\n")
	for _, s := range scenarios() {
		fmt.Fprintf(w, "  %-9s %s\n", s.name, s.summary)
	}
	fmt.Fprint(w, "\nRun protoloop-bench <scenario> -h for its flags. See BENCHMARKS.md.\n")
}

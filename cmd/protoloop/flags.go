package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/protoloop/protoloop/server/storage"
)

// envVars names the environment variable behind each flag that has one. A
// flag given on the command line wins over its variable.
var envVars = map[string]string{
	"database-url": "DATABASE_URL",
	"data":         "PROTOLOOP_DATA",
	"log-level":    "PROTOLOOP_LOG_LEVEL",
	"log-format":   "PROTOLOOP_LOG_FORMAT",
	"addr":         "PROTOLOOP_ADDR",
	"allow-origin": "PROTOLOOP_ALLOW_ORIGINS",
	"admin-addr":   "PROTOLOOP_ADMIN_ADDR",

	"request-timeout":        "PROTOLOOP_REQUEST_TIMEOUT",
	"statement-timeout":      "PROTOLOOP_STATEMENT_TIMEOUT",
	"db-max-conns":           "PROTOLOOP_DB_MAX_CONNS",
	"identity-cache":         "PROTOLOOP_IDENTITY_CACHE",
	"trusted-proxy":          "PROTOLOOP_TRUSTED_PROXIES",
	"rate-feedback":          "PROTOLOOP_RATE_FEEDBACK",
	"rate-guest-feedback-ip": "PROTOLOOP_RATE_GUEST_FEEDBACK_IP",
	"rate-redeem":            "PROTOLOOP_RATE_REDEEM",
	"rate-login":             "PROTOLOOP_RATE_LOGIN",
	"login-backoff":          "PROTOLOOP_LOGIN_BACKOFF",

	"env":               "PROTOLOOP_ENV",
	"trusted-documents": "PROTOLOOP_TRUSTED_DOCUMENTS",
	"max-body-bytes":    "PROTOLOOP_MAX_BODY_BYTES",
	"max-tokens":        "PROTOLOOP_MAX_TOKENS",
	"max-fields":        "PROTOLOOP_MAX_FIELDS",
	"max-directives":    "PROTOLOOP_MAX_DIRECTIVES",
	"max-depth":         "PROTOLOOP_MAX_DEPTH",
	"max-aliases":       "PROTOLOOP_MAX_ALIASES",
	"max-root-fields":   "PROTOLOOP_MAX_ROOT_FIELDS",
	"max-complexity":    "PROTOLOOP_MAX_COMPLEXITY",
	"max-page-size":     "PROTOLOOP_MAX_PAGE_SIZE",

	"webhook-deny-private": "PROTOLOOP_WEBHOOK_DENY_PRIVATE",
	"gc-heap-floor":        "PROTOLOOP_GC_HEAP_FLOOR",
}

// sharedFlags are the flags every command that touches the database takes.
type sharedFlags struct {
	databaseURL string
	dataDir     string
	level       slog.Level
	format      logFormat
}

func (f *sharedFlags) register(fs *flag.FlagSet) {
	// The URL's default stays out of the flag (and so out of -h output,
	// where a password in it would show): applyEnv fills it in.
	fs.StringVar(&f.databaseURL, "database-url", "",
		"PostgreSQL `URL` (postgres://…); without one, the embedded SQLite database is used (env DATABASE_URL)")
	fs.StringVar(&f.dataDir, "data", storage.DefaultDataDir(),
		"`directory` of the embedded SQLite database (env PROTOLOOP_DATA)")
	fs.TextVar(&f.level, "log-level", slog.LevelInfo, "log `level`: debug, info, warn or error (env PROTOLOOP_LOG_LEVEL)")
	fs.Var(&f.format, "log-format", "log `format`: text or json (env PROTOLOOP_LOG_FORMAT; default text on a terminal, else json)")
}

func (f *sharedFlags) storage() storage.Options {
	return storage.Options{DatabaseURL: f.databaseURL, DataDir: f.dataDir}
}

// logger returns the logger the flags ask for, writing to w.
func (f *sharedFlags) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: f.level}
	format := f.format
	if format == "" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// isTerminal reports whether w is a terminal, where people read logs, as
// opposed to a file or pipe, where programs do.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// logFormat is the value of --log-format; empty means "decide by the
// output".
type logFormat string

func (f *logFormat) String() string { return string(*f) }

func (f *logFormat) Set(s string) error {
	if s != "text" && s != "json" {
		return fmt.Errorf("want text or json, not %q", s)
	}
	*f = logFormat(s)
	return nil
}

// byteSize is a flag's number of bytes, written as GOMEMLIMIT is: an
// integer with an optional unit, B, KiB, MiB, GiB or TiB.
type byteSize uint64

func (b *byteSize) String() string {
	for _, u := range sizeUnits {
		if *b != 0 && *b%byteSize(u.bytes) == 0 {
			return strconv.FormatUint(uint64(*b)/u.bytes, 10) + u.name
		}
	}
	return strconv.FormatUint(uint64(*b), 10)
}

func (b *byteSize) Set(s string) error {
	digits := strings.TrimRight(s, "BKMGTi")
	unit := uint64(1)
	if suffix := s[len(digits):]; suffix != "" {
		i := slices.IndexFunc(sizeUnits, func(u sizeUnit) bool { return u.name == suffix })
		if i < 0 {
			return fmt.Errorf("unit %q: want B, KiB, MiB, GiB or TiB", suffix)
		}
		unit = sizeUnits[i].bytes
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n > math.MaxUint64/unit {
		return fmt.Errorf("want a size such as 64MiB, not %q", s)
	}
	*b = byteSize(n * unit)
	return nil
}

type sizeUnit struct {
	name  string
	bytes uint64
}

// sizeUnits are byteSize's units, largest first.
var sizeUnits = []sizeUnit{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// applyEnv sets each flag that was not given on the command line from its
// environment variable, if that is set.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name, ok := envVars[f.Name]
		if !ok || given[f.Name] || err != nil {
			return
		}
		if v := getenv(name); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, serr)
			}
		}
	})
	return err
}

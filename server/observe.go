package server

import (
	"bufio"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/protoloop/protoloop/graph"
)

// observe logs every request once it is answered, and turns a panic in any
// handler into a 500 with an INTERNAL error: the stack goes to the log,
// never to the client. (gqlgen recovers panics in resolvers itself, through
// graph.RecoverFunc; this catches the rest of the stack.)
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			p := recover()
			if p == http.ErrAbortHandler {
				// net/http's way to drop a connection on purpose.
				panic(p)
			}
			// Part of a response went out before the panic: ending it
			// normally would pass the fragment off as complete, so the
			// connection is cut instead, once the request is logged.
			cut := p != nil && rec.status != 0
			if p != nil {
				s.log.ErrorContext(r.Context(), "panic serving request",
					"method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if cut {
					rec.status = http.StatusInternalServerError
				} else {
					writeError(rec, http.StatusInternalServerError, graph.CodeInternal, "internal error")
				}
			}
			level := slog.LevelInfo
			if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
				// Probes come every few seconds: keep them out of the way.
				level = slog.LevelDebug
			}
			s.log.Log(r.Context(), level, "request",
				"method", r.Method,
				"path", r.URL.Path,
				"status", rec.statusCode(),
				"duration", time.Since(start),
				"bytes", rec.bytes)
			if cut {
				panic(http.ErrAbortHandler)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// recorder notes the status and size of a response. It passes Flush and
// Hijack through, which streaming transports need.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

var (
	_ http.Flusher  = (*recorder)(nil)
	_ http.Hijacker = (*recorder)(nil)
)

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 && status >= 200 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) statusCode() int {
	if r.status == 0 {
		return http.StatusOK // what net/http sends for a handler that writes nothing
	}
	return r.status
}

// Flush implements http.Flusher.
func (r *recorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err == nil {
		r.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// Unwrap lets http.ResponseController reach the connection's own writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

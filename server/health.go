package server

import (
	"context"
	"io"
	"net/http"
	"time"
)

// readyTimeout bounds the database check of /readyz: a database that takes
// longer to answer a ping is not one to send traffic to.
const readyTimeout = 2 * time.Second

// healthz answers 200 while the process is up and serving HTTP: a
// liveness probe, which must not depend on the database, or a database
// outage would have every replica restarted.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeText(w, http.StatusOK, "ok")
}

// readyz answers 200 when the database answers, else 503: a readiness
// probe, to take a replica out of rotation until it can serve.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready", "err", err)
		writeText(w, http.StatusServiceUnavailable, "database unavailable")
		return
	}
	writeText(w, http.StatusOK, "ok")
}

func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text+"\n")
}

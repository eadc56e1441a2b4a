package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/protoloop/protoloop/graph"
	"github.com/protoloop/protoloop/server/storage"
)

// errorResponse is a GraphQL response carrying one error, for requests the
// server refuses before gqlgen sees them: clients then read every failure
// from the same place, errors[].extensions.code.
type errorResponse struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// writeError sends status with a GraphQL-shaped error body.
func writeError(w http.ResponseWriter, status int, code graph.Code, message string) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // messages quote things like "Bearer <token>"
	// Strings and a map of strings always encode.
	_ = enc.Encode(errorResponse{Errors: []errorEntry{{
		Message:    message,
		Extensions: map[string]any{"code": string(code)},
	}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body.Bytes())
}

// writeDatabaseError answers a request outside /graphql (whose errors the
// presenter maps) that failed on the database before it wrote anything,
// as the API would, when the database is why: TIMEOUT, or UNAVAILABLE
// with a Retry-After, and nothing at all to a client that went away. It
// reports whether err was such a failure; the caller answers any other.
// what names the step in the log, doing what the client is told could not
// be done ("check the token").
func (s *Server) writeDatabaseError(ctx context.Context, w http.ResponseWriter, err error, what, doing string) bool {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		s.log.DebugContext(ctx, what+": request cancelled", "err", err)
	case storage.IsTimeout(err) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		s.log.WarnContext(ctx, what, "err", err)
		writeError(w, http.StatusServiceUnavailable, graph.CodeTimeout, "could not "+doing+" in time; try again")
	case storage.IsUnavailable(err):
		s.log.WarnContext(ctx, what, "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(unavailableRetryAfter))
		writeError(w, http.StatusServiceUnavailable, graph.CodeUnavailable, "could not "+doing+": the database is unavailable; try again shortly")
	default:
		return false
	}
	return true
}

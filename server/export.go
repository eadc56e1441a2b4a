package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/graph"
)

// exportFiles are the files GET /export/{workspace}/{file} serves, with
// their formats and content types.
var exportFiles = map[string]struct {
	format      graph.ExportFormat
	contentType string
}{
	"feedback.csv":   {graph.ExportCSV, "text/csv; charset=utf-8"},
	"feedback.jsonl": {graph.ExportJSONL, "application/jsonl; charset=utf-8"},
}

// export serves a workspace's feedback as a file, streamed as it is read
// (graph.ExportFeedback): GET /export/{workspace}/feedback.csv or
// feedback.jsonl, the workspace by slug or ID, ?bom=1 for a UTF-8 byte
// order mark. The caller authenticates as for /graphql and gets what the
// API would show it: a tester, the feedback on the prototypes it tests,
// with other testers' names masked.
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	file, ok := exportFiles[r.PathValue("file")]
	if !ok {
		writeError(w, http.StatusNotFound, graph.CodeNotFound, "no such export: ask for feedback.csv or feedback.jsonl")
		return
	}
	var bom bool
	switch v := r.URL.Query().Get("bom"); v {
	case "", "0", "false":
	case "1", "true":
		bom = true
	default:
		writeError(w, http.StatusBadRequest, graph.CodeBadUserInput, fmt.Sprintf("bom must be 1 or 0, not %q", v))
		return
	}
	ctx := r.Context()
	if viewer.FromContext(ctx) == nil {
		unauthenticated(w, "invalid_request", "authentication required: send a valid bearer token")
		return
	}
	ws, err := graph.ExportWorkspace(ctx, s.db.Client, r.PathValue("workspace"))
	var gerr *graph.Error
	switch {
	case errors.As(err, &gerr) && gerr.Code == graph.CodeNotFound:
		writeError(w, http.StatusNotFound, graph.CodeNotFound, gerr.Message)
		return
	case err != nil:
		s.log.ErrorContext(ctx, "export", "err", err)
		writeError(w, http.StatusInternalServerError, graph.CodeInternal, "internal error")
		return
	}

	if !s.enterExport(ctx) {
		w.Header().Set("Retry-After", strconv.Itoa(exportRetryAfter))
		writeError(w, http.StatusServiceUnavailable, graph.CodeUnavailable, "too many exports are being downloaded at once: try again in a few seconds")
		return
	}
	defer s.leaveExport()

	name := strings.TrimSuffix(r.PathValue("workspace"), "/") + "-" + r.PathValue("file")
	h := w.Header()
	h.Set("Content-Type", file.contentType)
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	rc := http.NewResponseController(w)
	// The server's write timeout is for ordinary responses; an export may
	// take longer, so each flush gives the client another writeTimeout to
	// take the next part, and a client that stops reading is cut off.
	flush := func() error {
		if err := rc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return rc.Flush()
	}
	if err := flush(); err != nil {
		s.log.DebugContext(ctx, "export: start", "err", err)
		return
	}
	rows, err := graph.ExportFeedback(ctx, s.db.Client, s.db.Dialect, ws, w, graph.ExportOptions{
		Format: file.format,
		BOM:    bom,
		Flush:  flush,
	})
	if err != nil {
		// The status is sent: all that is left is not to end the response
		// as if it were whole. Aborting the handler breaks the chunked
		// encoding, so the client sees a truncated transfer.
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "export", "err", err, "rows", rows)
		}
		panic(http.ErrAbortHandler)
	}
	s.log.DebugContext(ctx, "export", "workspace", ws, "rows", rows)
}

// An export holds a connection of the pool (on PostgreSQL, a transaction)
// for as long as its client takes to read the file, and reads names
// through the pool meanwhile. Unbounded, as many slow downloads as the
// pool has connections would leave none for the API; so exports stream a
// few at a time, the others waiting for their turn for a while, then
// refused with UNAVAILABLE and a Retry-After.
const (
	// exportSlotWait is how long an export waits for its turn.
	exportSlotWait = 5 * time.Second
	// exportRetryAfter is the Retry-After, in seconds, of a refused one.
	exportRetryAfter = 5
)

// exportSlots is how many exports may stream at once over a pool of
// conns connections: a quarter of them, at least one; 0, no bound, for a
// pool without a limit.
func exportSlots(conns int) int64 {
	if conns <= 0 {
		return 0
	}
	return int64(max(1, conns/4))
}

// enterExport waits for an export's turn, at most exportSlotWait; false
// if it did not come. A turn entered ends with leaveExport.
func (s *Server) enterExport(ctx context.Context) bool {
	if !s.takeExportTurn(ctx) {
		s.exportsRefused.Add(1)
		return false
	}
	s.exportsStreaming.Add(1)
	return true
}

func (s *Server) takeExportTurn(ctx context.Context) bool {
	if s.exports == nil || s.exports.TryAcquire(1) {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, exportSlotWait)
	defer cancel()
	return s.exports.Acquire(ctx, 1) == nil
}

func (s *Server) leaveExport() {
	s.exportsStreaming.Add(-1)
	if s.exports != nil {
		s.exports.Release(1)
	}
}

package server

import (
	"errors"
	"fmt"
	"net/http"
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

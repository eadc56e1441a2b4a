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
	if err != nil {
		s.exportFailed(ctx, w, err)
		return
	}

	name := strings.TrimSuffix(r.PathValue("workspace"), "/") + "-" + r.PathValue("file")
	out := &exportResponse{w: w, rc: http.NewResponseController(w), begin: func(h http.Header) {
		h.Set("Content-Type", file.contentType)
		h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
	}}
	turns := s.exportTurns()
	defer turns.end()
	rows, err := graph.ExportFeedback(ctx, s.db.Client, s.db.Dialect, ws, out, graph.ExportOptions{
		Format: file.format,
		BOM:    bom,
		Flush:  out.Flush,
		Turn:   turns.take,
	})
	switch {
	case err == nil:
		s.log.DebugContext(ctx, "export", "workspace", ws, "rows", rows)
	case out.begun:
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "export", "err", err, "rows", rows)
		}
		// The status is sent: all that is left is not to end the response
		// as if it were whole. Aborting the handler breaks the chunked
		// encoding, so the client sees a truncated transfer.
		panic(http.ErrAbortHandler)
	default:
		s.exportFailed(ctx, w, err)
	}
}

// exportFailed answers an export that failed before its first byte: as
// the API would, with the code that says why.
func (s *Server) exportFailed(ctx context.Context, w http.ResponseWriter, err error) {
	var gerr *graph.Error
	switch {
	case errors.As(err, &gerr) && gerr.Code == graph.CodeNotFound:
		writeError(w, http.StatusNotFound, graph.CodeNotFound, gerr.Message)
	case errors.Is(err, errExportsBusy):
		s.exportsRefused.Add(1)
		w.Header().Set("Retry-After", strconv.Itoa(exportRetryAfter))
		writeError(w, http.StatusServiceUnavailable, graph.CodeUnavailable, "too many exports are being read at once: try again in a few seconds")
	case s.writeDatabaseError(ctx, w, err, "export", "begin the export"):
	default:
		s.log.ErrorContext(ctx, "export", "err", err)
		writeError(w, http.StatusInternalServerError, graph.CodeInternal, "internal error")
	}
}

// exportResponse is an export's HTTP response, begun (its headers set by
// begin and sent) with its first byte, so that an export that fails
// before its first read can still answer with an error.
type exportResponse struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	begin func(http.Header)
	begun bool
}

func (e *exportResponse) Write(p []byte) (int, error) {
	e.start()
	return e.w.Write(p)
}

// Flush sends what was written. The server's write timeout is for
// ordinary responses; an export may take longer, so each flush gives the
// client another writeTimeout to take the next part, and a client that
// stops reading is cut off.
func (e *exportResponse) Flush() error {
	e.start()
	if err := e.rc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return e.rc.Flush()
}

func (e *exportResponse) start() {
	if !e.begun {
		e.begun = true
		e.begin(e.w.Header())
	}
}

// Exports read the database in turns (their prototypes' list, then each
// page): as many at once as a quarter of the pool's connections, so that
// exports, which read every row of a workspace with each author's name,
// leave the API most of the pool however many are downloaded. A read
// holds its turn only while it runs, not while the client takes a page.
// An export's first read waits for its turn for a while, then the export
// is refused with UNAVAILABLE and a Retry-After; the reads after it wait
// as long as the request lasts.
const (
	// exportSlotWait is how long an export's first read waits for a turn.
	exportSlotWait = 5 * time.Second
	// exportRetryAfter is the Retry-After, in seconds, of a refused one.
	exportRetryAfter = 5
)

// errExportsBusy refuses an export whose first read got no turn.
var errExportsBusy = errors.New("export: no turn to read in")

// exportSlots is how many exports may read at once over a pool
// of conns connections: a quarter of them, at least one; 0, no bound, for
// a pool without a limit.
func exportSlots(conns int) int64 {
	if conns <= 0 {
		return 0
	}
	return int64(max(1, conns/4))
}

// exportTurns are one export's turns to read its pages in.
type exportTurns struct {
	s         *Server
	streaming bool // counted in exportsStreaming since its first turn
}

func (s *Server) exportTurns() *exportTurns { return &exportTurns{s: s} }

// take waits for a turn to read a page in, and returns the function that
// ends it.
func (t *exportTurns) take(ctx context.Context) (func(), error) {
	first := !t.streaming
	if err := t.s.takeExportTurn(ctx, first); err != nil {
		return nil, err
	}
	if first {
		t.streaming = true
		t.s.exportsStreaming.Add(1)
	}
	return t.s.leaveExportTurn, nil
}

// end is called once the export is over.
func (t *exportTurns) end() {
	if t.streaming {
		t.s.exportsStreaming.Add(-1)
	}
}

func (s *Server) takeExportTurn(ctx context.Context, first bool) error {
	if s.exports == nil || s.exports.TryAcquire(1) {
		return nil
	}
	wait := ctx
	if first {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, exportSlotWait)
		defer cancel()
	}
	if err := s.exports.Acquire(wait, 1); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errExportsBusy
	}
	return nil
}

func (s *Server) leaveExportTurn() {
	if s.exports != nil {
		s.exports.Release(1)
	}
}

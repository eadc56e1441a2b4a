package graph

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/prototype"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/workspace"
)

// ExportFormat is a file format the feedback export writes.
type ExportFormat string

// The formats of the feedback export.
const (
	ExportCSV   ExportFormat = "csv"   // RFC 4180, a header row first
	ExportJSONL ExportFormat = "jsonl" // one JSON object per line
)

// ParseExportFormat reads an ExportFormat by name.
func ParseExportFormat(s string) (ExportFormat, error) {
	switch f := ExportFormat(strings.ToLower(s)); f {
	case ExportCSV, ExportJSONL:
		return f, nil
	}
	return "", badInput("format", "format must be csv or jsonl, not %q", s)
}

// ExportOptions shape a feedback export.
type ExportOptions struct {
	Format ExportFormat
	// BOM starts the file with a UTF-8 byte order mark, which spreadsheet
	// programs need to read CSV as UTF-8 rather than a legacy code page.
	BOM bool
	// ShowNames shows every author's name, as to a member of the
	// workspace, even to a caller who is none: the command line, whose
	// operator holds the database anyway.
	ShowNames bool
	// Flush, if set, is called every exportFlushRows rows and at the end,
	// after what was written so far has been handed to the writer: an HTTP
	// response sends it on.
	Flush func() error
}

// exportFlushRows is how many rows an export writes between flushes.
const exportFlushRows = 500

// exportColumns are the export's columns, in order: the CSV header and
// the JSON keys.
var exportColumns = []string{
	"id", "prototype", "iteration", "kind", "status", "rating", "minutes_saved_per_day",
	"author", "votes", "addressed_in", "created_at", "body",
}

// exportRow is one feedback as exported; nil pointers are empty cells and
// JSON nulls.
type exportRow struct {
	ID                 string `json:"id"`
	Prototype          string `json:"prototype"`
	Iteration          *int64 `json:"iteration"`
	Kind               string `json:"kind"`
	Status             string `json:"status"`
	Rating             *int64 `json:"rating"`
	MinutesSavedPerDay *int64 `json:"minutes_saved_per_day"`
	Author             string `json:"author"`
	Votes              int64  `json:"votes"`
	AddressedIn        *int64 `json:"addressed_in"`
	CreatedAt          string `json:"created_at"`
	Body               string `json:"body"`
	authorID           gid.ID // for masking
	authorName         string // before masking
}

func (r *exportRow) cells() []string {
	num := func(n *int64) string {
		if n == nil {
			return ""
		}
		return strconv.FormatInt(*n, 10)
	}
	return []string{
		r.ID, r.Prototype, num(r.Iteration), r.Kind, r.Status, num(r.Rating), num(r.MinutesSavedPerDay),
		inert(r.Author), strconv.FormatInt(r.Votes, 10), num(r.AddressedIn), r.CreatedAt, inert(r.Body),
	}
}

// inert keeps a spreadsheet from running text that people outside the
// team wrote (a body, a guest's name) as a formula: a cell that starts
// like one gets an apostrophe first, which spreadsheets read as "this is
// text" (CSV injection, as OWASP names it). JSON Lines keeps the text as
// it is.
func inert(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// ExportWorkspace returns the ID of the workspace an export names, by slug
// or ID, if the caller can see it, or NOT_FOUND. Call it before writing
// anything, so that a wrong name gets an error, not an empty file.
func ExportWorkspace(ctx context.Context, client *ent.Client, ref string) (gid.ID, error) {
	q := client.Workspace.Query()
	if id, err := gid.Parse(ref); err == nil && id.Type() == gid.Workspace {
		q.Where(workspace.ID(id))
	} else {
		q.Where(workspace.Slug(ref))
	}
	id, err := q.OnlyID(ctx)
	switch {
	case ent.IsNotFound(err):
		return 0, notFound("workspace")
	case err != nil:
		return 0, fmt.Errorf("look up workspace %q: %w", ref, err)
	}
	return id, nil
}

// ExportFeedback writes every piece of feedback in a workspace that the
// caller may read, ordered by prototype, iteration and time, and returns
// how many rows it wrote. Authors are named as the API names them
// (masked for testers) unless opts.ShowNames.
//
// It streams: one query whose rows are written as they are read, so its
// memory does not grow with the number of rows. The query is plain SQL,
// for the joins, and reads no more than the policies allow: it is limited
// to the prototypes the caller may read, as listed through ent, and the
// feedback policy lets a caller read all feedback on those and no other.
func ExportFeedback(ctx context.Context, client *ent.Client, dialectName string, ws gid.ID, w io.Writer, opts ExportOptions) (int, error) {
	prototypes, err := client.Prototype.Query().Where(prototype.WorkspaceID(ws)).IDs(ctx)
	if err != nil {
		return 0, fmt.Errorf("export: list prototypes: %w", err)
	}
	out := bufio.NewWriterSize(w, 64<<10)
	if opts.BOM {
		if _, err := out.WriteString("\uFEFF"); err != nil {
			return 0, err
		}
	}
	write, finish := exportWriter(out, opts.Format)
	if err := write(nil); err != nil { // the header, if the format has one
		return 0, err
	}
	flush := func() error {
		if err := out.Flush(); err != nil {
			return err
		}
		if opts.Flush != nil {
			return opts.Flush()
		}
		return nil
	}
	if len(prototypes) == 0 {
		return 0, errors.Join(finish(), flush())
	}

	query, args := exportQuery(dialectName, ws, prototypes)
	rows, done, err := streamQuery(ctx, client, dialectName, query, args)
	if err != nil {
		return 0, fmt.Errorf("export: query feedback: %w", err)
	}
	defer done()
	clientOf := func(context.Context) *ent.Client { return client }
	n := 0
	for rows.Next() {
		row, err := scanExportRow(rows)
		if err != nil {
			return n, err
		}
		row.Author = row.authorName
		if !opts.ShowNames {
			if row.Author, err = participantName(ctx, clientOf, &ent.Participant{ID: row.authorID, DisplayName: row.authorName}); err != nil {
				return n, fmt.Errorf("export: name author: %w", err)
			}
		}
		if err := write(row); err != nil {
			return n, err
		}
		n++
		if n%exportFlushRows == 0 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("export: read feedback: %w", err)
	}
	return n, errors.Join(finish(), flush())
}

// exportWriter returns the functions that write a row (nil: the header)
// and finish the file in format f.
func exportWriter(w io.Writer, f ExportFormat) (write func(*exportRow) error, finish func() error) {
	if f == ExportJSONL {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return func(r *exportRow) error {
			if r == nil {
				return nil
			}
			return enc.Encode(r)
		}, func() error { return nil }
	}
	cw := csv.NewWriter(w)
	// Spreadsheets expect CRLF, as RFC 4180 says.
	cw.UseCRLF = true
	return func(r *exportRow) error {
			if r == nil {
				return cw.Write(exportColumns)
			}
			return cw.Write(r.cells())
		}, func() error {
			cw.Flush()
			return cw.Error()
		}
}

// exportQuery is the export's SQL, with its arguments.
func exportQuery(dialectName string, ws gid.ID, prototypes []gid.ID) (string, []any) {
	arg := func(i int) string {
		if dialectName == dialect.Postgres {
			return "$" + strconv.Itoa(i)
		}
		return "?"
	}
	args := []any{int64(ws)}
	in := make([]string, len(prototypes))
	for i, p := range prototypes {
		args = append(args, int64(p))
		in[i] = arg(i + 2)
	}
	return `SELECT f.id, p.slug, i.number, f.kind, f.status, f.rating, f.minutes_saved_per_day,
	a.id, a.display_name, f.vote_count, ai.number, f.created_at, f.body
FROM feedbacks f
JOIN prototypes p ON p.id = f.prototype_id
JOIN iterations i ON i.id = f.iteration_id
JOIN participants a ON a.id = f.author_id
LEFT JOIN iterations ai ON ai.id = f.addressed_in_id
WHERE f.workspace_id = ` + arg(1) + ` AND f.prototype_id IN (` + strings.Join(in, ", ") + `)
ORDER BY p.slug, i.number, f.created_at, f.id`, args
}

func scanExportRow(rows *sql.Rows) (*exportRow, error) {
	var (
		r                                     exportRow
		id, author                            int64
		iteration, rating, minutes, addressed sql.NullInt64
		created                               time.Time
	)
	err := rows.Scan(&id, &r.Prototype, &iteration, &r.Kind, &r.Status, &rating, &minutes,
		&author, &r.authorName, &r.Votes, &addressed, &created, &r.Body)
	if err != nil {
		return nil, fmt.Errorf("export: read feedback: %w", err)
	}
	ptr := func(n sql.NullInt64) *int64 {
		if !n.Valid {
			return nil
		}
		return &n.Int64
	}
	r.ID, r.authorID = gid.ID(id).String(), gid.ID(author)
	r.Iteration, r.Rating, r.MinutesSavedPerDay, r.AddressedIn = ptr(iteration), ptr(rating), ptr(minutes), ptr(addressed)
	r.CreatedAt = created.UTC().Format(time.RFC3339)
	return &r, nil
}

// streamQuery runs a query whose rows are read for as long as the client
// takes them. PostgreSQL's statement_timeout counts that time too, so on
// PostgreSQL the query runs in a read-only transaction of its own with the
// timeout lifted; what is read per row meanwhile (names) goes through the
// pool, not this transaction. done closes the rows and ends the
// transaction.
func streamQuery(ctx context.Context, client *ent.Client, dialectName, query string, args []any) (rows *sql.Rows, done func(), err error) {
	if dialectName != dialect.Postgres {
		rows, err := client.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, nil, err
		}
		return rows, func() { rows.Close() }, nil
	}
	tx, err := client.Tx(ctx)
	if err != nil {
		return nil, nil, err
	}
	if _, err := tx.ExecContext(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
		_ = tx.Rollback()
		return nil, nil, err
	}
	rows, err = tx.QueryContext(ctx, query, args...)
	if err != nil {
		_ = tx.Rollback()
		return nil, nil, err
	}
	return rows, func() {
		rows.Close()
		_ = tx.Rollback() // it only read
	}, nil
}

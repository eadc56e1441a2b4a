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
	// Flush, if set, is called every exportPageRows rows and at the end,
	// after what was written so far has been handed to the writer: an HTTP
	// response sends it on.
	Flush func() error
	// Turn, if set, is called before each read of the database (the
	// prototypes' list, then each page of rows), and the function it
	// returns once the read is done: a server bounds how many exports
	// read at once. Its error ends the export; the first read's, before
	// anything is written to the writer.
	Turn func(context.Context) (done func(), err error)
}

// An export reads its rows a page at a time, each page a statement of its
// own, and writes a page before it reads the next: it holds a connection
// (and, for PostgreSQL's vacuum or SQLite's checkpoints, a snapshot) only
// while a page is read, not while the client takes the file. A page is
// at most exportPageRows rows, or as many as make exportPageBytes of text
// (bodies are up to 10,000 characters).
const (
	exportPageRows  = 500
	exportPageBytes = 1 << 20
)

// exportColumns are the export's columns, in order: the CSV header and
// the JSON keys.
var exportColumns = []string{
	"id", "prototype", "iteration", "kind", "status", "rating", "minutes_saved_per_day",
	"author", "votes", "addressed_in", "created_at", "body",
}

// exportRow is one feedback as exported; nil pointers are empty cells and
// JSON nulls.
type exportRow struct {
	ID                 string    `json:"id"`
	Prototype          string    `json:"prototype"`
	Iteration          *int64    `json:"iteration"`
	Kind               string    `json:"kind"`
	Status             string    `json:"status"`
	Rating             *int64    `json:"rating"`
	MinutesSavedPerDay *int64    `json:"minutes_saved_per_day"`
	Author             string    `json:"author"`
	Votes              int64     `json:"votes"`
	AddressedIn        *int64    `json:"addressed_in"`
	CreatedAt          string    `json:"created_at"`
	Body               string    `json:"body"`
	authorID           gid.ID    // for masking
	authorName         string    // before masking
	key                exportKey // the row's place in the export
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
// caller may read, each prototype's (by slug) in the order it came, and
// returns how many rows it wrote. Authors are named as the API names them
// (masked for testers) unless opts.ShowNames.
//
// It streams a page at a time (exportPageRows), so neither its memory nor
// what it holds of the database grows with the rows or with how slowly
// the client reads. Each page is read in a statement of its own, after the
// last row of the one before in (created_at, id), both immutable: a row
// is written once, as it stood when its page was read, and feedback left
// meanwhile is written if its place is still ahead. The pages are plain
// SQL (exportPageQuery) and read no more than the policies allow: they
// are limited to the prototypes the caller may read, as listed through
// ent, and the feedback policy lets a caller read all feedback on those
// and no other.
func ExportFeedback(ctx context.Context, client *ent.Client, dialectName string, ws gid.ID, w io.Writer, opts ExportOptions) (int, error) {
	reads := exportReads{client: client, query: exportPageQuery(dialectName), turn: opts.Turn}
	prototypes, err := reads.prototypes(ctx, ws)
	if err != nil {
		return 0, err
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

	clientOf := func(context.Context) *ent.Client { return client }
	n := 0
	for _, p := range prototypes {
		for after := (exportKey{}); ; {
			page, more, err := reads.page(ctx, p.ID, after)
			if err != nil {
				return n, err
			}
			for _, row := range page {
				row.Prototype = p.Slug
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
				if n%exportPageRows == 0 {
					if err := flush(); err != nil {
						return n, err
					}
				}
			}
			if !more {
				break
			}
			after = page[len(page)-1].key
		}
	}
	return n, errors.Join(finish(), flush())
}

// exportKey is a row's place in a prototype's export: the pages follow
// (created_at, id). The zero key (year 1) is before every row.
type exportKey struct {
	created time.Time
	id      int64
}

// exportReads reads an export's prototypes and its pages, each in a turn
// of its own (ExportOptions.Turn).
type exportReads struct {
	client *ent.Client
	query  string
	turn   func(context.Context) (func(), error)
}

// enter waits for a turn to read in, and returns the function that ends
// it.
func (e *exportReads) enter(ctx context.Context) (func(), error) {
	if e.turn == nil {
		return func() {}, nil
	}
	return e.turn(ctx)
}

// prototypes lists, by slug, the prototypes of workspace ws that the
// caller may read and that have feedback: one without would cost an empty
// page.
func (e *exportReads) prototypes(ctx context.Context, ws gid.ID) ([]*ent.Prototype, error) {
	done, err := e.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	prototypes, err := e.client.Prototype.Query().
		Where(prototype.WorkspaceID(ws), prototype.HasFeedback()).
		Order(ent.Asc(prototype.FieldSlug)).
		Select(prototype.FieldSlug).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: list prototypes: %w", err)
	}
	return prototypes, nil
}

// page returns the page of prototype p's feedback after key, and whether
// more may follow it.
func (e *exportReads) page(ctx context.Context, p gid.ID, after exportKey) (page []*exportRow, more bool, err error) {
	done, err := e.enter(ctx)
	if err != nil {
		return nil, false, err
	}
	defer done()
	rows, err := e.client.QueryContext(ctx, e.query, int64(p), after.created, after.id, exportPageRows)
	if err != nil {
		return nil, false, fmt.Errorf("export: query feedback: %w", err)
	}
	defer rows.Close()
	size := 0
	for rows.Next() {
		row, err := scanExportRow(rows)
		if err != nil {
			return nil, false, err
		}
		page = append(page, row)
		if size += len(row.Body) + len(row.authorName); size >= exportPageBytes {
			return page, true, nil // the rest of the page is read again next time
		}
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("export: read feedback: %w", err)
	}
	return page, len(page) == exportPageRows, nil
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

// exportPageQuery is the statement that reads a page of a prototype's
// feedback: its arguments are the prototype, the key after which the page
// starts, and the page's size. The index on (prototype_id, created_at,
// id) finds the page in order. The names and numbers are looked up row by row, by
// primary key: joined, PostgreSQL's planner hashed the whole participants
// and iterations tables for each page (15 ms for a page of 100 rows on
// the bench's data, 2 ms so).
func exportPageQuery(dialectName string) string {
	q := `SELECT f.id, (SELECT number FROM iterations WHERE id = f.iteration_id), f.kind, f.status, f.rating, f.minutes_saved_per_day,
	f.author_id, (SELECT display_name FROM participants WHERE id = f.author_id), f.vote_count,
	(SELECT number FROM iterations WHERE id = f.addressed_in_id), f.created_at, f.body
FROM feedbacks f
WHERE f.prototype_id = $1 AND f.created_at >= $2 AND (f.created_at > $2 OR f.id > $3)
ORDER BY f.created_at, f.id
LIMIT $4`
	if dialectName != dialect.Postgres {
		q = strings.NewReplacer("$1", "?1", "$2", "?2", "$3", "?3", "$4", "?4").Replace(q)
	}
	return q
}

func scanExportRow(rows *sql.Rows) (*exportRow, error) {
	var (
		r                                     exportRow
		author                                int64
		iteration, rating, minutes, addressed sql.NullInt64
	)
	err := rows.Scan(&r.key.id, &iteration, &r.Kind, &r.Status, &rating, &minutes,
		&author, &r.authorName, &r.Votes, &addressed, &r.key.created, &r.Body)
	if err != nil {
		return nil, fmt.Errorf("export: read feedback: %w", err)
	}
	ptr := func(n sql.NullInt64) *int64 {
		if !n.Valid {
			return nil
		}
		return &n.Int64
	}
	r.ID, r.authorID = gid.ID(r.key.id).String(), gid.ID(author)
	r.Iteration, r.Rating, r.MinutesSavedPerDay, r.AddressedIn = ptr(iteration), ptr(rating), ptr(minutes), ptr(addressed)
	r.CreatedAt = r.key.created.UTC().Format(time.RFC3339)
	return &r, nil
}

package graph

import (
	"cmp"
	"context"
	"fmt"
	"html"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/comment"
	"github.com/protoloop/protoloop/ent/feedback"
	"github.com/protoloop/protoloop/ent/predicate"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/storage"
)

// Search reads through the ent client, so the privacy policies filter
// what it finds exactly as they filter any list: a tester finds only what
// it may read. The text match is added to those queries as SQL:
//
//   - PostgreSQL: full-text search over to_tsvector('simple', body), which
//     the GIN indexes of the hand-written search migration cover, ranked
//     with ts_rank and highlighted with ts_headline. The 'simple'
//     configuration does not stem, which would suit one language only;
//     every word of the query matches as a prefix instead.
//   - SQLite: every word must occur in the body (instr), both folded to
//     one case by storage.FoldCase, which folds every script (SQLite's
//     lower() folds ASCII only); the rank is how often the words occur;
//     the highlight is made here, in Go.
//
// Results are ranked across feedback and comments, so a page is cut from
// the best offset+first of each, merged; the cursor is the offset. That
// is why a search reaches its searchWindow best matches and no further.

// Limits of a search.
const (
	searchDefaultFirst = 20
	searchMaxFirst     = 100
	searchWindow       = 1000
	searchMaxTerms     = 10
	searchMaxQuery     = 200 // characters
	tsConfig           = "simple"
	headlineOptions    = `StartSel=<mark>, StopSel=</mark>, MaxWords=30, MinWords=12, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "`
)

// searchArgs are search's arguments, checked.
type searchArgs struct {
	workspace gid.ID
	terms     []string
	kinds     []feedback.Kind
	statuses  []feedback.Status
	offset    int
	first     int
}

// searchHit is one match as the database ranks it.
type searchHit struct {
	ID        gid.ID    `json:"id"`
	Rank      float64   `json:"rank"`
	CreatedAt time.Time `json:"created_at"`
}

func search(ctx context.Context, client *ent.Client, dialectName string, workspace gid.ID, query string,
	kinds []feedback.Kind, statuses []feedback.Status, first *int, after *entgql.Cursor[gid.ID]) (*SearchConnection, error) {
	args, err := checkSearch(workspace, query, kinds, statuses, first, after)
	if err != nil {
		return nil, err
	}
	if err := checkWorkspaceVisible(ctx, client, workspace); err != nil {
		return nil, err
	}
	limit := args.offset + args.first + 1
	m := newMatcher(dialectName, args.terms)
	var fbHits, cmHits []searchHit
	err = client.Feedback.Query().
		Where(feedback.WorkspaceID(args.workspace), feedbackFilters(args), predicate.Feedback(m.where)).
		Limit(limit).
		Modify(m.rank(feedback.FieldID, feedback.FieldCreatedAt)).
		Scan(ctx, &fbHits)
	if err != nil {
		return nil, fmt.Errorf("search feedback: %w", err)
	}
	cq := client.Comment.Query().Where(comment.WorkspaceID(args.workspace), predicate.Comment(m.where))
	if len(args.kinds) > 0 || len(args.statuses) > 0 {
		// The feedback is in the same prototype, which the caller can see
		// when it can see the comment: the subquery shows nothing more.
		cq.Where(comment.HasFeedbackWith(feedbackFilters(args)))
	}
	err = cq.Limit(limit).
		Modify(m.rank(comment.FieldID, comment.FieldCreatedAt)).
		Scan(ctx, &cmHits)
	if err != nil {
		return nil, fmt.Errorf("search comments: %w", err)
	}

	hits := append(fbHits, cmHits...)
	slices.SortFunc(hits, func(a, b searchHit) int {
		return cmp.Or(cmp.Compare(b.Rank, a.Rank), b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	conn := &SearchConnection{PageInfo: &entgql.PageInfo[gid.ID]{HasPreviousPage: args.offset > 0}}
	if len(hits) <= args.offset {
		return conn, nil
	}
	page := hits[args.offset:]
	if len(page) > args.first {
		page, conn.PageInfo.HasNextPage = page[:args.first], args.offset+args.first < searchWindow
	}
	return conn, fillSearchPage(ctx, client, m, args.offset, page, conn)
}

// fillSearchPage loads the page's feedback and comments, with their
// highlights, into conn's edges. What the operation selects of them
// (edges.node, under each alias) is eager-loaded with field collection,
// so a page costs the same statements whatever its length.
func fillSearchPage(ctx context.Context, client *ent.Client, m matcher, offset int, page []searchHit, conn *SearchConnection) error {
	var fbIDs, cmIDs []gid.ID
	for _, h := range page {
		if h.ID.Type() == gid.Feedback {
			fbIDs = append(fbIDs, h.ID)
		} else {
			cmIDs = append(cmIDs, h.ID)
		}
	}
	var nodeFields []context.Context
	for _, edges := range childFields(ctx, "edges", searchConnectionImplementors...) {
		nodeFields = append(nodeFields, childFields(edges, "node", searchEdgeImplementors...)...)
	}
	nodes := make(map[gid.ID]ent.Noder, len(page))
	if len(fbIDs) > 0 {
		q, err := collectEach(client.Feedback.Query().Where(feedback.IDIn(fbIDs...)), nodeFields, feedbackImplementors...)
		if err != nil {
			return fmt.Errorf("collect fields of feedback found: %w", err)
		}
		fbs, err := q.All(ctx)
		if err != nil {
			return fmt.Errorf("load feedback found: %w", err)
		}
		for _, fb := range fbs {
			nodes[fb.ID] = fb
		}
	}
	if len(cmIDs) > 0 {
		q, err := collectEach(client.Comment.Query().Where(comment.IDIn(cmIDs...)), nodeFields, commentImplementors...)
		if err != nil {
			return fmt.Errorf("collect fields of comments found: %w", err)
		}
		cms, err := q.All(ctx)
		if err != nil {
			return fmt.Errorf("load comments found: %w", err)
		}
		for _, c := range cms {
			nodes[c.ID] = c
		}
	}
	highlights, err := m.highlights(ctx, client, fbIDs, cmIDs)
	if err != nil {
		return err
	}
	for i, h := range page {
		n, ok := nodes[h.ID]
		if !ok {
			continue // removed between the two reads
		}
		conn.Edges = append(conn.Edges, &SearchEdge{
			Node:      n,
			Cursor:    entgql.Cursor[gid.ID]{Value: offset + i + 1},
			Rank:      h.Rank,
			Highlight: highlights[h.ID],
		})
	}
	if l := len(conn.Edges); l > 0 {
		conn.PageInfo.StartCursor, conn.PageInfo.EndCursor = &conn.Edges[0].Cursor, &conn.Edges[l-1].Cursor
	}
	return nil
}

// checkSearch checks search's arguments and turns the query into terms.
func checkSearch(workspace gid.ID, query string, kinds []feedback.Kind, statuses []feedback.Status,
	first *int, after *entgql.Cursor[gid.ID]) (searchArgs, error) {
	args := searchArgs{workspace: workspace, kinds: kinds, statuses: statuses, first: searchDefaultFirst}
	if workspace.Type() != gid.Workspace {
		return args, badInput("workspace", "workspace must be a workspace ID")
	}
	if utf8.RuneCountInString(query) > searchMaxQuery {
		return args, badInput("query", "query must be at most %d characters", searchMaxQuery)
	}
	args.terms = searchTerms(query)
	switch {
	case len(args.terms) == 0:
		return args, badInput("query", "query must contain a word")
	case len(args.terms) > searchMaxTerms:
		return args, badInput("query", "query may have at most %d words", searchMaxTerms)
	}
	if first != nil {
		if *first < 1 || *first > searchMaxFirst {
			return args, badInput("first", "first must be 1 to %d", searchMaxFirst)
		}
		args.first = *first
	}
	if after != nil {
		offset, ok := cursorOffset(after)
		if !ok {
			return args, badInput("after", "after: not a cursor of this search")
		}
		args.offset = offset
	}
	if args.offset+args.first > searchWindow {
		return args, badInput("after", "a search reaches its %d best matches: narrow it down", searchWindow)
	}
	return args, nil
}

// cursorOffset reads the offset a search cursor holds (see position).
func cursorOffset(c *entgql.Cursor[gid.ID]) (int, bool) {
	if c.ID != 0 {
		return 0, false
	}
	n, ok := position(c.Value)
	if !ok {
		return 0, false
	}
	if n > searchWindow {
		return 0, false
	}
	return int(n), true
}

// searchTerms splits a query into lower-case words: runs of letters and
// digits. Anything else separates words, so no query syntax reaches
// to_tsquery or instr.
func searchTerms(query string) []string {
	words := strings.FieldsFunc(strings.ToLower(query), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	slices.Sort(words)
	return slices.Compact(words)
}

// feedbackFilters is the kinds and status filter of a search.
func feedbackFilters(args searchArgs) predicate.Feedback {
	var ps []predicate.Feedback
	if len(args.kinds) > 0 {
		ps = append(ps, feedback.KindIn(args.kinds...))
	}
	if len(args.statuses) > 0 {
		ps = append(ps, feedback.StatusIn(args.statuses...))
	}
	return feedback.And(ps...)
}

// checkWorkspaceVisible answers NOT_FOUND for a workspace the caller cannot
// see, rather than an empty result that would not tell a typo from a
// workspace with nothing to find.
func checkWorkspaceVisible(ctx context.Context, client *ent.Client, id gid.ID) error {
	if _, err := client.Workspace.Get(ctx, id); err != nil {
		if ent.IsNotFound(err) {
			return notFound("workspace")
		}
		return fmt.Errorf("load workspace %s: %w", id, err)
	}
	return nil
}

// matcher is how one dialect matches, ranks and highlights search terms.
type matcher struct {
	postgres bool
	terms    []string
	tsquery  string // PostgreSQL: every term as a prefix, all required
}

func newMatcher(dialectName string, terms []string) matcher {
	m := matcher{postgres: dialectName == dialect.Postgres, terms: terms}
	if !m.postgres {
		m.terms = make([]string, len(terms))
		for i, t := range terms {
			m.terms[i] = storage.FoldCase(t)
		}
	} else {
		parts := make([]string, len(terms))
		for i, t := range terms {
			// Terms are letters and digits only: nothing to quote but the
			// word itself, which to_tsquery reads between single quotes.
			parts[i] = "'" + t + "':*"
		}
		m.tsquery = strings.Join(parts, " & ")
	}
	return m
}

// where restricts a query on feedbacks or comments to rows whose body
// matches every term.
func (m matcher) where(s *sql.Selector) {
	body := s.C("body")
	if m.postgres {
		s.Where(sql.P(func(b *sql.Builder) {
			b.WriteString("to_tsvector('" + tsConfig + "', " + body + ") @@ to_tsquery('" + tsConfig + "', ").Arg(m.tsquery).WriteString(")")
		}))
		return
	}
	for _, t := range m.terms {
		s.Where(sql.P(func(b *sql.Builder) {
			b.WriteString("instr(" + storage.FoldCaseSQL + "(" + body + "), ").Arg(t).WriteString(") > 0")
		}))
	}
}

// rank selects the ID, rank and creation time of the matching rows, best
// first.
func (m matcher) rank(idField, createdField string) func(*sql.Selector) {
	return func(s *sql.Selector) {
		body := s.C("body")
		rank := sql.ExprFunc(func(b *sql.Builder) {
			if m.postgres {
				b.WriteString("ts_rank(to_tsvector('" + tsConfig + "', " + body + "), to_tsquery('" + tsConfig + "', ").Arg(m.tsquery).WriteString("))")
				return
			}
			// How often the terms occur: the length the body loses when
			// each is cut out, in units of the term.
			for i, t := range m.terms {
				if i > 0 {
					b.WriteString(" + ")
				}
				folded := storage.FoldCaseSQL + "(" + body + ")"
				b.WriteString("(length(" + folded + ") - length(replace(" + folded + ", ").Arg(t).WriteString(", ''))) / ")
				b.WriteString(fmt.Sprintf("%d.0", utf8.RuneCountInString(t)))
			}
		})
		s.Select(s.C(idField), s.C(createdField))
		s.AppendSelectExprAs(rank, "rank")
		s.OrderExpr(sql.Expr("rank DESC"))
		s.OrderBy(sql.Desc(s.C(createdField)), s.C(idField))
	}
}

// highlights returns the highlighted passage of each row found: one
// statement per table, for the page only (ts_headline is costly, and the
// nodes' own query selects only what the operation asks of them).
func (m matcher) highlights(ctx context.Context, client *ent.Client, fbIDs, cmIDs []gid.ID) (map[gid.ID]string, error) {
	type headline struct {
		ID       gid.ID `json:"id"`
		Headline string `json:"headline"`
	}
	headlines := func(s *sql.Selector) {
		s.Select(s.C("id"))
		if !m.postgres {
			s.AppendSelectAs(s.C("body"), "headline") // marked up here, below
			return
		}
		// The body is escaped before ts_headline marks it up, so the
		// result is safe HTML whatever the text held.
		escaped := "replace(replace(replace(" + s.C("body") + ", '&', '&amp;'), '<', '&lt;'), '>', '&gt;')"
		s.AppendSelectExprAs(sql.ExprFunc(func(b *sql.Builder) {
			b.WriteString("ts_headline('" + tsConfig + "', " + escaped + ", to_tsquery('" + tsConfig + "', ").Arg(m.tsquery).
				WriteString("), ").Arg(headlineOptions).WriteString(")")
		}), "headline")
	}
	var hs []headline
	if len(fbIDs) > 0 {
		var part []headline
		if err := client.Feedback.Query().Where(feedback.IDIn(fbIDs...)).Modify(headlines).Scan(ctx, &part); err != nil {
			return nil, fmt.Errorf("highlight feedback: %w", err)
		}
		hs = append(hs, part...)
	}
	if len(cmIDs) > 0 {
		var part []headline
		if err := client.Comment.Query().Where(comment.IDIn(cmIDs...)).Modify(headlines).Scan(ctx, &part); err != nil {
			return nil, fmt.Errorf("highlight comments: %w", err)
		}
		hs = append(hs, part...)
	}
	out := make(map[gid.ID]string, len(hs))
	for _, h := range hs {
		if !m.postgres {
			h.Headline = highlight(h.Headline, m.terms)
		}
		out[h.ID] = h.Headline
	}
	return out, nil
}

// highlightWords is about how many words of context highlight keeps
// around the first match, as ts_headline's MaxWords does.
const highlightWords = 30

// highlight marks the words of body that hold one of terms (folded by
// storage.FoldCase), as <mark>…</mark> in escaped HTML, in a passage of
// about highlightWords words around the first of them: SQLite's
// ts_headline.
func highlight(body string, terms []string) string {
	type word struct {
		start, end int
		match      bool
	}
	var words []word
	first := -1
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		lw := storage.FoldCase(body[start:end])
		w := word{start: start, end: end}
		for _, t := range terms {
			w.match = w.match || strings.Contains(lw, t)
		}
		if w.match && first < 0 {
			first = len(words)
		}
		words = append(words, w)
		start = -1
	}
	for i, r := range body {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
	}
	flush(len(body))
	if len(words) == 0 {
		return html.EscapeString(body)
	}
	from := max(first-highlightWords/3, 0)
	to := min(from+highlightWords, len(words))
	var b strings.Builder
	if from > 0 {
		b.WriteString("… ")
	}
	pos := words[from].start
	for _, w := range words[from:to] {
		b.WriteString(html.EscapeString(body[pos:w.start]))
		if w.match {
			b.WriteString("<mark>" + html.EscapeString(body[w.start:w.end]) + "</mark>")
		} else {
			b.WriteString(html.EscapeString(body[w.start:w.end]))
		}
		pos = w.end
	}
	if to < len(words) {
		b.WriteString(" …")
	} else {
		b.WriteString(html.EscapeString(body[pos:]))
	}
	return b.String()
}

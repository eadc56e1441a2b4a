package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/protoloop/protoloop/graph"
)

// The error codes of documents refused for their size or shape. Like
// gqlgen's parse and validation errors they are answered with HTTP 422
// (400 to clients that accept application/graphql-response+json): nothing
// ran.
const (
	CodeQueryTooLarge     graph.Code = "QUERY_TOO_LARGE"      // more tokens than Limits.MaxTokens
	CodeTooManyFields     graph.Code = "TOO_MANY_FIELDS"      // more fields than Limits.MaxFields
	CodeTooManyDirectives graph.Code = "TOO_MANY_DIRECTIVES"  // more directives than Limits.MaxDirectives
	CodeQueryTooDeep      graph.Code = "QUERY_TOO_DEEP"       // nested deeper than Limits.MaxDepth
	CodeTooManyAliases    graph.Code = "TOO_MANY_ALIASES"     // more aliases than Limits.MaxAliases
	CodeTooManyRootFields graph.Code = "TOO_MANY_ROOT_FIELDS" // more top-level fields than Limits.MaxRootFields
	CodeQueryTooComplex   graph.Code = "QUERY_TOO_COMPLEX"    // costs more than Limits.MaxComplexity
)

func init() {
	for _, c := range []graph.Code{CodeQueryTooLarge, CodeTooManyFields, CodeTooManyDirectives,
		CodeQueryTooDeep, CodeTooManyAliases, CodeTooManyRootFields, CodeQueryTooComplex} {
		errcode.RegisterErrorType(string(c), errcode.KindProtocol)
	}
}

// Defaults for the Limits fields left zero. A page of a frontend (the
// README's example query: workspace → 10 prototypes → 10 iterations → 10
// feedback each, depth 12, complexity about 13,000) is well inside them.
const (
	DefaultMaxTokens     = 10_000
	DefaultMaxFields     = 500
	DefaultMaxDirectives = 50
	DefaultMaxDepth      = 15
	DefaultMaxAliases    = 50
	DefaultMaxRootFields = 20
	DefaultMaxComplexity = 50_000
	DefaultMaxPageSize   = 100
)

// Limits bound what one GraphQL document may ask of the server. Zero
// means the default; there is no "unlimited".
//
// They are checked in two steps. Before gqlgen parses and validates a
// document (validation's overlapping-fields check is quadratic in the
// fields of a selection set: 20,000 repeats of one field take tens of
// seconds), a cheap linear pass over the syntax tree checks tokens,
// fields, directives, depth, aliases and root fields; a document that
// passes is cached, and its repeats skip this step. After validation, on
// every request, because they depend on the variables: page sizes and
// complexity.
type Limits struct {
	// MaxTokens caps the lexical tokens of a document (names, punctuation,
	// values): the parser stops at the limit.
	MaxTokens int
	// MaxFields caps the fields a document selects, fragments counted
	// each time they are spread, in every operation and fragment.
	MaxFields int
	// MaxDirectives caps the directives (@include, @skip…) written in a
	// document.
	MaxDirectives int
	// MaxDepth caps how deeply selection sets nest, fragments expanded;
	// { viewer { id } } has depth 2. Introspection (__schema, __type) is
	// not counted: gqlparser bounds its depth itself.
	MaxDepth int
	// MaxAliases caps the aliased fields, fragments counted each time they
	// are spread.
	MaxAliases int
	// MaxRootFields caps the fields at the top level of an operation.
	MaxRootFields int
	// MaxComplexity caps an operation's cost: each field costs 1 plus the
	// cost of its selection, and a connection's edges (or nodes) count
	// first (or last) times over, MaxPageSize times when neither is given.
	MaxComplexity int
	// MaxPageSize caps first and last on connections, whether written in
	// the document or passed as variables.
	MaxPageSize int
}

func (l Limits) withDefaults() Limits {
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.MaxTokens, DefaultMaxTokens)
	set(&l.MaxFields, DefaultMaxFields)
	set(&l.MaxDirectives, DefaultMaxDirectives)
	set(&l.MaxDepth, DefaultMaxDepth)
	set(&l.MaxAliases, DefaultMaxAliases)
	set(&l.MaxRootFields, DefaultMaxRootFields)
	set(&l.MaxComplexity, DefaultMaxComplexity)
	set(&l.MaxPageSize, DefaultMaxPageSize)
	return l
}

// queryLimits is the gqlgen extension enforcing Limits.
type queryLimits struct {
	Limits
	// checked holds the documents that passed the first step: the query
	// cache, which holds only documents that got through this extension
	// and validation (gqlgen's, or cacheIfValid's with gqlgen's rules).
	checked graphql.Cache[*ast.QueryDocument]
	schema  *ast.Schema
	// rules are the validation rules gqlgen is given (SetValidationRulesFn).
	rules func() *rules.Rules
}

var (
	_ graphql.HandlerExtension          = (*queryLimits)(nil)
	_ graphql.OperationParameterMutator = (*queryLimits)(nil)
	_ graphql.OperationContextMutator   = (*queryLimits)(nil)
)

// ExtensionName implements graphql.HandlerExtension.
func (*queryLimits) ExtensionName() string { return "QueryLimits" }

// Validate implements graphql.HandlerExtension.
func (q *queryLimits) Validate(es graphql.ExecutableSchema) error {
	q.schema = es.Schema()
	return nil
}

// MutateOperationParameters implements graphql.OperationParameterMutator:
// the checks before parsing and validation.
func (q *queryLimits) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if _, ok := q.checked.Get(ctx, p.Query); ok {
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, q.MaxTokens)
	if err != nil {
		var gErr *gqlerror.Error
		if errors.As(err, &gErr) && strings.HasPrefix(gErr.Message, "exceeded token limit") {
			return limitError(CodeQueryTooLarge, "the document has more than %d tokens", q.MaxTokens)
		}
		// gqlgen parses again and reports the syntax error itself.
		return nil
	}
	if err := q.checkShape(doc); err != nil {
		return err
	}
	q.cacheIfValid(ctx, p.Query, doc)
	return nil
}

// admit adds to the query cache, under its text, a document parsed by the
// GET transport for its 405 check, if it passes both what this extension
// checks before parsing and gqlgen's validation. The first step here and
// gqlgen's parse and validation then find it in the cache: a GET the
// cache missed is parsed once, where it was parsed three times. A
// document that fails is not added, and is parsed again by whichever of
// them reports what is wrong with it.
func (q *queryLimits) admit(ctx context.Context, text string, doc *ast.QueryDocument) {
	if q.checkShape(doc) == nil {
		q.cacheIfValid(ctx, text, doc)
	}
}

// cacheIfValid adds to the query cache a document within the limits that
// gqlgen's validation passes (the rules gqlgen is given; without
// suggestions in production, which changes messages, not verdicts), so
// that gqlgen finds it there rather than parse and validate it once more.
// An invalid document is left to gqlgen, which parses it again and
// reports its errors.
func (q *queryLimits) cacheIfValid(ctx context.Context, text string, doc *ast.QueryDocument) {
	if len(doc.Operations) == 0 {
		return // gqlgen's "no operation provided"
	}
	if errs := validator.ValidateWithRules(q.schema, doc, q.rules()); len(errs) > 0 {
		return
	}
	q.checked.Add(ctx, text, doc)
}

// checkShape checks a parsed, not yet validated document. It walks each
// definition's syntax once: fragments are measured once each and their
// measures reused wherever they are spread, so a fragment spread within
// a fragment spread within… costs nothing extra.
func (q *queryLimits) checkShape(doc *ast.QueryDocument) *gqlerror.Error {
	s := &shapeWalker{doc: doc, fragments: map[string]*shape{}}
	directives := 0
	measure := func(set ast.SelectionSet, dirs ast.DirectiveList, root bool) *gqlerror.Error {
		m := s.selectionSet(set)
		directives += len(dirs)
		switch {
		case m.fields > q.MaxFields:
			return limitError(CodeTooManyFields, "the document selects more than %d fields (fragments counted each time they are spread)", q.MaxFields)
		case m.depth > q.MaxDepth:
			return limitError(CodeQueryTooDeep, "the document nests deeper than %d levels", q.MaxDepth)
		case m.aliases > q.MaxAliases:
			return limitError(CodeTooManyAliases, "the document has more than %d aliases (fragments counted each time they are spread)", q.MaxAliases)
		case root && m.roots > q.MaxRootFields:
			return limitError(CodeTooManyRootFields, "an operation selects more than %d fields at its top level", q.MaxRootFields)
		}
		return nil
	}
	for _, op := range doc.Operations {
		if err := measure(op.SelectionSet, op.Directives, true); err != nil {
			return err
		}
	}
	for _, f := range doc.Fragments {
		if err := measure(f.SelectionSet, f.Directives, false); err != nil {
			return err
		}
	}
	if directives+s.directives > q.MaxDirectives {
		return limitError(CodeTooManyDirectives, "the document has more than %d directives", q.MaxDirectives)
	}
	return nil
}

// shape is what the first step measures of a selection set.
type shape struct {
	fields, aliases int // fragments expanded
	depth           int // fragments expanded; introspection not counted
	roots           int // fields at its own level, fragments expanded
}

type shapeWalker struct {
	doc        *ast.QueryDocument
	fragments  map[string]*shape // measured, or being measured (a cycle)
	directives int               // written in selection sets
}

func (s *shapeWalker) selectionSet(set ast.SelectionSet) shape {
	var m shape
	add := func(sub shape, roots int) {
		m.fields = satAdd(m.fields, sub.fields)
		m.aliases = satAdd(m.aliases, sub.aliases)
		m.depth = max(m.depth, sub.depth)
		m.roots = satAdd(m.roots, roots)
	}
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			s.directives += len(sel.Directives)
			sub := s.selectionSet(sel.SelectionSet)
			sub.fields = satAdd(sub.fields, 1)
			if sel.Alias != "" && sel.Alias != sel.Name {
				sub.aliases = satAdd(sub.aliases, 1)
			}
			if sel.Name == "__schema" || sel.Name == "__type" {
				sub.depth = 0
			}
			sub.depth++
			add(sub, 1)
		case *ast.InlineFragment:
			s.directives += len(sel.Directives)
			sub := s.selectionSet(sel.SelectionSet)
			add(sub, sub.roots)
		case *ast.FragmentSpread:
			s.directives += len(sel.Directives)
			sub := s.fragment(sel.Name)
			add(sub, sub.roots)
		}
	}
	return m
}

// fragment measures the named fragment once. A cycle (which validation
// refuses) counts as empty; an unknown name too.
func (s *shapeWalker) fragment(name string) shape {
	if m, ok := s.fragments[name]; ok {
		return *m
	}
	s.fragments[name] = &shape{}
	def := s.doc.Fragments.ForName(name)
	if def == nil {
		return shape{}
	}
	// Its directives are counted when its definition is measured.
	dirs := s.directives
	m := s.selectionSet(def.SelectionSet)
	s.directives = dirs
	s.fragments[name] = &m
	return m
}

// MutateOperationContext implements graphql.OperationContextMutator: the
// checks after validation, which depend on the variables.
func (q *queryLimits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	c := &costWalker{limits: q.Limits, vars: oc.Variables, fragments: map[string]int{}}
	cost := c.selectionSet(oc.Operation.SelectionSet)
	if c.err != nil {
		return c.err
	}
	if cost > q.MaxComplexity {
		return limitError(CodeQueryTooComplex,
			"the operation costs %s, over the limit of %d: ask for smaller pages (first, last) or fewer fields", costString(cost), q.MaxComplexity)
	}
	return nil
}

// costWalker computes an operation's complexity, checking page sizes on
// the way.
type costWalker struct {
	limits    Limits
	vars      map[string]any
	fragments map[string]int // the cost of each fragment, once computed
	err       *gqlerror.Error
}

func (c *costWalker) selectionSet(set ast.SelectionSet) int {
	cost := 0
	for _, sel := range set {
		if c.err != nil {
			return cost
		}
		switch sel := sel.(type) {
		case *ast.Field:
			cost = satAdd(cost, c.field(sel))
		case *ast.InlineFragment:
			cost = satAdd(cost, c.selectionSet(sel.SelectionSet))
		case *ast.FragmentSpread:
			sub, ok := c.fragments[sel.Name]
			if !ok {
				c.fragments[sel.Name] = 0 // validation refused cycles; be safe anyway
				if sel.Definition != nil {
					sub = c.selectionSet(sel.Definition.SelectionSet)
				}
				c.fragments[sel.Name] = sub
			}
			cost = satAdd(cost, sub)
		}
	}
	return cost
}

// field is the cost of one field: 1, plus its selection's, in which a
// connection's edges count once per row. Introspection costs 1.
func (c *costWalker) field(f *ast.Field) int {
	if strings.HasPrefix(f.Name, "__") {
		return 1
	}
	times, paged := 1, false
	for _, name := range []string{"first", "last"} {
		arg := f.Arguments.ForName(name)
		if arg == nil || arg.Value == nil {
			continue
		}
		v, err := arg.Value.Value(c.vars)
		n, isInt := v.(int64)
		if err != nil || !isInt {
			continue // null, or not an Int: gqlgen reports that
		}
		// Refused here, for the whole document, rather than by entgql
		// when it pages: a nested page is read in its parent's query,
		// whose field the error would then blame and null.
		switch {
		case n > int64(c.limits.MaxPageSize):
			c.err = limitError(graph.CodeBadUserInput, "%s: at most %d per page, not %d", name, c.limits.MaxPageSize, n)
		case n < 0:
			c.err = limitError(graph.CodeBadUserInput, "%s: a page size cannot be negative, not %d", name, n)
		case paged:
			c.err = limitError(graph.CodeBadUserInput, "first and last: a page takes one of the two, not both")
		}
		if c.err != nil {
			c.err.Extensions["field"] = name
			return 0
		}
		paged = true
		times = max(times, int(n))
	}
	if f.Definition == nil || !isConnection(f.Definition.Type) {
		sub := c.selectionSet(f.SelectionSet)
		if ids := f.Arguments.ForName("ids"); ids != nil {
			// nodes(ids:) reads a node per id.
			if v, err := ids.Value.Value(c.vars); err == nil {
				if list, ok := v.([]any); ok {
					sub = satMul(max(len(list), 1), sub)
				}
			}
		}
		return satAdd(1, sub)
	}
	if !paged {
		// entgql returns every row when neither is given.
		times = c.limits.MaxPageSize
	}
	return satAdd(1, c.connection(f.SelectionSet, times))
}

// connection is the cost of a connection's selection: its edges and nodes
// count once per row of the page, totalCount and pageInfo once.
func (c *costWalker) connection(set ast.SelectionSet, times int) int {
	cost := 0
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			sub := c.field(sel)
			if sel.Name == "edges" || sel.Name == "nodes" {
				sub = satMul(times, sub)
			}
			cost = satAdd(cost, sub)
		case *ast.InlineFragment:
			cost = satAdd(cost, c.connection(sel.SelectionSet, times))
		case *ast.FragmentSpread:
			if sel.Definition != nil {
				cost = satAdd(cost, c.connection(sel.Definition.SelectionSet, times))
			}
		}
	}
	return cost
}

func isConnection(t *ast.Type) bool {
	return t != nil && t.Elem == nil && strings.HasSuffix(t.NamedType, "Connection")
}

func limitError(code graph.Code, format string, args ...any) *gqlerror.Error {
	e := gqlerror.Errorf(format, args...)
	e.Extensions = map[string]any{"code": string(code)}
	return e
}

// satAdd and satMul add and multiply non-negative costs without
// overflowing: a document must not wrap its cost around to a small one.
func satAdd(a, b int) int {
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

func satMul(a, b int) int {
	if a != 0 && b > math.MaxInt/a {
		return math.MaxInt
	}
	return a * b
}

func costString(cost int) string {
	if cost == math.MaxInt {
		return "more than anyone could count"
	}
	return fmt.Sprint(cost)
}

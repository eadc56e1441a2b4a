package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/protoloop/protoloop/graph"
)

// queryCacheSize is how many parsed and validated documents are kept:
// clients send the same few operations over and over.
const queryCacheSize = 1000

// graphql returns the GraphQL endpoint. Transports are added one by one,
// each for a reason; gqlgen serves a request with the first that supports
// it.
func (s *Server) graphql() http.Handler {
	client, dialect := s.db.Client, s.db.Dialect
	srv := handler.New(graph.NewSchema(client, dialect, s.broker, s.identities, s.log))
	// use adds an extension. None may be a field interceptor
	// (graphql.FieldInterceptor) without changing graph/internal/gqlgen:
	// every field below Query, Mutation and Subscription is resolved
	// without gqlgen's field middleware (see its plain.go), so an
	// interceptor would see the root fields only.
	use := func(ext graphql.HandlerExtension) {
		if _, ok := ext.(graphql.FieldInterceptor); ok {
			panic(fmt.Sprintf("server: %T intercepts fields, which fields below the root would skip", ext))
		}
		srv.Use(ext)
	}

	// Trusted documents, or else Automatic Persisted Queries: either puts
	// the text of a document named by its hash in the request, so they
	// come before anything that reads it.
	var persisted func(hash string) (string, bool)
	var trusted func(text string) bool
	if docs := s.cfg.TrustedDocuments; docs != nil {
		t := trustedOnly{docs}
		use(t)
		persisted, trusted = t.lookup, t.holds
	} else {
		apq, lookup := newAPQ()
		use(apq)
		persisted = lookup
	}

	limits := s.cfg.Limits.withDefaults()
	// Parsed and validated documents: gqlgen's, read by the GET transport
	// and queryLimits too, and filled by the GET transport with the
	// queries it parses (queryLimits.admit).
	cache := lru.New[*ast.QueryDocument](queryCacheSize)
	// gqlgen's default rules, named so that the documents queryLimits.admit
	// validates for gqlgen pass the rules gqlgen's own validation would.
	validationRules := rules.NewDefaultRules
	limiter := &queryLimits{Limits: limits, checked: cache, rules: validationRules}

	srv.AddTransport(transport.Options{})
	// Subscriptions, ahead of GET and POST, which would otherwise claim
	// their requests: websockets (graphql-transport-ws and graphql-ws,
	// authenticating from connection_init) and SSE (a POST that accepts
	// text/event-stream). See live.go.
	s.addLiveTransports(srv)
	srv.AddTransport(getQueries{persisted: persisted, trusted: trusted, parsed: cache, maxTokens: limits.MaxTokens, admit: limiter.admit})
	// JSON bodies only: no multipart or form transports, so no file
	// uploads and no request a plain HTML form on another site could send.
	// GET and POST write responses by writeResponse (response.go).
	srv.AddTransport(postQueries{})

	srv.SetQueryCache(cache)
	srv.SetParserTokenLimit(limits.MaxTokens)
	srv.SetValidationRulesFn(validationRules)
	use(limiter)
	use(operationTimer{s.metrics})
	presenter := graph.ErrorPresenter(s.log)
	if s.cfg.Production {
		// In production the schema is the frontends' own business: no
		// introspection, and no "Did you mean …?" that would spell it out
		// field by field to whoever guesses.
		srv.SetDisableSuggestion(true)
		presenter = withoutSuggestions(presenter)
	} else {
		use(extension.Introspection{}) // GraphiQL and code generators read the schema
	}
	use(graph.ArgumentGuard{})
	// Ahead of the transactioner, so that a mutation refused for its rate
	// never begins a transaction, and the request timeout covers it.
	use(newOperationGuard(s.cfg.RequestTimeout, *s.cfg.RateLimits))
	use(graph.NewTransactioner(client, dialect, s.broker, s.log).WakeOnDeliveries(s.hooks.Wake).NumberOn(s.db))
	srv.SetErrorPresenter(presenter)
	srv.SetRecoverFunc(graph.RecoverFunc(s.log))
	return srv
}

// suggestion is gqlparser's "Did you mean …?" in a validation message.
var suggestion = regexp.MustCompile(` ?Did you mean [^?]*\?`)

// withoutSuggestions drops the suggestions from the messages present
// gives clients. gqlgen's SetDisableSuggestion leaves those of enum
// values and some others in.
func withoutSuggestions(present graphql.ErrorPresenterFunc) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		e := present(ctx, err)
		e.Message = suggestion.ReplaceAllString(e.Message, "")
		return e
	}
}

// getQueries is the GET transport: gqlgen's, refusing any operation but a
// query before it runs, and writing the response by runOperation. A GET
// can be made by a link or an <img> on any site, so it must never change
// anything. gqlgen refuses mutations over GET too,
// but with 406; GraphQL over HTTP asks for 405, which tells clients and
// proxies that the method, not the content type, is what is wrong.
type getQueries struct {
	transport.GET
	// persisted returns the document of a hash (trusted documents, or
	// APQ's cache), for a request that names one instead of sending it.
	persisted func(hash string) (string, bool)
	// trusted reports whether a text is a trusted document, when only
	// those run (nil otherwise).
	trusted func(text string) bool
	// parsed is gqlgen's query cache: a document sent before is not
	// parsed again to tell its operation's type.
	parsed graphql.Cache[*ast.QueryDocument]
	// maxTokens bounds the parse of a document the cache does not hold
	// (Limits.MaxTokens), as gqlgen's own parse is bounded.
	maxTokens int
	// admit puts a query parsed for the check in the cache if it passes
	// what gqlgen would check before caching it (queryLimits.admit).
	admit func(ctx context.Context, text string, doc *ast.QueryDocument)
}

var _ graphql.Transport = getQueries{}

// Do implements graphql.Transport.
func (t getQueries) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	// gqlgen answers a malformed query string, variables or extensions
	// itself, without extensions.code: they are checked here instead.
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, graph.CodeBadUserInput, "malformed query string: "+err.Error())
		return
	}
	raw := graphql.RawParams{
		Query:         params.Get("query"),
		OperationName: params.Get("operationName"),
		Headers:       r.Header,
	}
	raw.ReadTime.Start = graphql.Now()
	for _, p := range []struct {
		name string
		into *map[string]any
	}{{"variables", &raw.Variables}, {"extensions", &raw.Extensions}} {
		if v := params.Get(p.name); v != "" && decodeJSONObject(v, p.into) != nil {
			writeError(w, http.StatusBadRequest, graph.CodeBadUserInput, p.name+": not a JSON object")
			return
		}
	}
	if err := withDocumentID(&raw, params.Get("documentId")); err != nil {
		writeError(w, http.StatusBadRequest, graph.CodeBadUserInput, err.Error())
		return
	}
	// A persisted document's text is for this check only: the trusted
	// documents or APQ extension puts it in the request itself.
	text := raw.Query
	if text == "" && raw.Extensions != nil {
		text, _ = t.persisted(persistedHash(raw.Extensions))
	}
	doc, parsed := t.document(r.Context(), text)
	op := operationType(doc, raw.OperationName)
	if op != "" && op != ast.Query {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, graph.CodeBadUserInput,
			fmt.Sprintf("a %s cannot be sent with GET: use POST", op))
		return
	}
	// A query the cache did not hold has just been parsed: admitted to
	// the cache, it is what queryLimits and gqlgen find there, and they
	// neither parse it again nor validate it twice. Not a document that
	// trusted documents will refuse: validating it would cost more than
	// refusing it, and it would push the operator's documents out of the
	// cache.
	if parsed && op == ast.Query && (t.trusted == nil || t.trusted(text)) {
		t.admit(r.Context(), text, doc)
	}
	raw.ReadTime.End = graphql.Now()
	media := responseMediaType(r)
	w.Header().Set("Content-Type", media)
	runOperation(w, r, exec, &raw, media)
}

// decodeJSONObject decodes a JSON object as gqlgen's transports do,
// numbers kept as json.Number, and refuses anything after it.
func decodeJSONObject(s string, into *map[string]any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value")
	}
	return nil
}

// document returns the document of query: the query cache's (the usual
// case: clients send the same few), or else parsed here, within the token
// limit, and then parsed is true. It is nil if query does not parse;
// gqlgen then parses it and reports why.
func (t getQueries) document(ctx context.Context, query string) (doc *ast.QueryDocument, parsed bool) {
	if doc, ok := t.parsed.Get(ctx, query); ok {
		return doc, false
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, t.maxTokens)
	if err != nil {
		return nil, false
	}
	return doc, true
}

// operationType returns the type of the operation of doc a GET request
// names, or "" when it names none clearly (or doc is nil); gqlgen then
// reports what is wrong.
func operationType(doc *ast.QueryDocument, operationName string) ast.Operation {
	if doc == nil {
		return ""
	}
	op := doc.Operations.ForName(operationName)
	if op == nil {
		return ""
	}
	return op.Operation
}

// limitBody refuses request bodies over Config.MaxBodyBytes with 413. The
// body is read here, in full, because gqlgen reads it in full anyway and
// would report an oversized one as a 200 with an error.
func (s *Server) limitBody(next http.Handler) http.Handler {
	limit := s.cfg.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			tooLarge(w, limit)
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		var maxErr *http.MaxBytesError
		switch {
		case errors.As(err, &maxErr):
			tooLarge(w, limit)
			return
		case err != nil:
			// The client stopped sending halfway: there is no request to
			// answer, and most likely no one to answer it to.
			s.log.DebugContext(r.Context(), "read request body", "err", err)
			writeError(w, http.StatusBadRequest, graph.CodeBadUserInput, "could not read the request body")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func tooLarge(w http.ResponseWriter, limit int64) {
	// The rest of the body is not read: close the connection rather than
	// leave it in an unknown state.
	w.Header().Set("Connection", "close")
	writeError(w, http.StatusRequestEntityTooLarge, graph.CodeBadUserInput,
		fmt.Sprintf("request body too large: the limit is %s", byteSize(limit)))
}

// byteSize formats a limit the way people state it: "1 MiB", "512 KiB".
func byteSize(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

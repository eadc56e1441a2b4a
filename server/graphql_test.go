package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/protoloop/protoloop/graph"
	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/storage"
)

// A request whose document the query cache does not hold costs one parse
// and one validation more than a request it holds: over GET, the parse
// of the 405 check is the document queryLimits and gqlgen find in the
// cache, and over POST queryLimits' parse is the document gqlgen finds.
// A GET's was parsed three times (the check, queryLimits, gqlgen), a
// POST's twice. Allocations tell: a parse of this document allocates
// the same every time.
func TestADocumentTheCacheDoesNotHoldIsParsedOnce(t *testing.T) {
	// Fields that resolve without the database, and enough of them that
	// a parse is a hundred allocations: a document within the limits,
	// distinct for every request that is to miss the cache.
	var fields strings.Builder
	for i := range 40 {
		fmt.Fprintf(&fields, " f%02d: name", i)
	}
	selection := "__typename __type(name: \"Prototype\") { kind description" + fields.String() + " }"
	document := func(i int) string { return fmt.Sprintf("query Q%05d { %s }", i, selection) }

	// No database: nothing here reads one, and there are no background
	// allocations to count.
	h := server.New(&storage.DB{Dialect: "sqlite3"}, server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	requests := map[string]func(document string) *http.Request{
		"GET": func(document string) *http.Request {
			return httptest.NewRequest(http.MethodGet, "/graphql?query="+url.QueryEscape(document), nil)
		},
		"POST": func(document string) *http.Request {
			body, _ := json.Marshal(map[string]string{"query": document})
			r := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			return r
		},
	}

	const runs = 50
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	parse := testing.AllocsPerRun(runs, func() {
		if _, err := parser.ParseQuery(&ast.Source{Input: document(0)}); err != nil {
			t.Fatal(err)
		}
	})
	parseAndValidate := testing.AllocsPerRun(runs, func() {
		doc, err := parser.ParseQuery(&ast.Source{Input: document(0)})
		if err != nil {
			t.Fatal(err)
		}
		if errs := validator.ValidateWithRules(schema, doc, rules.NewDefaultRules()); len(errs) > 0 {
			t.Fatal(errs)
		}
	})
	next := 0
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			serve := func(document string) {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, requests[method](document))
				if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"errors"`) {
					t.Fatalf("%s: %d %s", method, rec.Code, rec.Body)
				}
			}
			miss := testing.AllocsPerRun(runs, func() {
				next++
				serve(document(next))
			})
			hit := testing.AllocsPerRun(runs, func() { serve(document(0)) })
			// Adding to the cache and the like cost a few allocations; a
			// parse more is a hundred.
			t.Logf("allocations: a request missing the cache %v, hitting it %v; a parse %v, a parse and validation %v", miss, hit, parse, parseAndValidate)
			if extra := miss - hit; extra > parseAndValidate+parse/4 {
				t.Errorf("a request missing the cache allocated %v more than one hitting it, want about a parse and a validation (%v): %.1f parses more",
					extra, parseAndValidate, (extra-parseAndValidate)/parse)
			}
		})
	}
}

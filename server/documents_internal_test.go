package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestGETDoesNotCacheAnUntrustedDocument: with trusted documents, a GET
// whose text is not one of them is refused, and the query it parsed for
// the 405 check is not admitted to the query cache, where it would push
// the operator's documents out (and be validated for nothing); a trusted
// one sent as text is.
func TestGETDoesNotCacheAnUntrustedDocument(t *testing.T) {
	const (
		listed   = `query Listed { __typename }`
		unlisted = `query Unlisted { __typename }`
	)
	docs, err := NewTrustedDocuments(map[string]string{documentHash(listed): listed})
	if err != nil {
		t.Fatal(err)
	}
	trusted := trustedOnly{docs}
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: `type Query { unused: Int }`})
	exec := executor.New(&graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			return graphql.OneShot(&graphql.Response{Data: []byte(`{"__typename":"Query"}`)})
		},
	})
	exec.Use(trusted)
	var admitted []string
	get := getQueries{
		persisted: trusted.lookup,
		trusted:   trusted.holds,
		parsed:    graphql.NoCache[*ast.QueryDocument]{},
		maxTokens: 1000,
		admit: func(_ context.Context, text string, _ *ast.QueryDocument) {
			admitted = append(admitted, text)
		},
	}
	for query, want := range map[string]string{unlisted: `"QUERY_NOT_IN_SAFELIST"`, listed: `{"data":{"__typename":"Query"}}`} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/graphql?"+url.Values{"query": {query}}.Encode(), nil)
		// As gqlgen's handler does before a transport's Do.
		get.Do(w, r.WithContext(graphql.StartOperationTrace(r.Context())), exec)
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("%s: HTTP %d %s, want %s", query, w.Code, w.Body, want)
		}
	}
	if len(admitted) != 1 || admitted[0] != listed {
		t.Errorf("admitted to the query cache: %q, want only the trusted document %q", admitted, listed)
	}
}

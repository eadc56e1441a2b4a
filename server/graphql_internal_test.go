package server

import (
	"context"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// operationType is the GET transport's 405 check: the type of the named
// operation of query.
func (t getQueries) operationType(ctx context.Context, query, operationName string) ast.Operation {
	doc, _ := t.document(ctx, query)
	return operationType(doc, operationName)
}

// TestGETOperationTypeOfACachedDocumentIsNotParsedAgain checks that the
// 405 check of a GET reads a document the query cache holds rather than
// parsing it once more: its cost does not grow with the document.
func TestGETOperationTypeOfACachedDocumentIsNotParsedAgain(t *testing.T) {
	ctx := context.Background()
	allocs := func(fields int) float64 {
		query := "query Page { " + strings.Repeat("__typename ", fields) + "} mutation M { __typename }"
		doc, err := parser.ParseQuery(&ast.Source{Input: query})
		if err != nil {
			t.Fatal(err)
		}
		get := getQueries{parsed: graphql.MapCache[*ast.QueryDocument]{query: doc}}
		return testing.AllocsPerRun(10, func() {
			if op := get.operationType(ctx, query, "Page"); op != ast.Query {
				t.Fatalf("operation Page is a %q, want a query", op)
			}
			if op := get.operationType(ctx, query, "M"); op != ast.Mutation {
				t.Fatalf("operation M is a %q, want a mutation", op)
			}
		})
	}
	few, many := allocs(1), allocs(500)
	if many > few {
		t.Errorf("telling the operation of a cached document of 1 field took %v allocations, of 500 fields %v: want no parse", few, many)
	}

	t.Run("a document the cache does not hold is parsed, within the token limit", func(t *testing.T) {
		get := getQueries{parsed: graphql.NoCache[*ast.QueryDocument]{}, maxTokens: 10}
		if op := get.operationType(ctx, "mutation { __typename }", ""); op != ast.Mutation {
			t.Errorf("a lone mutation is a %q", op)
		}
		if op := get.operationType(ctx, "mutation { "+strings.Repeat("__typename ", 20)+"}", ""); op != "" {
			t.Errorf("a document over the token limit is a %q, want none told", op)
		}
	})
}

package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/protoloop/protoloop/server"
)

func TestProductionModeHidesTheSchema(t *testing.T) {
	const (
		introspection = `{ __schema { queryType { name } } }`
		typo          = `{ viewer { nmae } }`
	)
	for _, tc := range []struct {
		env        string
		production bool
	}{{"development", false}, {"production", true}} {
		t.Run(tc.env, func(t *testing.T) {
			s := start(t, server.Config{Production: tc.production})

			t.Run("introspection", func(t *testing.T) {
				_, r, _ := send(t, s.url, nil, request{Query: introspection})
				if got := len(r.Errors) == 0; got == tc.production {
					t.Errorf("introspection answered: %v, want %v; errors %+v", got, !tc.production, r.Errors)
				}
			})
			t.Run("field suggestions", func(t *testing.T) {
				_, r, _ := send(t, s.url, nil, request{Query: typo})
				if len(r.Errors) == 0 {
					t.Fatal("a misspelt field ran")
				}
				if got := strings.Contains(r.Errors[0].Message, "Did you mean"); got == tc.production {
					t.Errorf("message %q suggests: %v, want %v", r.Errors[0].Message, got, !tc.production)
				}
			})
			t.Run("enum suggestions", func(t *testing.T) {
				body := `{"query": "query { workspace(slug: \"x\") { prototypes(orderBy: {field: CREATED}) { totalCount } } }"}`
				resp := post(t, s.url+"/graphql", nil, strings.NewReader(body))
				r := decode(t, resp)
				if len(r.Errors) == 0 {
					t.Fatal("a misspelt enum value ran")
				}
				for _, e := range r.Errors {
					if strings.Contains(e.Message, "Did you mean") == tc.production {
						t.Errorf("message %q, want suggestions only outside production", e.Message)
					}
				}
			})
			t.Run("GraphiQL", func(t *testing.T) {
				want := http.StatusOK
				if tc.production {
					want = http.StatusNotFound
				}
				if resp := get(t, s.url+"/", nil); resp.StatusCode != want {
					t.Errorf("GET / = %d, want %d", resp.StatusCode, want)
				}
			})
			t.Run("queries run", func(t *testing.T) {
				if _, r, _ := send(t, s.url, nil, request{Query: `{ __typename viewer { id } }`}); len(r.Errors) > 0 {
					t.Errorf("errors %+v", r.Errors)
				}
			})
		})
	}
}

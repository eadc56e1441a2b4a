package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/protoloop/protoloop/server"
)

// rejectionBound is how long refusing a document may take. Each is
// refused in a millisecond or two; the bound is generous so that a loaded
// CI machine does not fail the test, and still catches the quadratic
// validation it guards against (tens of seconds).
const rejectionBound = time.Second

// request is one GraphQL request over HTTP POST.
type request struct {
	Query      string         `json:"query,omitempty"`
	DocumentID string         `json:"documentId,omitempty"`
	Variables  map[string]any `json:"variables,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// send posts req to the server at base and returns the response, its
// decoded body and how long it took.
func send(t *testing.T, base string, header http.Header, req request) (*http.Response, gqlResponse, time.Duration) {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	resp := post(t, base+"/graphql", header, bytes.NewReader(body))
	r := decode(t, resp)
	return resp, r, time.Since(began)
}

// repeat returns n copies of s separated by blanks.
func repeat(s string, n int) string { return strings.TrimSpace(strings.Repeat(s+" ", n)) }

// nested returns a document going from the viewer to their workspaces
// and back depth times, so that it nests 4×depth+2 deep.
func nested(depth int) string {
	q := "id"
	for range depth {
		q = fmt.Sprintf("memberships { workspace { memberships { user { %s } } } }", q)
	}
	return "{ viewer { " + q + " } }"
}

func TestQueryLimits(t *testing.T) {
	s := start(t, server.Config{})
	aliases := func(n int) string {
		var b strings.Builder
		b.WriteString("{ viewer { ")
		for i := range n {
			fmt.Fprintf(&b, "a%d: id ", i)
		}
		return b.String() + "} }"
	}
	roots := func(n int) string { return "{ " + repeat("viewer { id }", n) + " }" }
	// fragmentBomb spreads each fragment ten times in the next: 10^levels
	// fields from a few hundred bytes.
	fragmentBomb := func(levels int) string {
		var b strings.Builder
		b.WriteString("{ viewer { ...F0 } }\n")
		for i := range levels {
			fmt.Fprintf(&b, "fragment F%d on User { %s }\n", i, repeat(fmt.Sprintf("...F%d", i+1), 10))
		}
		fmt.Fprintf(&b, "fragment F%d on User { id }\n", levels)
		return b.String()
	}
	connection := `query($n: Int) { viewer { memberships { workspace {
		prototypes(first: $n) { edges { node { iterations(first: $n) { edges { node {
			feedback(first: $n) { edges { node { id body } } } } } } } } } } } } }`

	for _, tc := range []struct {
		name   string
		req    request
		status int // 0: 200
		code   string
		field  string
	}{
		{"a field repeated 20,000 times is too large", request{Query: "{ viewer { " + repeat("id", 20_000) + " } }"},
			http.StatusUnprocessableEntity, "QUERY_TOO_LARGE", ""},
		{"a field repeated 1,000 times, within the token limit, selects too many fields",
			request{Query: "{ viewer { " + repeat("id", 1_000) + " } }"}, http.StatusUnprocessableEntity, "TOO_MANY_FIELDS", ""},
		{"a field repeated in an unused fragment still counts",
			request{Query: "{ viewer { id } } fragment Unused on User { " + repeat("id", 1_000) + " }"}, http.StatusUnprocessableEntity, "TOO_MANY_FIELDS", ""},
		{"a fragment bomb selects too many fields", request{Query: fragmentBomb(6)}, http.StatusUnprocessableEntity, "TOO_MANY_FIELDS", ""},
		{"a directive repeated thousands of times", request{Query: "{ viewer " + repeat("@include(if: true)", 1_000) + " { id } }"},
			http.StatusUnprocessableEntity, "TOO_MANY_DIRECTIVES", ""},
		{"a directive repeated in a fragment", request{Query: "{ viewer { ...F } } fragment F on User { id " + repeat("@skip(if: false)", 60) + " }"},
			http.StatusUnprocessableEntity, "TOO_MANY_DIRECTIVES", ""},
		{"nesting past the depth limit", request{Query: nested(4)}, http.StatusUnprocessableEntity, "QUERY_TOO_DEEP", ""},
		{"nesting through fragments counts", request{Query: `{ viewer { ...A } }
			fragment A on User { memberships { workspace { memberships { user { ...B } } } } }
			fragment B on User { memberships { workspace { memberships { user { ...C } } } } }
			fragment C on User { memberships { workspace { memberships { user { ...D } } } } }
			fragment D on User { memberships { workspace { memberships { user { id } } } } }`},
			http.StatusUnprocessableEntity, "QUERY_TOO_DEEP", ""},
		{"too many aliases", request{Query: aliases(51)}, http.StatusUnprocessableEntity, "TOO_MANY_ALIASES", ""},
		{"too many root fields", request{Query: roots(21)}, http.StatusUnprocessableEntity, "TOO_MANY_ROOT_FIELDS", ""},
		{"first over 100 in the document", request{Query: `{ viewer { memberships { workspace { prototypes(first: 101) { totalCount } } } } }`},
			0, "BAD_USER_INPUT", "first"},
		{"last over 100 in a variable", request{Query: `query($n: Int) { viewer { memberships { workspace { prototypes(last: $n) { totalCount } } } } }`,
			Variables: map[string]any{"n": 1000}}, 0, "BAD_USER_INPUT", "last"},
		{"pages multiply: 100 × 100 × 100 is too complex", request{Query: connection, Variables: map[string]any{"n": 100}},
			http.StatusUnprocessableEntity, "QUERY_TOO_COMPLEX", ""},
		{"a connection without first or last counts as a full page", request{Query: `{ viewer { memberships { workspace {
			prototypes { edges { node { iterations { edges { node { feedback { edges { node { id } } } } } } } } } } } } }`},
			http.StatusUnprocessableEntity, "QUERY_TOO_COMPLEX", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, r, took := send(t, s.url, nil, tc.req)
			t.Logf("refused in %v", took)
			status := tc.status
			if status == 0 {
				status = http.StatusOK
			}
			if resp.StatusCode != status {
				t.Errorf("status = %d, want %d", resp.StatusCode, status)
			}
			if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != tc.code {
				t.Fatalf("errors = %+v, want extensions.code %s", r.Errors, tc.code)
			}
			if tc.field != "" && r.Errors[0].Extensions["field"] != tc.field {
				t.Errorf("extensions.field = %v, want %s", r.Errors[0].Extensions["field"], tc.field)
			}
			if r.Data != nil {
				t.Errorf("data = %v, want none: nothing may run", r.Data)
			}
			if took > rejectionBound {
				t.Errorf("took %v, want under %v", took, rejectionBound)
			}
		})
	}

	t.Run("documents at the limits run", func(t *testing.T) {
		for _, q := range []string{
			nested(3), aliases(50), roots(20),
			"{ viewer { " + repeat("id", 450) + " } }",
			"{ viewer { id " + repeat("@include(if: true)", 1) + " } }",
			`{ viewer { memberships { workspace { prototypes(first: 100) { totalCount } } } } }`,
		} {
			if _, r, _ := send(t, s.url, nil, request{Query: q}); len(r.Errors) > 0 {
				t.Errorf("%.60s…: %+v", q, r.Errors)
			}
		}
		// The README's example.
		readme := `query($slug: String!) { workspace(slug: $slug) { id name mission prototypes(first: 10, orderBy: {field: CREATED_AT}) { edges { node { title status problem iterations(first: 10, orderBy: {field: CREATED_AT}) { edges { node { number title status feedback(first: 10) { edges { node { kind body rating minutesSavedPerDay status votes { totalCount } addressedIn { number } } } } } } } } } } } }`
		// It runs, and so needs a token.
		if _, r, _ := send(t, s.url, nil, request{Query: readme, Variables: map[string]any{"slug": "demo"}}); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
			t.Errorf("the README's query: %+v, want it to run (and need a token)", r.Errors)
		}
		// Ten by ten by ten, as a page of a frontend might ask.
		if _, r, _ := send(t, s.url, nil, request{Query: connection, Variables: map[string]any{"n": 10}}); len(r.Errors) > 0 {
			t.Errorf("10 × 10 × 10: %+v", r.Errors)
		}
	})
}

func TestQueryLimitsCheckVariablesOfCachedDocuments(t *testing.T) {
	s := start(t, server.Config{})
	q := request{Query: `query($n: Int) { viewer { memberships { workspace { prototypes(first: $n) { totalCount } } } } }`}
	for _, tc := range []struct {
		n    int
		code string
	}{{10, ""}, {101, "BAD_USER_INPUT"}, {10, ""}, {5000, "BAD_USER_INPUT"}, {-1, "BAD_USER_INPUT"}, {0, ""}} {
		q.Variables = map[string]any{"n": tc.n}
		_, r, _ := send(t, s.url, nil, q)
		var code any
		if len(r.Errors) > 0 {
			code = r.Errors[0].Extensions["code"]
		}
		if tc.code == "" && code != nil || tc.code != "" && code != tc.code {
			t.Errorf("first: %d: errors %+v, want code %q", tc.n, r.Errors, tc.code)
		}
	}
}

func TestQueryLimitsAreConfigurable(t *testing.T) {
	s := start(t, server.Config{Limits: server.Limits{
		MaxTokens: 50, MaxFields: 5, MaxDirectives: 1, MaxDepth: 3, MaxAliases: 1,
		MaxRootFields: 1, MaxComplexity: 20, MaxPageSize: 3,
	}})
	for _, tc := range []struct {
		query, code string
	}{
		{"{ viewer { " + repeat("id", 60) + " } }", "QUERY_TOO_LARGE"},
		{"{ viewer { " + repeat("id", 6) + " } }", "TOO_MANY_FIELDS"},
		{"{ viewer { id @skip(if: false) name @skip(if: false) } }", "TOO_MANY_DIRECTIVES"},
		{"{ viewer { memberships { workspace { id } } } }", "QUERY_TOO_DEEP"},
		{"{ viewer { a: id b: name } }", "TOO_MANY_ALIASES"},
		{"{ viewer { id } __typename }", "TOO_MANY_ROOT_FIELDS"},
		{`{ node(id: "wsp_x") { ... on Workspace { prototypes(first: 4) { totalCount } } } }`, "BAD_USER_INPUT"},
		{`{ node(id: "wsp_x") { ... on Workspace { prototypes(first: 1, last: 1) { totalCount } } } }`, "BAD_USER_INPUT"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			_, r, _ := send(t, s.url, nil, request{Query: tc.query})
			if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != tc.code {
				t.Fatalf("errors = %+v, want extensions.code %s", r.Errors, tc.code)
			}
		})
	}
	complex := start(t, server.Config{Limits: server.Limits{MaxComplexity: 20}})
	_, r, _ := send(t, complex.url, nil, request{Query: `{ node(id: "wsp_x") { ... on Workspace { prototypes(first: 10) { edges { node { id } } } } } }`})
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "QUERY_TOO_COMPLEX" {
		t.Fatalf("errors = %+v, want QUERY_TOO_COMPLEX", r.Errors)
	}
}

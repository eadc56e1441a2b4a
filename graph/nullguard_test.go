package graph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/protoloop/protoloop/server/servertest"
)

// TestANullDirectionIsBadInput passes an order's direction through a
// variable, as a frontend with a sort toggle does, to connections read
// every way the server reads them: a prototype's iterations (eager
// loaded with the prototype), a workspace's prototypes and their
// iterations (nested), a named fragment, and a timeline page that
// node(id:) reads with the prototype's check (the fold). Left out, the
// variable leaves the direction to its default, ASC; given, it orders;
// given as null (or defaulting to null) it is BAD_USER_INPUT naming the
// input field, on PostgreSQL and SQLite alike.
func TestANullDirectionIsBadInput(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		owner := loop.Owner.Token
		s.NewPublishedIteration(t, owner, loop.Prototype.ID)

		const iterations = `iterations(first: 5, orderBy: {field: NUMBER, direction: $dir}) { edges { node { number } } }`
		queries := []struct {
			name, query string
		}{
			{"a prototype's iterations", `query($id: ID!, $dir: OrderDirection) {
				node(id: $id) { ... on Prototype { ` + iterations + ` } } }`},
			{"a workspace's prototypes and their iterations", `query($ws: ID!, $dir: OrderDirection) {
				node(id: $ws) { ... on Workspace { prototypes(first: 5, orderBy: {field: TITLE, direction: ASC}) {
					edges { node { ` + iterations + ` } } } } } }`},
			{"a named fragment", `query($id: ID!, $dir: OrderDirection) { node(id: $id) { ...its } }
				fragment its on Prototype { ` + iterations + ` }`},
			{"a timeline page read with the prototype", `query($id: ID!, $dir: OrderDirection) {
				node(id: $id) { ... on Prototype { timeline(first: 5, orderBy: {field: SEQ, direction: $dir}) {
					edges { node { seq } } } } } }`},
		}
		for _, q := range queries {
			t.Run(q.name, func(t *testing.T) {
				v := vars{"id": loop.Prototype.ID, "ws": loop.Workspace.ID}
				if !strings.Contains(q.query, "$ws") {
					delete(v, "ws")
				}
				if !strings.Contains(q.query, "$id") {
					delete(v, "id")
				}
				asc := numbers(t, s.Do(t, owner, q.query, v).RequireOK(t).Data)
				if len(asc) < 2 || !slices.IsSorted(asc) {
					t.Fatalf("the direction left out: %v, want ascending (the default)", asc)
				}
				v["dir"] = "DESC"
				desc := numbers(t, s.Do(t, owner, q.query, v).RequireOK(t).Data)
				if slices.Reverse(desc); !slices.Equal(desc, asc) {
					t.Fatalf("DESC: %v reversed, ASC: %v", desc, asc)
				}

				v["dir"] = nil
				r := s.Do(t, owner, q.query, v).RequireError(t, "BAD_USER_INPUT", "orderBy.direction")
				if !strings.Contains(r.Errors[0].Message, "$dir") {
					t.Errorf("the error does not name the variable: %s", r.Errors[0].Message)
				}

				delete(v, "dir")
				withNullDefault := strings.Replace(q.query, "$dir: OrderDirection", "$dir: OrderDirection = null", 1)
				s.Do(t, owner, withNullDefault, v).RequireError(t, "BAD_USER_INPUT", "orderBy.direction")
			})
		}
	})
}

// numbers are the values of the number and seq fields in a response's
// data, in the order the response gives them.
func numbers(t *testing.T, data []byte) []int64 {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out []int64
	var key any
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("data %s: %v", data, err)
		}
		if n, isNumber := tok.(json.Number); isNumber && (key == "number" || key == "seq") {
			i, err := n.Int64()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, i)
		}
		key = tok
	}
}

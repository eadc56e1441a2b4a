package graph_test

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/server/servertest"
)

// forge encodes a cursor as the API does, with any value in it.
func forge(t *testing.T, id gid.ID, value any) string {
	t.Helper()
	var b bytes.Buffer
	ent.Cursor{ID: id, Value: value}.MarshalGQL(&b)
	s, err := strconv.Unquote(b.String())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestForgedCursorsAreBadInput(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		it, err := gid.Parse(loop.Iteration.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			order string
			value any
			ok    bool
		}{
			{"an array", "NUMBER", []any{1}, false},
			{"an object", "TITLE", map[string]any{"a": 1}, false},
			{"text where a number belongs", "NUMBER", "abc", false},
			{"a number where a time belongs", "CREATED_AT", 5, false},
			{"text where a time belongs", "PUBLISHED_AT", "yesterday", false},
			{"a number where text belongs", "TITLE", 5, false},
			{"a number for a number", "NUMBER", 1, true},
			{"a time for a time", "CREATED_AT", time.Now(), true},
			{"text for text", "TITLE", "First", true},
			{"null for anything", "PUBLISHED_AT", nil, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.Do(t, loop.Owner.Token, iterationsPageQuery, vars{
					"id": loop.Prototype.ID, "first": 2, "after": forge(t, it, tc.value),
					"orderBy": vars{"field": tc.order},
				})
				if tc.ok {
					r.RequireOK(t)
					return
				}
				r.RequireError(t, "BAD_USER_INPUT", "after")
			})
		}
	})
}

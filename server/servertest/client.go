package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/protoloop/protoloop/server"
)

// requestTimeout bounds one request, so a deadlocked server fails the test
// that found it instead of hanging the whole run. It is longer than the
// server's own bound (server.DefaultRequestTimeout), so that a request
// the server gives up on is answered with TIMEOUT, which says that
// nothing was committed and the client may try again, rather than cut
// by the client at the same moment, which says nothing: 50 writers on
// SQLite under the race detector on a busy machine wait that long for
// one of the pool's connections.
const requestTimeout = server.DefaultRequestTimeout + 30*time.Second

// Response is a GraphQL response as the server sent it.
type Response struct {
	// Status is the HTTP status code.
	Status int `json:"-"`
	// Data is the response's data, "null" or empty when there is none.
	Data   json.RawMessage `json:"data"`
	Errors []ResponseError `json:"errors"`
}

// ResponseError is one entry of a response's errors.
type ResponseError struct {
	Message string `json:"message"`
	Path    []any  `json:"path"`
	// Extensions carries code (BAD_USER_INPUT, NOT_FOUND…) and, for bad
	// input, field.
	Extensions map[string]any `json:"extensions"`
}

// Code returns the error's extensions.code, or "" if it has none.
func (e ResponseError) Code() string {
	s, _ := e.Extensions["code"].(string)
	return s
}

// Field returns the error's extensions.field, or "" if it has none.
func (e ResponseError) Field() string {
	s, _ := e.Extensions["field"].(string)
	return s
}

func (e ResponseError) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Code(), e.Message)
	if f := e.Field(); f != "" {
		fmt.Fprintf(&b, " (field %s)", f)
	}
	if len(e.Path) > 0 {
		fmt.Fprintf(&b, " at %v", e.Path)
	}
	return b.String()
}

// Code returns the first error's extensions.code, or "" for a response
// without errors.
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Code()
}

// Field returns the first error's extensions.field, or "".
func (r *Response) Field() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Field()
}

// Err returns the response's errors as one Go error, or nil if it has
// none: for goroutines that may not fail a test themselves.
func (r *Response) Err() error {
	if len(r.Errors) == 0 {
		return nil
	}
	return fmt.Errorf("HTTP %d: %s", r.Status, r.errorList())
}

// RequireOK fails t unless the response has no errors. It returns r, so
// that a call can go on to Decode.
func (r *Response) RequireOK(t testing.TB) *Response {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors (HTTP %d): %s", r.Status, r.errorList())
	}
	return r
}

// RequireError fails t unless the response's first error has the given
// code and, if field is not empty, names that input field.
func (r *Response) RequireError(t testing.TB, code, field string) *Response {
	t.Helper()
	if len(r.Errors) == 0 {
		t.Fatalf("got data %s, want a %s error", r.Data, code)
	}
	if got := r.Code(); got != code {
		t.Fatalf("got error code %q, want %q; errors: %s", got, code, r.errorList())
	}
	if field != "" && r.Field() != field {
		t.Fatalf("got error field %q, want %q; errors: %s", r.Field(), field, r.errorList())
	}
	return r
}

// Decode unmarshals the response's data into v, failing t if it cannot.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode data %s: %v", r.Data, err)
	}
}

func (r *Response) errorList() string {
	parts := make([]string, len(r.Errors))
	for i, e := range r.Errors {
		parts[i] = e.String()
	}
	return strings.Join(parts, "; ")
}

// Do sends a GraphQL request to the server over HTTP, with token as its
// bearer token unless token is "", and returns the response. It fails t
// when there is no well-formed GraphQL response at all; GraphQL errors
// are returned in the Response for the test to check.
//
// Do must be called from the test's goroutine; other goroutines use Post.
func (s *Server) Do(t testing.TB, token, query string, vars map[string]any) *Response {
	t.Helper()
	r, err := s.Post(context.Background(), token, query, vars)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Post is Do for goroutines other than the test's (concurrency tests):
// it reports a failed exchange as an error instead of failing a test.
func (s *Server) Post(ctx context.Context, token, query string, vars map[string]any) (*Response, error) {
	return post(ctx, s.http, s.URL, token, query, vars)
}

// PostTo is Post to the server at baseURL: one this package did not start
// itself (a replica, a child process).
func PostTo(ctx context.Context, baseURL, token, query string, vars map[string]any) (*Response, error) {
	return post(ctx, http.DefaultClient, baseURL, token, query, vars)
}

func post(ctx context.Context, client *http.Client, baseURL, token, query string, vars map[string]any) (*Response, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/graphql", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST /graphql: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("POST /graphql: read response: %w", err)
	}
	r := &Response{Status: resp.StatusCode}
	if err := json.Unmarshal(raw, r); err != nil {
		return nil, fmt.Errorf("POST /graphql: HTTP %d, not a GraphQL response: %v: %.500q", resp.StatusCode, err, raw)
	}
	if len(r.Data) == 0 && len(r.Errors) == 0 {
		return nil, fmt.Errorf("POST /graphql: HTTP %d, response with neither data nor errors: %.500q", resp.StatusCode, raw)
	}
	return r, nil
}

package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/protoloop/protoloop/server/storage"

	_ "github.com/lib/pq"
)

// gqlClient posts GraphQL operations as a frontend does.
type gqlClient struct {
	http  *http.Client
	base  string
	token string
}

// newHTTPClient returns a client that keeps up to conns connections to
// the server open, as a load balancer or a busy frontend fleet would.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     time.Minute,
		},
	}
}

// gqlError is an error in a GraphQL response: the first one is what a
// failed operation returns.
type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

func (e *gqlError) Error() string {
	if code := e.code(); code != "" {
		return e.Message + " (" + code + ")"
	}
	return e.Message
}

// code is the error's extensions.code, "" if it has none.
func (e *gqlError) code() string {
	code, _ := e.Extensions["code"].(string)
	return code
}

// do runs one operation and decodes its data into out. With out nil it
// only checks that the operation succeeded, which is what the load loops
// need; see checkResponse.
func (c *gqlClient) do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf := responseBuffers.Get().(*bytes.Buffer)
	defer func() {
		buf.Reset()
		responseBuffers.Put(buf)
	}()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return err
	}
	return checkResponse(resp.StatusCode, resp.Status, buf.Bytes(), out)
}

// responseBuffers hold response bodies while they are checked: a
// dashboard's is ~300 KB, which io.ReadAll would grow into anew (copying
// it about twice) for every request.
var responseBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// checkResponse returns the GraphQL errors or the HTTP status of a
// response as an error, or decodes its data into out.
//
// The load loops (out nil) must not spend the CPU they are measuring on
// their side of the loopback: decoding a ~300 KB dashboard into a
// json.RawMessage and again for its data took about 3 ms of the tool's
// CPU per request, half the server's. The server writes "errors" before
// "data" (server/response.go, writeResponse), so a 200 response that
// starts with {"data":{ and ends with } has no errors and has data:
// that is checked without reading the rest. Anything else (another
// status, errors, null data, a truncated body) is decoded in full and
// reported.
func checkResponse(status int, statusText string, body []byte, out any) error {
	if out == nil && status == http.StatusOK &&
		bytes.HasPrefix(body, []byte(`{"data":{`)) && bytes.HasSuffix(body, []byte("}")) {
		return nil
	}
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("HTTP %s: %.200s", statusText, body)
	}
	if len(r.Errors) > 0 {
		return &r.Errors[0]
	}
	if status != http.StatusOK {
		return fmt.Errorf("HTTP %s without errors: %.200s", statusText, body)
	}
	if len(r.Data) == 0 || string(r.Data) == "null" {
		return errors.New("no data")
	}
	if out != nil {
		return json.Unmarshal(r.Data, out)
	}
	return nil
}

// inProcess is an HTTP client that calls h directly.
func inProcess(h http.Handler) *http.Client {
	return &http.Client{Transport: handlerTransport{h}}
}

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// openSQL opens a pool on the database, for the hand-written SQL the
// scenarios compare the server with. Its connections speak to PostgreSQL
// as the server's do (one round trip per statement, see
// storage.NewPostgresConnector), so that the comparison is with the same
// protocol.
func openSQL(url string) (*sql.DB, error) {
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return nil, fmt.Errorf("the bench needs PostgreSQL: --database-url postgres://…, not %q", url)
	}
	c, err := storage.NewPostgresConnector(url)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

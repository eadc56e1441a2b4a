package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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

// gqlError is an error in a GraphQL response.
type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// do runs one operation and decodes its data into out (when not nil).
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
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("HTTP %s: %.200s", resp.Status, data)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("%s (%v)", r.Errors[0].Message, r.Errors[0].Extensions["code"])
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

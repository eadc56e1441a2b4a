package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/protoloop/protoloop/server/servertest"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/storage"
)

// testServer is a server on a loopback port over a fresh SQLite database.
type testServer struct {
	url    string
	db     *storage.DB
	logs   *servertest.Buffer
	stop   context.CancelFunc
	served chan error

	returned      bool  // whether Serve has returned
	serveErr      error // what it returned
	shutdownErrOK bool  // the test expects Serve to fail
}

// start serves a fresh, migrated SQLite database on 127.0.0.1:0 until the
// test ends, and fails the test if the server does not then stop cleanly.
func start(t *testing.T, cfg server.Config) *testServer {
	t.Helper()
	return startOn(t, servertest.SQLite, cfg)
}

// startOn is start for either backend.
func startOn(t *testing.T, b servertest.Backend, cfg server.Config) *testServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := storage.Options{DataDir: t.TempDir()}
	if b == servertest.Postgres {
		opts.DatabaseURL = servertest.PostgresSchema(t)
	}
	db, err := storage.Open(ctx, opts)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}

	logs := &servertest.Buffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	serveCtx, stop := context.WithCancel(context.Background())
	s := &testServer{url: "http://" + ln.Addr().String(), db: db, logs: logs, stop: stop, served: make(chan error, 1)}
	go func() { s.served <- server.New(db, cfg).Serve(serveCtx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := s.wait(t); err != nil && !s.shutdownErrOK {
			t.Errorf("Serve returned %v after shutdown, want nil", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return s
}

// wait returns what Serve returned, failing the test if it does not return
// in good time.
func (s *testServer) wait(t *testing.T) error {
	t.Helper()
	if s.returned {
		return s.serveErr
	}
	select {
	case s.serveErr = <-s.served:
		s.returned = true
		return s.serveErr
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
		return nil
	}
}

func get(t *testing.T, url string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	maps(req.Header, header)
	return do(t, req)
}

func post(t *testing.T, url string, header http.Header, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	maps(req.Header, header)
	return do(t, req)
}

func maps(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = vs
	}
}

func do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

// gqlResponse is the shape of every /graphql answer, errors included.
type gqlResponse struct {
	Data   map[string]any `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func decode(t *testing.T, resp *http.Response) gqlResponse {
	t.Helper()
	body := readBody(t, resp)
	var r gqlResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("response is not GraphQL JSON: %v\n%s", err, body)
	}
	return r
}

// requireError checks that resp has the status and carries one error with
// the code.
func requireError(t *testing.T, resp *http.Response, status int, code string) gqlResponse {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d", resp.StatusCode, status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	r := decode(t, resp)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != code {
		t.Fatalf("errors = %+v, want one with extensions.code %s", r.Errors, code)
	}
	return r
}

func TestHealthzAnswersWhileTheProcessIsUp(t *testing.T) {
	s := start(t, server.Config{})
	resp := get(t, s.url+"/healthz", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	if body := readBody(t, resp); body != "ok\n" {
		t.Errorf("body = %q, want ok", body)
	}
}

func TestReadyzFollowsTheDatabase(t *testing.T) {
	s := start(t, server.Config{})
	if resp := get(t, s.url+"/readyz", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("with the database open: status = %d, want 200", resp.StatusCode)
	}

	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	resp := get(t, s.url+"/readyz", nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("with the database closed: status = %d, want 503", resp.StatusCode)
	}
	if body := readBody(t, resp); !strings.Contains(body, "database") {
		t.Errorf("body = %q, want a reason naming the database", body)
	}
	if resp := get(t, s.url+"/healthz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz with the database closed: status = %d, want 200", resp.StatusCode)
	}
}

func TestRoutes(t *testing.T) {
	s := start(t, server.Config{})
	tests := []struct {
		name   string
		path   string
		status int
		body   string // a part of the body
	}{
		{"an unknown path is not found", "/nope", http.StatusNotFound, ""},
		{"a path below a known one is not found", "/healthz/more", http.StatusNotFound, ""},
		{"the root serves GraphiQL against /graphql", "/", http.StatusOK, "/graphql"},
		{"a query over GET runs", "/graphql?query=" + url.QueryEscape("{ __typename }"), http.StatusOK, `"__typename":"Query"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, s.url+tt.path, nil)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if body := readBody(t, resp); !strings.Contains(body, tt.body) {
				t.Errorf("body does not contain %q:\n%s", tt.body, body)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	s := start(t, server.Config{})
	query := `{"query":"{ __typename }"}`
	tests := []struct {
		name   string
		header []string // Authorization values
		reason string   // the error attribute of WWW-Authenticate
	}{
		{"another scheme is malformed", []string{"Basic dXNlcjpwYXNz"}, "invalid_request"},
		{"a scheme without a token is malformed", []string{"Bearer"}, "invalid_request"},
		{"a scheme with blanks for a token is malformed", []string{"Bearer   "}, "invalid_request"},
		{"a token with a space in it is malformed", []string{"Bearer plt_a plt_b"}, "invalid_request"},
		{"two headers are malformed", []string{"Bearer plt_a", "Bearer plt_b"}, "invalid_request"},
		{"an unknown token is invalid", []string{"Bearer plt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "invalid_token"},
		{"a token of the wrong shape is invalid", []string{"Bearer not-a-protoloop-token"}, "invalid_token"},
		{"the scheme is case-insensitive", []string{"bearer plt_unknown"}, "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, s.url+"/graphql", http.Header{"Authorization": tt.header}, strings.NewReader(query))
			requireError(t, resp, http.StatusUnauthorized, "UNAUTHENTICATED")
			challenge := resp.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(challenge, "Bearer ") || !strings.Contains(challenge, `error="`+tt.reason+`"`) {
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge with error=%q", challenge, tt.reason)
			}
		})
	}

	t.Run("no header is anonymous, not refused", func(t *testing.T) {
		resp := post(t, s.url+"/graphql", nil, strings.NewReader(query))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, want 200", resp.StatusCode)
		}
		if r := decode(t, resp); len(r.Errors) > 0 || r.Data["__typename"] != "Query" {
			t.Errorf("response = %+v, want data.__typename Query", r)
		}
	})
}

func TestTokenCheckWithoutADatabaseIsUnavailable(t *testing.T) {
	s := start(t, server.Config{})
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	resp := post(t, s.url+"/graphql", http.Header{"Authorization": {"Bearer plt_token"}}, strings.NewReader(`{"query":"{ __typename }"}`))
	requireError(t, resp, http.StatusServiceUnavailable, "INTERNAL")
	waitForLog(t, s.logs, `"msg":"authenticate"`)
}

func TestGETNeverRunsAMutation(t *testing.T) {
	s := start(t, server.Config{})
	signUp := `mutation { signUp(input: {email: "get@example.org", name: "Get", password: "long enough password"}) { token } }`
	tests := []struct {
		name   string
		params url.Values
	}{
		{"a lone mutation", url.Values{"query": {signUp}}},
		{"a mutation picked by operationName", url.Values{
			"query":         {"query Q { __typename } " + strings.Replace(signUp, "mutation", "mutation M", 1)},
			"operationName": {"M"},
		}},
		{"a subscription", url.Values{"query": {"subscription { __typename }"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, s.url+"/graphql?"+tt.params.Encode(), nil)
			requireError(t, resp, http.StatusMethodNotAllowed, "BAD_USER_INPUT")
			if allow := resp.Header.Get("Allow"); allow != http.MethodPost {
				t.Errorf("Allow = %q, want POST", allow)
			}
		})
	}

	users, err := s.db.Client.User.Query().Count(privacy.DecisionContext(context.Background(), privacy.Allow))
	if err != nil {
		t.Fatal(err)
	}
	if users != 0 {
		t.Errorf("%d users exist after signUp over GET, want 0", users)
	}
}

// A document the query cache does not hold is checked and validated
// ahead of gqlgen, by the GET transport or queryLimits, and handed to
// gqlgen through the cache (queryLimits.cacheIfValid): a document over
// the limits or invalid must not get there, and is refused however often
// it is sent.
func TestADocumentOverTheLimitsOrInvalidIsRefusedEveryTime(t *testing.T) {
	s := start(t, server.Config{Limits: server.Limits{MaxDepth: 2}})
	tests := []struct {
		name, query, code string
	}{
		{"a document nested too deeply", `{ node(id: "x") { ... on Prototype { owner { id } } } }`, "QUERY_TOO_DEEP"},
		{"a document selecting an unknown field", `{ __type(name: "Query") { nope } }`, "GRAPHQL_VALIDATION_FAILED"},
	}
	send := map[string]func(query string) *http.Response{
		"GET": func(query string) *http.Response {
			return get(t, s.url+"/graphql?"+url.Values{"query": {query}}.Encode(), nil)
		},
		"POST": func(query string) *http.Response {
			body, _ := json.Marshal(map[string]string{"query": query})
			return post(t, s.url+"/graphql", nil, bytes.NewReader(body))
		},
	}
	for _, method := range []string{"GET", "POST"} {
		for _, tt := range tests {
			t.Run(method+"/"+tt.name, func(t *testing.T) {
				for range 2 {
					requireError(t, send[method](tt.query), http.StatusUnprocessableEntity, tt.code)
				}
			})
		}
	}
}

func TestBodyLimit(t *testing.T) {
	s := start(t, server.Config{})
	// Valid JSON padded with blanks past the limit: only its size is wrong.
	oversized := `{"query":"{ __typename }"}` + strings.Repeat(" ", server.DefaultMaxBodyBytes)

	t.Run("a declared length over the limit is refused", func(t *testing.T) {
		resp := post(t, s.url+"/graphql", nil, strings.NewReader(oversized))
		requireError(t, resp, http.StatusRequestEntityTooLarge, "BAD_USER_INPUT")
	})
	t.Run("a chunked body over the limit is refused", func(t *testing.T) {
		// A reader of unknown length makes the client send chunks, with
		// no Content-Length for the server to check up front.
		body := io.MultiReader(strings.NewReader(oversized))
		resp := post(t, s.url+"/graphql", nil, body)
		requireError(t, resp, http.StatusRequestEntityTooLarge, "BAD_USER_INPUT")
	})
	t.Run("a body at the limit is served", func(t *testing.T) {
		atLimit := oversized[:server.DefaultMaxBodyBytes]
		resp := post(t, s.url+"/graphql", nil, strings.NewReader(atLimit))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, want 200: %s", resp.StatusCode, readBody(t, resp))
		}
	})
	t.Run("the limit is configurable", func(t *testing.T) {
		small := start(t, server.Config{MaxBodyBytes: 16})
		resp := post(t, small.url+"/graphql", nil, strings.NewReader(`{"query":"{ __typename }"}`))
		r := requireError(t, resp, http.StatusRequestEntityTooLarge, "BAD_USER_INPUT")
		if !strings.Contains(r.Errors[0].Message, "16 bytes") {
			t.Errorf("message = %q, want it to state the limit", r.Errors[0].Message)
		}
	})
}

func TestShutdownFinishesRequestsInFlight(t *testing.T) {
	s := start(t, server.Config{})
	body := `{"query":"{ __typename }"}`
	conn, answer := startRequest(t, strings.TrimPrefix(s.url, "http://"), body)

	s.stop()
	select {
	case err := <-s.served:
		t.Fatalf("Serve returned %v while a request was in flight", err)
	case <-time.After(200 * time.Millisecond):
		// Still waiting for the request, as it should.
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.url, "http://"), time.Second); err == nil {
		c.Close()
		t.Error("the server accepted a new connection after shutdown began")
	}

	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatalf("send the rest of the request: %v", err)
	}
	resp, err := http.ReadResponse(answer, nil)
	if err != nil {
		t.Fatalf("read the answer to the request in flight: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("request in flight: status = %d, want 200", resp.StatusCode)
	}
	if r := decode(t, resp); r.Data["__typename"] != "Query" {
		t.Errorf("request in flight: response = %+v, want data.__typename Query", r)
	}
	if err := s.wait(t); err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
}

func TestShutdownGivesUpAfterTheTimeout(t *testing.T) {
	s := start(t, server.Config{ShutdownTimeout: 100 * time.Millisecond})
	// The body never comes: the request stays in flight for good.
	startRequest(t, strings.TrimPrefix(s.url, "http://"), `{"query":"{ __typename }"}`)

	s.shutdownErrOK = true
	s.stop()
	if err := s.wait(t); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Serve returned %v, want an error saying requests were still running", err)
	}
}

// startRequest sends the headers of a POST /graphql whose body will be
// body, and returns once a handler is reading it: in flight, as far as
// the server can tell. The caller sends the body on conn and reads the
// answer from the reader. It asks for "100 Continue", which the server
// sends when the handler first reads the body: a sure sign, unlike a
// sleep.
func startRequest(t *testing.T, addr, body string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	_, err = fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, len(body))
	if err != nil {
		t.Fatalf("send headers: %v", err)
	}
	answer := bufio.NewReader(conn)
	status, err := answer.ReadString('\n')
	if err != nil || !strings.Contains(status, " 100 ") {
		t.Fatalf("read 100 Continue: %q, %v", status, err)
	}
	if blank, err := answer.ReadString('\n'); err != nil || blank != "\r\n" {
		t.Fatalf("read the end of 100 Continue: %q, %v", blank, err)
	}
	return conn, answer
}

func TestAPanicIsAnInternalErrorWithoutItsStack(t *testing.T) {
	// A database without an ent client makes checking a token panic: a
	// stand-in for any bug below the router.
	logs := &servertest.Buffer{}
	srv := server.New(&storage.DB{Dialect: "sqlite3"}, server.Config{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	resp := post(t, ts.URL+"/graphql", http.Header{"Authorization": {"Bearer plt_token"}}, strings.NewReader(`{"query":"{ __typename }"}`))
	r := requireError(t, resp, http.StatusInternalServerError, "INTERNAL")
	if r.Errors[0].Message != "internal error" {
		t.Errorf("message = %q, want no more than \"internal error\"", r.Errors[0].Message)
	}
	line := waitForLog(t, logs, "panic serving request")
	if !strings.Contains(line, "goroutine") {
		t.Errorf("the log of the panic has no stack: %s", line)
	}
}

func TestRequestsAreLogged(t *testing.T) {
	s := start(t, server.Config{})
	readBody(t, get(t, s.url+"/nope", nil))
	line := waitForLog(t, s.logs, `"path":"/nope"`)
	var entry map[string]any
	if err := json.Unmarshal([]byte(line), &entry); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"method", "path", "status", "duration", "bytes"} {
		if _, ok := entry[key]; !ok {
			t.Errorf("request log lacks %q: %s", key, line)
		}
	}
	if entry["status"] != float64(http.StatusNotFound) {
		t.Errorf("logged status = %v, want 404", entry["status"])
	}
}

// waitForLog returns the first log line containing substr, waiting for it
// briefly: the server logs a request after answering it.
func waitForLog(t *testing.T, logs *servertest.Buffer, substr string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for line := range strings.Lines(logs.String()) {
			if strings.Contains(line, substr) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line contains %q:\n%s", substr, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

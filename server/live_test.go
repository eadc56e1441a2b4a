package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/protoloop/protoloop/server"
	"github.com/protoloop/protoloop/server/servertest"
)

// The live transports are tested the way a frontend uses them: gorilla's
// websocket client speaking each subprotocol by hand, and a streaming
// HTTP client for SSE, against a real server.

const (
	transportWS = "graphql-transport-ws"
	graphQLWS   = "graphql-ws"
)

// protocols are the two websocket subprotocols; most tests run for both.
var protocols = []string{transportWS, graphQLWS}

// Close codes the tests expect.
const (
	codeGoingAway      = 1001
	codeTooBig         = 1009
	codeServiceRestart = 1012
	codeBadRequest     = 4400
	codeUnauthorized   = 4401
	codeForbidden      = 4403
	codeInitTimeout    = 4408
	codeSubscriberDup  = 4409
	codeTooManyInits   = 4429
)

// readTimeout bounds every wait for a message, so that a server that
// stays silent fails the test rather than hanging it.
const readTimeout = 10 * time.Second

// prototypeEvents subscribes to a prototype's events.
const prototypeEvents = `subscription($p: ID!, $after: Cursor) {
	prototypeEvents(prototype: $p, after: $after) { cursor seq kind subject { id } }
}`

// event is what prototypeEvents selects.
type event struct {
	Cursor  string
	Seq     int64
	Kind    string
	Subject *struct{ ID string }
}

// wsMessage is a message of either subprotocol.
type wsMessage struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsClient is a websocket client speaking one subprotocol by hand.
type wsClient struct {
	t     testing.TB
	conn  *websocket.Conn
	proto string
	// answerPings makes read answer graphql-transport-ws pings, as
	// clients do.
	answerPings bool
}

// wsURL is the websocket address of the server at base (http://…).
func wsURL(base string) string { return "ws" + strings.TrimPrefix(base, "http") + "/graphql" }

// dialer keeps its buffers small: the memory measurement opens thousands.
var dialer = websocket.Dialer{HandshakeTimeout: 5 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}

// tryDial opens a websocket to the server at base offering proto ("" for
// none), with extra handshake headers.
func tryDial(base, proto string, header http.Header) (*websocket.Conn, *http.Response, error) {
	d := dialer
	if proto != "" {
		d.Subprotocols = []string{proto}
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	return d.DialContext(ctx, wsURL(base), header)
}

// dial opens a websocket speaking proto, failing t if it cannot, and
// closes it when t ends.
func dial(t testing.TB, base, proto string, header http.Header) *wsClient {
	t.Helper()
	conn, resp, err := tryDial(base, proto, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s (%s): HTTP %d: %v", wsURL(base), proto, status, err)
	}
	t.Cleanup(func() { conn.Close() })
	if got := conn.Subprotocol(); got != proto {
		t.Fatalf("negotiated subprotocol %q, want %q", got, proto)
	}
	return &wsClient{t: t, conn: conn, proto: proto, answerPings: true}
}

// send sends a message.
func (c *wsClient) send(m wsMessage) {
	c.t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(data)
}

// sendRaw sends a text message as it is.
func (c *wsClient) sendRaw(data []byte) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(readTimeout))
	if err := c.conn.WriteMessage(websocket.TextMessage, data); err != nil {
		c.t.Fatalf("send %.100s: %v", data, err)
	}
}

// read returns the next message other than keep-alives, or the error
// that ended the connection: a *websocket.CloseError when the server
// closed it.
func (c *wsClient) read() (wsMessage, error) {
	for {
		m, err := c.readAny()
		if err != nil || (m.Type != "ka" && m.Type != "ping" && m.Type != "pong") {
			return m, err
		}
	}
}

// readAny returns the next message, keep-alives included.
func (c *wsClient) readAny() (wsMessage, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(readTimeout))
	_, data, err := c.conn.ReadMessage()
	if err != nil {
		return wsMessage{}, err
	}
	var m wsMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return wsMessage{}, fmt.Errorf("message is not JSON: %v: %.200s", err, data)
	}
	if m.Type == "ping" && c.answerPings {
		if err := c.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"pong"}`)); err != nil {
			return wsMessage{}, fmt.Errorf("answer ping: %w", err)
		}
	}
	return m, nil
}

// next is read, failing t on an error.
func (c *wsClient) next() wsMessage {
	c.t.Helper()
	m, err := c.read()
	if err != nil {
		c.t.Fatalf("%s: read: %v", c.proto, err)
	}
	return m
}

// init sends connection_init with payload (nil for none) and requires
// connection_ack.
func (c *wsClient) init(payload any) {
	c.t.Helper()
	c.sendInit(payload)
	if m := c.next(); m.Type != "connection_ack" {
		c.t.Fatalf("%s: got %s %s after connection_init, want connection_ack", c.proto, m.Type, m.Payload)
	}
}

func (c *wsClient) sendInit(payload any) {
	c.t.Helper()
	m := wsMessage{Type: "connection_init"}
	if payload != nil {
		raw, err := json.Marshal(payload)
		if err != nil {
			c.t.Fatal(err)
		}
		m.Payload = raw
	}
	c.send(m)
}

// subscribe starts an operation with id.
func (c *wsClient) subscribe(id, query string, vars map[string]any) {
	c.t.Helper()
	typ := "subscribe"
	if c.proto == graphQLWS {
		typ = "start"
	}
	payload, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(wsMessage{Type: typ, ID: id, Payload: payload})
}

// stop completes the operation with id from the client's side.
func (c *wsClient) stop(id string) {
	c.t.Helper()
	typ := "complete"
	if c.proto == graphQLWS {
		typ = "stop"
	}
	c.send(wsMessage{Type: typ, ID: id})
}

// nextEvent returns the next event of operation id, skipping messages
// of other operations (stragglers of ones the client completed).
func (c *wsClient) nextEvent(id string) event {
	c.t.Helper()
	for {
		m := c.next()
		if m.ID != id {
			continue
		}
		if m.Type != "next" && m.Type != "data" {
			c.t.Fatalf("%s: operation %s: got %s %s, want an event", c.proto, id, m.Type, m.Payload)
		}
		return decodeEvent(c.t, m.Payload)
	}
}

// decodeEvent decodes an event from a result's payload, failing t if the
// result has errors.
func decodeEvent(t testing.TB, payload []byte) event {
	t.Helper()
	var r struct {
		Data struct {
			PrototypeEvents *event
			WorkspaceEvents *event
		}
		Errors []json.RawMessage
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		t.Fatalf("decode result %s: %v", payload, err)
	}
	if len(r.Errors) > 0 {
		t.Fatalf("result has errors: %s", payload)
	}
	switch {
	case r.Data.PrototypeEvents != nil:
		return *r.Data.PrototypeEvents
	case r.Data.WorkspaceEvents != nil:
		return *r.Data.WorkspaceEvents
	}
	t.Fatalf("result without an event: %s", payload)
	return event{}
}

// requireClose reads until the server closes the connection and requires
// its close code; it returns the reason.
func (c *wsClient) requireClose(code int) string {
	c.t.Helper()
	for {
		m, err := c.readAny()
		if err == nil {
			if m.Type == "connection_error" || m.Type == "error" {
				c.t.Logf("%s: %s %s before the close", c.proto, m.Type, m.Payload)
			}
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("%s: connection ended with %v, want close code %d", c.proto, err, code)
		}
		if ce.Code != code {
			c.t.Fatalf("%s: closed with %d %q, want %d", c.proto, ce.Code, ce.Text, code)
		}
		return ce.Text
	}
}

// awaitResolvers fails t with a clear message while the subscription
// resolvers are still stubs, rather than with a confusing protocol error.
func awaitResolvers(t testing.TB, base, token, prototypeID string) {
	t.Helper()
	c := dial(t, base, transportWS, nil)
	c.init(map[string]any{"token": token})
	c.subscribe("probe", prototypeEvents, map[string]any{"p": prototypeID})
	m := c.next()
	if m.Type == "error" || (m.Type == "next" && strings.Contains(string(m.Payload), `"errors"`)) {
		t.Fatalf("the subscription resolvers do not work yet: %s %s", m.Type, m.Payload)
	}
	c.conn.Close()
}

// authPayloads are the connection_init payloads that carry a token.
func authPayloads(token string) map[string]map[string]any {
	return map[string]map[string]any{
		"Authorization": {"Authorization": "Bearer " + token},
		"authorization": {"authorization": "bearer " + token},
		"token":         {"token": token},
	}
}

func TestWebsocketAuthenticatesFromConnectionInit(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		owner := s.NewUser(t, "Olive")
		for _, proto := range protocols {
			for name, payload := range authPayloads(owner.Token) {
				t.Run(proto+"/a valid token as "+name+" is acknowledged", func(t *testing.T) {
					dial(t, s.URL, proto, nil).init(payload)
				})
			}
			t.Run(proto+"/no token is acknowledged, as an anonymous caller", func(t *testing.T) {
				dial(t, s.URL, proto, nil).init(nil)
				dial(t, s.URL, proto, nil).init(map[string]any{"Authorization": ""})
			})
			t.Run(proto+"/a bad token is closed with 4403", func(t *testing.T) {
				c := dial(t, s.URL, proto, nil)
				c.sendInit(map[string]any{"Authorization": "Bearer plt_not-a-token"})
				if proto == graphQLWS {
					// The legacy protocol has no close codes of its own:
					// its clients read the reason from connection_error.
					if m := c.next(); m.Type != "connection_error" {
						t.Fatalf("got %s %s, want connection_error", m.Type, m.Payload)
					}
				}
				if reason := c.requireClose(codeForbidden); !strings.Contains(reason, "token") {
					t.Errorf("close reason %q does not say what is wrong", reason)
				}
			})
			t.Run(proto+"/a malformed Authorization is closed with 4400", func(t *testing.T) {
				c := dial(t, s.URL, proto, nil)
				c.sendInit(map[string]any{"Authorization": "Basic b2xpdmU6c2VjcmV0"})
				c.requireClose(codeBadRequest)
			})
		}
		loop := s.NewLoop(t)
		vars := map[string]any{"p": loop.Prototype.ID}
		for _, proto := range protocols {
			t.Run(proto+"/the token's identity reaches the subscriptions", func(t *testing.T) {
				c := dial(t, s.URL, proto, nil)
				c.init(map[string]any{"token": loop.Owner.Token})
				c.subscribe("1", prototypeEvents, vars)
				c.nextEvent("1")
			})
			t.Run(proto+"/without a token subscriptions run anonymously", func(t *testing.T) {
				c := dial(t, s.URL, proto, nil)
				c.init(nil)
				c.subscribe("1", prototypeEvents, vars)
				if m := c.next(); !strings.Contains(string(m.Payload), `"UNAUTHENTICATED"`) {
					t.Fatalf("got %s %s, want an UNAUTHENTICATED error", m.Type, m.Payload)
				}
			})
			t.Run(proto+"/the handshake's Authorization header serves when connection_init has no token", func(t *testing.T) {
				c := dial(t, s.URL, proto, http.Header{"Authorization": {"Bearer " + loop.Owner.Token}})
				c.init(nil)
				c.subscribe("1", prototypeEvents, vars)
				c.nextEvent("1")
			})
		}
		t.Run("a bad token in the handshake's Authorization header is refused with 401", func(t *testing.T) {
			_, resp, err := tryDial(s.URL, transportWS, http.Header{"Authorization": {"Bearer plt_not-a-token"}})
			if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("dial: %v (%+v), want HTTP 401", err, resp)
			}
		})
	})
}

func TestWebsocketSubprotocolNegotiation(t *testing.T) {
	s := start(t, server.Config{})
	for _, tc := range []struct {
		name    string
		offered []string
		want    string
	}{
		{"a client offering both gets graphql-transport-ws", []string{graphQLWS, transportWS}, transportWS},
		{"a client offering graphql-ws gets it", []string{graphQLWS}, graphQLWS},
		{"a client offering none is spoken to in graphql-ws", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dialer
			d.Subprotocols = tc.offered
			conn, _, err := d.Dial(wsURL(s.url), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if got := conn.Subprotocol(); got != tc.want {
				t.Fatalf("negotiated %q, want %q", got, tc.want)
			}
			c := &wsClient{t: t, conn: conn, proto: tc.want}
			c.init(nil)
		})
	}
}

func TestWebsocketProtocolViolationsCloseWithTheProtocolsCodes(t *testing.T) {
	const initTimeout = 300 * time.Millisecond
	s := start(t, server.Config{WebsocketInitTimeout: initTimeout})
	for _, proto := range protocols {
		t.Run(proto+"/no connection_init is closed with 4408 after the init timeout", func(t *testing.T) {
			c := dial(t, s.url, proto, nil)
			began := time.Now()
			c.requireClose(codeInitTimeout)
			if waited := time.Since(began); waited < initTimeout*8/10 || waited > initTimeout+3*time.Second {
				t.Errorf("closed after %v, want about %v", waited, initTimeout)
			}
		})
		t.Run(proto+"/connection_init in time is not closed by the timeout", func(t *testing.T) {
			c := dial(t, s.url, proto, nil)
			c.init(nil)
			time.Sleep(2 * initTimeout)
			c.subscribe("1", `subscription { __typename }`, nil)
			if m := c.next(); m.ID != "1" {
				t.Fatalf("got %s %s, want an answer to operation 1", m.Type, m.Payload)
			}
		})
		t.Run(proto+"/subscribing before connection_init is closed with 4401", func(t *testing.T) {
			c := dial(t, s.url, proto, nil)
			c.subscribe("1", prototypeEvents, map[string]any{"p": "pro_x"})
			c.requireClose(codeUnauthorized)
		})
		t.Run(proto+"/a second connection_init is closed with 4429", func(t *testing.T) {
			c := dial(t, s.url, proto, nil)
			c.init(nil)
			c.sendInit(nil)
			c.requireClose(codeTooManyInits)
		})
		t.Run(proto+"/a message that is not JSON is closed with 4400", func(t *testing.T) {
			c := dial(t, s.url, proto, nil)
			c.sendRaw([]byte("connection_init"))
			c.requireClose(codeBadRequest)
		})
		t.Run(proto+"/a message of another protocol is closed with 4400", func(t *testing.T) {
			c := dial(t, s.url, proto, nil)
			c.init(nil)
			c.send(wsMessage{Type: "connection_hello"})
			c.requireClose(codeBadRequest)
		})
		t.Run(proto+"/a connection_init payload that is not an object is closed with 4400", func(t *testing.T) {
			c := dial(t, s.url, proto, nil)
			c.send(wsMessage{Type: "connection_init", Payload: json.RawMessage(`"Bearer plt_x"`)})
			c.requireClose(codeBadRequest)
		})
		t.Run(proto+"/a message over the read limit is closed with 1009", func(t *testing.T) {
			c := dial(t, s.url, proto, nil)
			c.init(nil)
			big := fmt.Sprintf(`{"type":"connection_init","payload":{"pad":%q}}`, strings.Repeat("x", 64<<10))
			c.sendRaw([]byte(big))
			c.requireClose(codeTooBig)
		})
	}
}

func TestWebsocketOperationsOnOneConnection(t *testing.T) {
	s := start(t, server.Config{})
	token, prototypeID := newLoopOver(t, s.url)
	awaitResolvers(t, s.url, token, prototypeID)
	vars := map[string]any{"p": prototypeID}
	for _, proto := range protocols {
		t.Run(proto+"/an id still in use is closed with 4409", func(t *testing.T) {
			c := dial(t, s.url, proto, nil)
			c.init(map[string]any{"token": token})
			c.subscribe("1", prototypeEvents, vars)
			c.nextEvent("1")
			c.subscribe("1", prototypeEvents, vars)
			c.requireClose(codeSubscriberDup)
		})
		t.Run(proto+"/an id can be used again once its operation is complete", func(t *testing.T) {
			c := dial(t, s.url, proto, nil)
			c.init(map[string]any{"token": token})
			for range 3 {
				c.subscribe("1", prototypeEvents, vars)
				c.nextEvent("1")
				c.stop("1")
			}
		})
		t.Run(proto+"/messages many times longer than the read buffer are read whole", func(t *testing.T) {
			c := dial(t, s.url, proto, nil)
			c.init(map[string]any{"token": token, "pad": strings.Repeat("x", 16<<10)})
			padded := "# " + strings.Repeat("x", 16<<10) + "\n" + prototypeEvents
			c.subscribe("1", padded, vars)
			c.nextEvent("1")
		})
		t.Run(proto+"/operations over the cap are refused one by one", func(t *testing.T) {
			const limit = 100
			c := dial(t, s.url, proto, nil)
			c.init(map[string]any{"token": token})
			for i := range limit {
				c.subscribe(strconv.Itoa(i), prototypeEvents, vars)
			}
			c.subscribe("over", prototypeEvents, vars)
			for {
				m := c.next()
				if m.ID != "over" {
					continue
				}
				if m.Type != "error" || !strings.Contains(string(m.Payload), "RATE_LIMITED") {
					t.Fatalf("got %s %s, want an error with code RATE_LIMITED", m.Type, m.Payload)
				}
				break
			}
			// The others run on; completing one makes room.
			c.stop("0")
			c.subscribe("more", prototypeEvents, vars)
			c.nextEvent("more")
		})
	}
}

func TestWebsocketOriginPolicy(t *testing.T) {
	const app = "https://app.example.org"
	for _, tc := range []struct {
		name    string
		allowed []string
		origin  string
		ok      bool
	}{
		{"by default a client without an Origin is allowed", nil, "", true},
		{"by default the server's own origin is allowed", nil, "self", true},
		{"by default another origin is refused", nil, app, false},
		{"a listed origin is allowed", []string{app + "/"}, app, true},
		{"an origin not listed is refused", []string{app}, "https://evil.example", false},
		{"the server's own origin is allowed with a list", []string{app}, "self", true},
		{`"*" allows any origin`, []string{"*"}, "https://elsewhere.example", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, server.Config{AllowedOrigins: tc.allowed})
			header := http.Header{}
			switch tc.origin {
			case "":
			case "self":
				header.Set("Origin", s.url)
			default:
				header.Set("Origin", tc.origin)
			}
			conn, resp, err := tryDial(s.url, transportWS, header)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				conn.Close()
				return
			}
			if err == nil {
				conn.Close()
				t.Fatal("upgraded a websocket from a disallowed origin")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("dial: %v, want HTTP 403", err)
			}
			requireError(t, resp, http.StatusForbidden, "FORBIDDEN")
		})
	}
}

func TestWebsocketKeepAlive(t *testing.T) {
	const interval = 100 * time.Millisecond
	s := start(t, server.Config{KeepAlive: interval})
	t.Run("graphql-ws clients get ka messages", func(t *testing.T) {
		c := dial(t, s.url, graphQLWS, nil)
		c.init(nil)
		for range 3 {
			m, err := c.readAny()
			if err != nil || m.Type != "ka" {
				t.Fatalf("got %+v, %v; want ka", m, err)
			}
		}
	})
	t.Run("graphql-transport-ws clients that answer pings stay connected", func(t *testing.T) {
		c := dial(t, s.url, transportWS, nil)
		c.init(nil)
		pings := 0
		for pings < 5 {
			m, err := c.readAny()
			if err != nil {
				t.Fatalf("after %d pings: %v", pings, err)
			}
			if m.Type == "ping" {
				pings++
			}
		}
	})
	t.Run("graphql-transport-ws clients that do not answer pings are closed with 1001", func(t *testing.T) {
		c := dial(t, s.url, transportWS, nil)
		c.answerPings = false
		c.init(nil)
		began := time.Now()
		c.requireClose(codeGoingAway)
		if waited := time.Since(began); waited > 2*interval+3*time.Second {
			t.Errorf("closed after %v, want about %v", waited, 2*interval)
		}
	})
}

func TestLiveEventsReachEveryTransport(t *testing.T) {
	servertest.Run(t, func(t *testing.T, s *servertest.Server) {
		loop := s.NewLoop(t)
		awaitResolvers(t, s.URL, loop.Owner.Token, loop.Prototype.ID)
		vars := map[string]any{"p": loop.Prototype.ID}

		clients := map[string]*wsClient{}
		for _, proto := range protocols {
			c := dial(t, s.URL, proto, nil)
			c.init(map[string]any{"Authorization": "Bearer " + loop.Owner.Token})
			c.subscribe("events", prototypeEvents, vars)
			clients[proto] = c
		}
		sse := subscribeSSE(t, s.URL, loop.Owner.Token, prototypeEvents, vars)

		// The replay of what happened before: at least the prototype's
		// creation and its published iteration.
		var replayed []event
		for _, proto := range protocols {
			var last event
			for last.Kind != "ITERATION_PUBLISHED" {
				last = clients[proto].nextEvent("events")
				if proto == transportWS {
					replayed = append(replayed, last)
				}
			}
		}
		for {
			e := sse.next(t)
			if e.Kind == "ITERATION_PUBLISHED" {
				break
			}
		}

		// Live: feedback left over HTTP reaches all three, in order.
		// Latency is timed from the mutation's response (the commit is
		// before it), and from its request (an upper bound).
		var afterResponse, afterRequest []time.Duration
		for i := range 10 {
			sent := time.Now()
			id := s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)
			answered := time.Now()
			for _, proto := range protocols {
				e := clients[proto].nextEvent("events")
				if e.Kind != "FEEDBACK_ADDED" || e.Subject == nil || e.Subject.ID != id {
					t.Fatalf("%s: feedback %d: got %+v, want FEEDBACK_ADDED about %s", proto, i, e, id)
				}
				if proto == transportWS {
					afterResponse = append(afterResponse, time.Since(answered))
					afterRequest = append(afterRequest, time.Since(sent))
				}
			}
			if e := sse.next(t); e.Kind != "FEEDBACK_ADDED" || e.Subject == nil || e.Subject.ID != id {
				t.Fatalf("sse: feedback %d: got %+v, want FEEDBACK_ADDED about %s", i, e, id)
			}
		}
		slices.Sort(afterResponse)
		slices.Sort(afterRequest)
		t.Logf("%s: an event reaches a websocket a median %v (max %v) after its mutation's response, "+
			"%v (max %v) after its request",
			s.Backend, afterResponse[len(afterResponse)/2], afterResponse[len(afterResponse)-1],
			afterRequest[len(afterRequest)/2], afterRequest[len(afterRequest)-1])

		// Resuming after a cursor replays exactly what came after it.
		c := dial(t, s.URL, transportWS, nil)
		c.init(map[string]any{"token": loop.Owner.Token})
		resumeAt := replayed[len(replayed)-1]
		c.subscribe("resumed", prototypeEvents, map[string]any{"p": loop.Prototype.ID, "after": resumeAt.Cursor})
		if e := c.nextEvent("resumed"); e.Kind != "FEEDBACK_ADDED" || e.Seq <= resumeAt.Seq {
			t.Fatalf("resumed after seq %d: first event %+v, want the first feedback", resumeAt.Seq, e)
		}
	})
}

// sseClient reads a subscription's server-sent events.
type sseClient struct {
	body    io.ReadCloser
	scanner *bufio.Scanner
}

// subscribeSSE starts a subscription over SSE.
func subscribeSSE(t testing.TB, base, token, query string, vars map[string]any) *sseClient {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("SSE: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("SSE: HTTP %d, %s", resp.StatusCode, ct)
	}
	return &sseClient{body: resp.Body, scanner: bufio.NewScanner(resp.Body)}
}

// line returns the stream's next line, or false at its end.
func (c *sseClient) line(t testing.TB) (string, bool) {
	t.Helper()
	type result struct {
		line string
		ok   bool
	}
	got := make(chan result, 1)
	go func() {
		ok := c.scanner.Scan()
		got <- result{c.scanner.Text(), ok}
	}()
	select {
	case r := <-got:
		return r.line, r.ok
	case <-time.After(readTimeout):
		c.body.Close()
		t.Fatal("SSE: nothing within the read timeout")
		return "", false
	}
}

// next returns the next event of the stream.
func (c *sseClient) next(t testing.TB) event {
	t.Helper()
	for {
		line, ok := c.line(t)
		if !ok {
			t.Fatal("SSE: the stream ended")
		}
		if data, found := strings.CutPrefix(line, "data: "); found {
			return decodeEvent(t, []byte(data))
		}
		if line == "event: complete" {
			t.Fatal("SSE: the stream completed")
		}
	}
}

func TestShutdownClosesLiveConnectionsForClientsToReconnect(t *testing.T) {
	for _, b := range servertest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			s := startOn(t, b, server.Config{ShutdownTimeout: 10 * time.Second})
			token, prototypeID := newLoopOver(t, s.url)
			awaitResolvers(t, s.url, token, prototypeID)
			vars := map[string]any{"p": prototypeID}

			var subscribed []*wsClient
			for _, proto := range protocols {
				c := dial(t, s.url, proto, nil)
				c.init(map[string]any{"token": token})
				c.subscribe("events", prototypeEvents, vars)
				c.nextEvent("events")
				subscribed = append(subscribed, c)
			}
			idle := dial(t, s.url, transportWS, nil) // no connection_init yet
			sse := subscribeSSE(t, s.url, token, prototypeEvents, vars)
			sse.next(t)

			began := time.Now()
			s.stop()
			for _, c := range append(subscribed, idle) {
				c.requireClose(codeServiceRestart)
			}
			// The stream ends, saying why, and without "complete", which
			// would tell the client the subscription is over.
			var restarting bool
			for {
				line, ok := sse.line(t)
				if !ok {
					break
				}
				if line == "event: complete" {
					t.Error("SSE: the stream completed instead of being cut")
				}
				restarting = restarting || strings.Contains(line, "restarting")
			}
			if !restarting {
				t.Error("SSE: the stream did not say the server is restarting")
			}
			if err := s.wait(t); err != nil {
				t.Errorf("Serve returned %v, want nil", err)
			}
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("shutdown took %v with live connections open", took)
			}
			if _, _, err := tryDial(s.url, transportWS, nil); err == nil {
				t.Error("a websocket opened after shutdown")
			}
		})
	}
}

func TestNoGoroutinesLeakFromLiveConnections(t *testing.T) {
	// Not parallel, and one backend at a time: goroutines are counted for
	// the whole process.
	for _, b := range servertest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			s := servertest.Start(t, b)
			loop := s.NewLoop(t)
			awaitResolvers(t, s.URL, loop.Owner.Token, loop.Prototype.ID)
			vars := map[string]any{"p": loop.Prototype.ID}
			subscriptions, connections := 1000, 200
			if b == servertest.Postgres && testing.Short() {
				// A subscription costs the broker ~15 ms to start on
				// PostgreSQL; the transport is the same on both.
				subscriptions, connections = 200, 50
			}
			before := settledGoroutines(t, -1)
			began := time.Now()

			c := dial(t, s.URL, transportWS, nil)
			c.init(map[string]any{"token": loop.Owner.Token})
			for i := range subscriptions {
				id := strconv.Itoa(i)
				c.subscribe(id, prototypeEvents, vars)
				c.nextEvent(id)
				c.stop(id)
			}
			closeGracefully(c)
			cycles := time.Since(began)
			began = time.Now()

			for i := range connections {
				c := dial(t, s.URL, protocols[i%2], nil)
				c.init(map[string]any{"token": loop.Owner.Token})
				c.subscribe("1", prototypeEvents, vars)
				c.nextEvent("1")
				if i%4 < 2 {
					closeGracefully(c)
				} else {
					c.conn.Close() // a client that vanishes
				}
			}
			conns := time.Since(began)
			after := settledGoroutines(t, before)
			t.Logf("%d subscribe/complete cycles in %v, %d connections in %v; goroutines %d before, %d after",
				subscriptions, cycles.Round(time.Millisecond), connections, conns.Round(time.Millisecond), before, after)
			if after > before {
				t.Errorf("%d goroutines before, %d after %d subscriptions and %d connections",
					before, after, subscriptions, connections)
			}
		})
	}
}

func TestIdleSubscriptionsKeepNoGoroutine(t *testing.T) {
	// Not parallel: goroutines are counted for the whole process.
	s := start(t, server.Config{})
	token, prototypeID := newLoopOver(t, s.url)
	awaitResolvers(t, s.url, token, prototypeID)
	vars := map[string]any{"p": prototypeID}
	const connections, perConnection = 20, 10
	before := settledGoroutines(t, -1)
	for i := range connections {
		c := dial(t, s.url, protocols[i%2], nil)
		c.init(map[string]any{"token": token})
		for j := range perConnection {
			id := strconv.Itoa(j)
			c.subscribe(id, prototypeEvents, vars)
			c.nextEvent(id)
		}
	}
	after := settledGoroutines(t, before+connections)
	t.Logf("%d goroutines before, %d with %d connections of %d idle subscriptions each",
		before, after, connections, perConnection)
	// One goroutine per connection, its reader; none per subscription.
	if after-before > connections {
		t.Errorf("%d goroutines for %d connections with %d subscriptions each, want at most one per connection",
			after-before, connections, perConnection)
	}
}

// closeGracefully closes a websocket the way browsers do: a close frame,
// then the server's answer.
func closeGracefully(c *wsClient) {
	_ = c.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			break
		}
	}
	c.conn.Close()
}

// settledGoroutines waits for the number of goroutines to stop falling,
// or to reach target (-1 for none), and returns it.
func settledGoroutines(t testing.TB, target int) int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	n, steady := runtime.NumGoroutine(), 0
	for time.Now().Before(deadline) && (target < 0 || n > target) && steady < 20 {
		time.Sleep(100 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n && target < 0 {
			steady++
		} else {
			steady = 0
		}
		n = m
	}
	return n
}

// graphQL sends a request to the server at base and decodes its data into
// out, failing t on any error.
func graphQL(t testing.TB, base, token, query string, vars map[string]any, out any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data   json.RawMessage
		Errors []json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || len(r.Errors) > 0 {
		t.Fatalf("%.60s: HTTP %d, %v %s", query, resp.StatusCode, err, r.Errors)
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		t.Fatal(err)
	}
}

// newLoopOver signs up a user on the server at base and gives them a
// prototype with a published iteration, for servers started without
// servertest's fixtures; it returns the user's token and the prototype.
func newLoopOver(t testing.TB, base string) (token, prototypeID string) {
	t.Helper()
	var up struct{ SignUp struct{ Token string } }
	graphQL(t, base, "", `mutation($in: SignUpInput!) { signUp(input: $in) { token } }`,
		map[string]any{"in": map[string]any{"email": "olive@example.test", "name": "Olive", "password": servertest.Password}}, &up)
	token = up.SignUp.Token
	var ws struct{ CreateWorkspace struct{ ID string } }
	graphQL(t, base, token, `mutation($in: CreateWorkspaceInput!) { createWorkspace(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"name": "Acme", "slug": "acme"}}, &ws)
	var p struct{ CreatePrototype struct{ ID string } }
	graphQL(t, base, token, `mutation($in: CreatePrototypeInput!) { createPrototype(input: $in) { id } }`,
		map[string]any{"in": map[string]any{
			"workspaceID": ws.CreateWorkspace.ID, "title": "Shift signup", "slug": "shifts",
			"problem": "Volunteers retype the same form.", "missionLink": "More time with people.",
		}}, &p)
	var it struct{ CreateIteration struct{ ID string } }
	graphQL(t, base, token, `mutation($p: ID!, $in: CreateIterationInput!) { createIteration(prototypeID: $p, input: $in) { id } }`,
		map[string]any{"p": p.CreatePrototype.ID, "in": map[string]any{"title": "First", "changelog": "All new.", "url": "https://example.test/try"}}, &it)
	var pub struct{ PublishIteration struct{ Number int } }
	graphQL(t, base, token, `mutation($id: ID!) { publishIteration(id: $id) { number } }`,
		map[string]any{"id": it.CreateIteration.ID}, &pub)
	return token, p.CreatePrototype.ID
}

// The memory a server spends on idle subscribers is measured with the
// clients in another process (this test binary again, running
// TestLiveMeasureClients), so that the server's figures are its own.
const (
	envMeasure        = "PROTOLOOP_MEASURE_LIVE" // connections to open, e.g. 2000
	envMeasureURL     = "PROTOLOOP_MEASURE_URL"
	envMeasureToken   = "PROTOLOOP_MEASURE_TOKEN"
	envMeasurePrototy = "PROTOLOOP_MEASURE_PROTOTYPE"
	envMeasureAfter   = "PROTOLOOP_MEASURE_AFTER" // the clients subscribe after this cursor
)

func TestLiveMemoryPerIdleSubscriber(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(envMeasure))
	if n <= 0 || os.Getenv(envMeasureURL) != "" {
		t.Skipf("set %s=2000 to measure the memory of that many idle subscribers", envMeasure)
	}
	for _, b := range servertest.Backends() {
		t.Run(string(b), func(t *testing.T) {
			before, after := measureIdleSubscribers(t, servertest.Start(t, b), n, false)
			per := func(a, b uint64) string { return fmt.Sprintf("%.1f KiB", float64(int64(a)-int64(b))/float64(n)/1024) }
			t.Logf("%s: %d idle websockets, each init'd with one subscription: per connection %s heap in use "+
				"(%s of live objects), %s goroutine stacks, %.1f goroutines, %s RSS (%d → %d goroutines, RSS %d → %d MiB)",
				b, n, per(after.heap, before.heap), per(after.live, before.live), per(after.stack, before.stack),
				float64(after.goroutines-before.goroutines)/float64(n), per(after.rss, before.rss),
				before.goroutines, after.goroutines, before.rss>>20, after.rss>>20)
		})
	}
}

// An idle subscriber of prototypeEvents, whose payloads its group shares,
// keeps its connection, its broker subscription and the operation shared
// with the other subscribers of the same document, not gqlgen's executor
// state for the operation (graph.EventFeed.Detach). Live heap after a
// collection per connection, each with one subscription (SQLite, 400
// connections, clients in another process; three runs each): 9,230–9,322
// bytes with that state kept (the handler, its field contexts and
// arguments, the executor's contexts held by the broker, a validated
// operation each), 5,642–5,710 without. The bound, 7 KiB, is ~2 KiB
// under the first and ~1.4 KiB over the second. Live bytes after a
// collection leave out what makes heap in use and RSS noisy (spans that
// set-up garbage fragmented, stacks, pages not yet returned).
func TestIdleSubscribersKeepNoExecutorState(t *testing.T) {
	if testing.Short() || os.Getenv(envMeasureURL) != "" {
		t.Skip("measures 400 idle websockets, clients in another process")
	}
	const n, bound = 400, 7 * 1024
	before, after := measureIdleSubscribers(t, servertest.Start(t, servertest.SQLite), n, false)
	per := float64(int64(after.live)-int64(before.live)) / n
	t.Logf("%.0f bytes of live heap per idle subscriber", per)
	if per > bound {
		t.Errorf("an idle subscriber keeps %.0f bytes of live heap, over %.0f: is the executor's state for its operation kept?", per, float64(bound))
	}
}

// A client resumes a subscription from the last cursor it has seen, and
// a burst of them (a deploy, a network blip) subscribe at once: what each
// subscribe allocates and drops is what the burst leaves in part-used
// spans and pages not yet returned, the most of an idle subscriber's RSS.
// From the latest cursor, its after cursor is decoded with a pooled
// decoder (entgql's took ~6.5 KB per decode, twice), the broker registers
// it live without a catch-up's goroutine and read of the table (~12 KB),
// it shares its token's cached identity, and it reads its prototype's
// workspace only, not the whole row. Bytes the server allocates per
// connection (SQLite, 400 websockets, clients in another process;
// upgrade, connection_init and subscribe): 65,931–65,946 before, 39,082–
// 39,199 with the first three (four runs), 34,685–34,697 with all (two).
// The bound is between.
func TestASubscribeFromTheLatestCursorAllocatesLittle(t *testing.T) {
	if testing.Short() || os.Getenv(envMeasureURL) != "" {
		t.Skip("measures 400 websockets' subscribes, clients in another process")
	}
	const n, bound = 400, 45_000
	before, after := measureIdleSubscribers(t, servertest.Start(t, servertest.SQLite), n, true)
	per := float64(after.alloc-before.alloc) / n
	t.Logf("%.0f bytes allocated per connection and subscribe from the latest cursor; %.0f of them live after", per,
		float64(int64(after.live)-int64(before.live))/n)
	if raceEnabled {
		t.Log("race detector on: sync.Pool drops items, the bound is not checked")
		return
	}
	if per > bound {
		t.Errorf("a connection and its subscribe from the latest cursor allocate %.0f bytes, over %d", per, bound)
	}
}

// measureIdleSubscribers opens n websockets to s from another process
// (this test binary again, running TestLiveMeasureClients), each
// connection_init'd and subscribed to prototypeEvents (after the latest
// event's cursor if fromLatest, and then with no event to wait for), and
// returns the server process's memory before and once they are idle.
func measureIdleSubscribers(t *testing.T, s *servertest.Server, n int, fromLatest bool) (before, after memStats) {
	t.Helper()
	loop := s.NewLoop(t)
	awaitResolvers(t, s.URL, loop.Owner.Token, loop.Prototype.ID)
	env := []string{envMeasure + "=" + strconv.Itoa(n),
		envMeasureURL + "=" + s.URL, envMeasureToken + "=" + loop.Owner.Token, envMeasurePrototy + "=" + loop.Prototype.ID}
	if fromLatest {
		// The latest event: a feedback's, once the subscription has
		// replayed everything before it.
		c := dial(t, s.URL, transportWS, nil)
		c.init(map[string]any{"token": loop.Owner.Token})
		c.subscribe("latest", prototypeEvents, map[string]any{"p": loop.Prototype.ID})
		s.LeaveFeedback(t, loop.Owner.Token, loop.Iteration.ID, nil)
		e := c.nextEvent("latest")
		for e.Kind != "FEEDBACK_ADDED" {
			e = c.nextEvent("latest")
		}
		env = append(env, envMeasureAfter+"="+e.Cursor)
		c.conn.Close()
	}
	before = memory(t)

	cmd := exec.Command(os.Args[0], "-test.run=^TestLiveMeasureClients$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("clients: %v", err)
		}
	}()
	lines := bufio.NewScanner(stdout)
	ready := false
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "ready") {
			ready = true
			break
		}
		t.Log("clients: " + lines.Text())
	}
	if !ready {
		t.Fatal("the clients did not get ready")
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if fromLatest {
		// No event says that a subscription is set up: the server's count
		// does (read seldom: each read allocates too).
		deadline := time.Now().Add(time.Minute)
		for active := 0.0; active < float64(n); active = scrape(t, s)["protoloop_subscriptions_active"] {
			if time.Now().After(deadline) {
				t.Fatalf("%v subscriptions set up after a minute, want %d", active, n)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	time.Sleep(time.Second) // let the last subscriptions go idle
	return before, memory(t)
}

// TestLiveMeasureClients is the client half of
// TestLiveMemoryPerIdleSubscriber: it holds the connections open until
// its stdin closes.
func TestLiveMeasureClients(t *testing.T) {
	base := os.Getenv(envMeasureURL)
	if base == "" {
		t.Skip("run by TestLiveMemoryPerIdleSubscriber")
	}
	n, _ := strconv.Atoi(os.Getenv(envMeasure))
	vars := map[string]any{"p": os.Getenv(envMeasurePrototy)}
	after := os.Getenv(envMeasureAfter)
	if after != "" {
		vars["after"] = after
	}
	for i := range n {
		c := dial(t, base, protocols[i%2], nil)
		c.init(map[string]any{"token": os.Getenv(envMeasureToken)})
		c.subscribe("1", prototypeEvents, vars)
		if after == "" {
			c.nextEvent("1")
		}
		if (i+1)%500 == 0 {
			fmt.Printf("%d connections\n", i+1)
		}
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

type memStats struct {
	heap, live, stack, rss uint64 // heap in use (spans), live heap objects
	alloc                  uint64 // bytes allocated so far, freed or not
	goroutines             int
}

// memory returns the process's memory after a collection.
func memory(t testing.TB) memStats {
	t.Helper()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s := memStats{heap: m.HeapInuse, live: m.HeapAlloc, stack: m.StackInuse, alloc: m.TotalAlloc, goroutines: runtime.NumGoroutine()}
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				s.rss = kb << 10
			}
		}
	}
	return s
}

package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/graph"
	"github.com/protoloop/protoloop/server/broker"
)

// Defaults for the live-update fields of Config left zero.
const (
	DefaultWebsocketInitTimeout = 3 * time.Second
	// DefaultKeepAlive is under the 60 s idle timeout common to proxies
	// and load balancers (nginx, AWS ALB), so that they never cut a quiet
	// subscription.
	DefaultKeepAlive = 25 * time.Second
)

const (
	// maxMessageBytes caps a message from a websocket client. Clients
	// send connection_init, subscribe and complete: a subscribe with a
	// large selection set is a few KiB.
	maxMessageBytes = 64 << 10
	// maxOperations caps the operations one websocket runs at once. A
	// page subscribes to a handful; the cap bounds what one connection
	// can make the server hold.
	maxOperations = 100
	// wsReadBufferSize is the read buffer each websocket holds for its
	// whole life. Clients send a handful of messages (connection_init,
	// subscribe, pongs); one longer than the buffer is read in several
	// calls, straight into the message once its frame header is read.
	// gorilla needs room for a control frame's payload (125 bytes). The
	// buffer is the server's own, handed to gorilla through the hijack
	// (hijackWriter), so that the server can tell when gorilla holds
	// nothing more to read (gorillaConn.readReady); gorilla takes it only
	// if it is over 256 bytes, and 288 is the size class a 257-byte
	// buffer takes anyway.
	wsReadBufferSize = 288
	// wsWriteBufferSize is the size of gorilla's write buffers, which a
	// connection would borrow from one pool for the length of a message
	// written through gorilla; the server writes its frames itself
	// (gorillaConn.flush), so no connection holds one.
	wsWriteBufferSize = 4 << 10
)

// wsWriteBuffers is the pool of websocket write buffers, one for every
// server in the process: gorilla asks for one pool per buffer size.
var wsWriteBuffers = &sync.Pool{}

// addLiveTransports adds the transports for subscriptions to srv: the
// websocket transport with both subprotocols, authenticating from
// connection_init, and server-sent events for clients that cannot open a
// websocket (SSE authenticates from the Authorization header, like any
// POST).
func (s *Server) addLiveTransports(srv *handler.Server) {
	initTimeout := s.cfg.WebsocketInitTimeout
	if initTimeout <= 0 {
		initTimeout = DefaultWebsocketInitTimeout
	}
	keepAlive := s.cfg.KeepAlive
	if keepAlive <= 0 {
		keepAlive = DefaultKeepAlive
	}
	writeWait := s.cfg.WebsocketWriteTimeout
	if writeWait <= 0 {
		writeWait = wsWriteWait
	}
	impl := &gorillaWebsocket{
		upgrader: websocket.Upgrader{
			HandshakeTimeout: wsWriteWait,
			// Zero: gorilla reads through the buffer the hijack hands it
			// (see wsReadBufferSize).
			ReadBufferSize: 0,
			// Messages are written as frames straight to the socket
			// (gorillaConn.flush), never through gorilla's writer: with a
			// pool, gorilla holds no write buffer per connection.
			WriteBufferSize: wsWriteBufferSize,
			WriteBufferPool: wsWriteBuffers,
			Subprotocols:    []string{protocolTransportWS, protocolGraphQLWS},
			CheckOrigin:     s.originAllowed,
			Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
				code := graph.CodeBadUserInput
				if status >= http.StatusInternalServerError {
					code = graph.CodeInternal
				}
				writeError(w, status, code, reason.Error())
			},
		},
		initTimeout: initTimeout,
		keepAlive:   keepAlive,
		writeWait:   writeWait,
		maxOps:      maxOperations,
		init:        s.initWebsocket,
		live:        &s.live,
		log:         s.log,
	}
	srv.AddTransport(websocketTransport{
		impl:          impl,
		live:          &s.live,
		originAllowed: s.originAllowed,
		log:           s.log,
	})
	srv.AddTransport(sseTransport{
		SSE:  transport.SSE{KeepAlivePingInterval: keepAlive},
		live: &s.live,
	})
}

// initWebsocket authenticates a websocket from its connection_init
// payload, which carries the bearer token browsers cannot put in a
// websocket's headers: {"Authorization": "Bearer <token>"} (or
// "authorization"), or {"token": "<token>"}. Without one, the connection
// goes on as the upgrade request's Authorization header said, or
// anonymously, and the privacy policies decide what it may see, as for a
// request over HTTP.
//
// A bad token closes the connection with 4403, not 4401: in the protocol
// 4401 means "subscribed before connection_ack", and the graphql-ws client
// gives up after it, while it retries after 4403, calling its
// connectionParams again, which is where a client refreshes its token.
func (s *Server) initWebsocket(ctx context.Context, payload transport.InitPayload) (context.Context, error) {
	conn, _ := ctx.Value(connKey{}).(*gorillaConn)
	token, present, ok := initToken(payload)
	if !present {
		if id := viewer.FromContext(ctx); id != nil && conn != nil {
			conn.setToken(id.TokenID) // from the handshake's Authorization
		}
		return ctx, nil
	}
	if !ok {
		return refuseInit(ctx, closeBadRequest, `Bad request: send {"Authorization": "Bearer <token>"}`)
	}
	id, err := s.identities.Authenticate(ctx, s.db.Client, token)
	switch {
	case errors.Is(err, graph.ErrInvalidToken):
		return refuseInit(ctx, closeForbidden, "Forbidden: invalid, expired or revoked token; log in again")
	case err != nil:
		s.log.ErrorContext(ctx, "authenticate websocket", "err", err)
		// 1013: the client retries after a while, as it should.
		return refuseInit(ctx, websocket.CloseTryAgainLater, "Try again later: could not check the token")
	}
	s.tokens.Touch(id.TokenID)
	if conn != nil {
		conn.setToken(id.TokenID)
	}
	return viewer.NewContext(ctx, id), nil
}

// connKey is the context key of the websocket a connection_init came on.
type connKey struct{}

// initToken finds the bearer token in a connection_init payload. present
// is false when there is none (an empty or null value counts as none:
// clients send {"Authorization": ""} when logged out); ok is false when
// there is one but it is malformed.
func initToken(p transport.InitPayload) (token string, present, ok bool) {
	for _, key := range []string{"Authorization", "authorization"} {
		v, found := p[key]
		if !found || v == nil || v == "" {
			continue
		}
		header, isString := v.(string)
		if !isString {
			return "", true, false
		}
		token, ok = bearerToken([]string{header})
		return token, true, ok
	}
	v, found := p["token"]
	if !found || v == nil || v == "" {
		return "", false, false
	}
	token, isString := v.(string)
	return token, true, isString && !strings.ContainsAny(token, " \t")
}

// refuseInit fails connection_init: the connection is closed with code
// and reason, and for graphql-ws first sent reason as a connection_error.
func refuseInit(ctx context.Context, code int, reason string) (context.Context, error) {
	return ctx, &wsRefusal{code: code, reason: reason}
}

// originAllowed is the websocket origin policy. Browsers let any page open
// a websocket to any server, so the Origin header is what stops another
// site's page from using a visitor's session here. Allowed: requests
// without an Origin (not a browser), the server's own origin, and
// Config.AllowedOrigins ("*" for any).
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// websocketTransport is the websocket transport (gorillaWebsocket),
// turning away what it should not upgrade before it does, handing each
// connection it upgrades to gorillaConn.serve, and keeping track of them
// for graceful shutdown.
type websocketTransport struct {
	impl          *gorillaWebsocket
	live          *liveConns
	originAllowed func(*http.Request) bool
	log           *slog.Logger
}

var _ graphql.Transport = websocketTransport{}

// Supports implements graphql.Transport.
func (websocketTransport) Supports(r *http.Request) bool { return r.Header.Get("Upgrade") != "" }

// Do implements graphql.Transport.
func (t websocketTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	switch {
	case !t.originAllowed(r):
		writeError(w, http.StatusForbidden, graph.CodeForbidden,
			fmt.Sprintf("websockets from origin %q are not allowed", r.Header.Get("Origin")))
		return
	case r.Method != http.MethodGet:
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, graph.CodeBadUserInput, "a websocket handshake is a GET")
		return
	case !websocket.IsWebSocketUpgrade(r) || len(r.Header.Get("Sec-WebSocket-Key")) != 24:
		writeError(w, http.StatusBadRequest, graph.CodeBadUserInput, "not a websocket handshake")
		return
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		w.Header().Set("Sec-WebSocket-Version", "13")
		writeError(w, http.StatusUpgradeRequired, graph.CodeBadUserInput, "unsupported websocket version: use 13")
		return
	}
	if !t.live.begin() {
		shuttingDown(w)
		return
	}
	c, err := t.impl.upgrade(w, r)
	if err != nil {
		t.live.end()
		t.log.DebugContext(r.Context(), "websocket", "err", err) // gorilla has answered
		return
	}
	// net/http keeps a request's buffers (8 KiB) and its goroutine's
	// stack, grown deep by the middleware, for as long as its handler
	// runs, and a websocket may run for days: the handler returns now,
	// and the connection is served under a context of its own that ends
	// with the connection, by no goroutine while its client is quiet
	// (see gorillaConn.serve).
	c.serve(connContext(r.Context(), c), exec)
}

// connContext is a websocket's context: the values of its upgrade
// request's context that operations read (the caller from the
// Authorization header, if any; the client's address, for rate limits),
// and the connection. It starts afresh rather than from the request's
// context, whose chain of contexts (net/http's, the middleware's, gqlgen's)
// the connection would otherwise keep for its whole life. A middleware
// that puts a value for operations into the request's context must have
// it copied here.
func connContext(req context.Context, c *gorillaConn) context.Context {
	ctx := context.WithValue(context.Background(), clientIPKey{}, clientIPFrom(req))
	if id := viewer.FromContext(req); id != nil {
		ctx = viewer.NewContext(ctx, id)
	}
	return context.WithValue(ctx, connKey{}, c)
}

// shuttingDown answers a request for a stream that arrives once shutdown
// has begun.
func shuttingDown(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Connection", "close")
	writeError(w, http.StatusServiceUnavailable, graph.CodeInternal, "the server is shutting down: try again")
}

// sseTransport is gqlgen's server-sent events transport, for streams that
// outlive the server's read and write timeouts and end cleanly when the
// server shuts down.
type sseTransport struct {
	transport.SSE
	live *liveConns
}

var _ graphql.Transport = sseTransport{}

// Do implements graphql.Transport.
func (t sseTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if !t.live.begin() {
		shuttingDown(w)
		return
	}
	defer t.live.end()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	s := &sseStream{ResponseWriter: w, rc: http.NewResponseController(w), cancel: cancel}
	if !t.live.addStream(s) {
		shuttingDown(w)
		return
	}
	defer t.live.removeStream(s)
	// The server's write timeout is for ordinary responses: past it, the
	// stream's writes would fail. Each write gets a deadline instead. (Its
	// read timeout ends with the body.)
	_ = s.rc.SetWriteDeadline(time.Time{})
	t.SSE.Do(s, r.WithContext(ctx), exec)
	s.finish()
}

// sseStream is the response of one SSE request. It serializes writes with
// the end of the stream: gqlgen's keep-alive goroutine may write after Do
// returns, and at shutdown the stream must end without the "complete"
// gqlgen would send, which would tell the client that the subscription is
// over rather than interrupted.
type sseStream struct {
	http.ResponseWriter
	rc     *http.ResponseController
	cancel context.CancelFunc

	mu         sync.Mutex
	restarting bool // the server is shutting down: gqlgen's writes are dropped
	done       bool // Do returned: nothing more may be written
}

var errStreamEnded = errors.New("sse: stream ended")

// Write writes to the stream within wsWriteWait.
func (s *sseStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.restarting || s.done {
		return 0, errStreamEnded
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(wsWriteWait))
	return s.ResponseWriter.Write(p)
}

// Flush implements http.Flusher, which gqlgen's SSE transport requires.
func (s *sseStream) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(wsWriteWait))
	_ = s.rc.Flush()
}

// restart ends the stream because the server is shutting down.
func (s *sseStream) restart() {
	s.mu.Lock()
	s.restarting = true
	s.mu.Unlock()
	s.cancel()
}

// finish ends the stream once gqlgen is done with it. A stream cut by a
// shutdown ends with a comment saying so, and without "complete": the
// client resubscribes after its last cursor.
func (s *sseStream) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.restarting && !s.done {
		_ = s.rc.SetWriteDeadline(time.Now().Add(wsWriteWait))
		_, _ = io.WriteString(s.ResponseWriter, ": server restarting: resubscribe after your last cursor\n\n")
		_ = s.rc.Flush()
	}
	s.done = true
}

// liveConns keeps the server's websockets and SSE streams, which
// http.Server.Shutdown does not end: it forgets hijacked connections
// (websockets) altogether, and it would wait for a stream until its
// timeout. Its zero value is ready to use.
type liveConns struct {
	mu       sync.Mutex
	closing  bool
	conns    map[*gorillaConn]struct{}
	streams  map[*sseStream]struct{}
	handlers sync.WaitGroup // websocket and SSE handlers still running

	// Subscription events the websocket writers wrote, and of those the
	// ones written from a payload another subscriber of the group had
	// encoded, without gqlgen's executor (graph.EventFeed.Shared): their
	// ratio tells operators, and tests, that sharing works.
	eventsWritten, eventsShared atomic.Int64
	// eventWrites counts the writes that carried them.
	eventWrites atomic.Int64
}

var _ broker.TokenHolders = (*liveConns)(nil)

// Tokens implements broker.TokenHolders: the bearer tokens the websockets
// were opened with. The broker checks them with its subscribers' (every
// Config.RevalidateTokens, and at once when an identity changes), since
// a connection could otherwise go on starting subscriptions.
func (l *liveConns) Tokens() []gid.ID {
	l.mu.Lock()
	defer l.mu.Unlock()
	tokens := make([]gid.ID, 0, len(l.conns))
	for c := range l.conns {
		if tok := c.token(); tok != 0 {
			tokens = append(tokens, tok)
		}
	}
	return tokens
}

// Revoke implements broker.TokenHolders: it closes the websockets opened
// with the tokens, with 4403, so that the graphql-ws client reconnects,
// asking its connectionParams for a token again.
func (l *liveConns) Revoke(tokens []gid.ID) {
	gone := make(map[gid.ID]bool, len(tokens))
	for _, tok := range tokens {
		gone[tok] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		if gone[c.token()] {
			// Concurrently: closing may wait up to twice the
			// connection's write timeout (a write in progress, then what
			// was queued and the close) for a client that does not read.
			go c.refuse(closeForbidden, "Forbidden: the token was revoked or has expired; log in again")
		}
	}
}

// begin notes that a live handler starts; it reports false once shutdown
// has begun, when no new one may.
func (l *liveConns) begin() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	l.handlers.Add(1)
	return true
}

// end notes that a live handler has returned.
func (l *liveConns) end() { l.handlers.Done() }

func (l *liveConns) addConn(c *gorillaConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	if l.conns == nil {
		l.conns = map[*gorillaConn]struct{}{}
	}
	l.conns[c] = struct{}{}
	return true
}

// count returns how many websockets are open.
func (l *liveConns) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func (l *liveConns) removeConn(c *gorillaConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

func (l *liveConns) addStream(s *sseStream) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	if l.streams == nil {
		l.streams = map[*sseStream]struct{}{}
	}
	l.streams[s] = struct{}{}
	return true
}

func (l *liveConns) removeStream(s *sseStream) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.streams, s)
}

// shutdown closes every websocket with 1012 and ends every SSE stream, so
// that their clients reconnect to another server with their last cursor.
// It returns at once; wait waits for the handlers to finish.
func (l *liveConns) shutdown() {
	l.mu.Lock()
	l.closing = true
	conns := make([]*gorillaConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	streams := make([]*sseStream, 0, len(l.streams))
	for s := range l.streams {
		streams = append(streams, s)
	}
	l.mu.Unlock()
	for _, s := range streams {
		s.restart()
	}
	for _, c := range conns {
		// Concurrently: a client that does not read holds its close for
		// up to wsWriteWait, and must not hold up the others'.
		go c.restart()
	}
}

// wait waits until every live handler has returned, starting the
// shutdown if it has not begun. When ctx is done first, it cuts the
// sockets that are left and returns an error.
func (l *liveConns) wait(ctx context.Context) error {
	l.shutdown()
	done := make(chan struct{})
	go func() {
		l.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	n := len(l.conns) + len(l.streams)
	conns := make([]*gorillaConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.closeSocket()
	}
	// Streams were cancelled in shutdown; http.Server.Close cuts them.
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	return fmt.Errorf("%d live connections still open: %w", n, ctx.Err())
}

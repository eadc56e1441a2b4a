package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/graph"
)

// The websocket subprotocols, in the order the server prefers them when a
// client offers both: graphql-transport-ws is the maintained one (the
// graphql-ws library's); graphql-ws is Apollo's legacy
// subscriptions-transport-ws. A client that names neither is spoken to in
// graphql-ws, as gqlgen does.
const (
	protocolTransportWS = "graphql-transport-ws"
	protocolGraphQLWS   = "graphql-ws"
)

// Close codes of the GraphQL over WebSocket protocol (graphql-transport-ws)
// that the server sends, besides RFC 6455's. The legacy graphql-ws
// protocol defines none of its own and is sent the same ones.
//
// The graphql-ws client treats 4400, 4401, 4409 and 4429 as fatal (a bug
// in the client, which retrying would only repeat) and retries after the
// others, and after 1001, 1012 and 1013.
const (
	closeBadRequest       = 4400 // a message that is not JSON, or not of this protocol
	closeUnauthorized     = 4401 // subscribe before connection_ack
	closeForbidden        = 4403 // connection_init with a token that is not (or no longer) valid
	closeInitTimeout      = 4408 // no connection_init in time
	closeSubscriberExists = 4409 // subscribe with the id of an operation still running
	closeTooManyInits     = 4429 // a second connection_init
)

const (
	// wsWriteWait bounds one write to a client (websocket handshakes, SSE;
	// websocket messages and close frames by default, see
	// Config.WebsocketWriteTimeout). A client that takes no message for
	// this long is gone or not reading; its connection is cut so that it
	// stops holding the operations that feed it.
	wsWriteWait = 10 * time.Second
	// closeGrace is how long a connection the server has closed stays
	// half-open, so that the client reads the close frame (and its code)
	// before the socket goes.
	closeGrace = 2 * time.Second
	// maxCloseReason is RFC 6455's limit on a close frame's reason: 125
	// bytes of payload, 2 of them the code.
	maxCloseReason = 123
	// maxQueued bounds the bytes of messages waiting for a connection's
	// writer (answers to the client, and the results of operations that
	// are not fed by the broker: events of fed ones wait in the broker).
	// A client that lets this much pile up is not reading: it is cut.
	// The largest message waiting is not counted, so that one larger than
	// this (a large query result) is still sent, with the small messages
	// around it (a keep-alive before it, its complete after).
	maxQueued = 1 << 20
)

// gorillaWebsocket serves GraphQL over websockets, both subprotocols, on
// github.com/gorilla/websocket: a transport of our own rather than
// gqlgen's, which keeps two goroutines per connection and one per
// operation waiting, where ours keeps none for a connection whose client
// is quiet, on Linux (see serve), and one per connection (its reader)
// elsewhere.
//
//   - Each connection's reader checks every client message against the
//     protocol and enforces what the protocols ask for: the
//     connection_init timeout (4408), subscribe before connection_ack
//     (4401), a second connection_init (4429), an operation id already in
//     use (4409), a message that is not the protocol's (4400), and a cap
//     on the operations one connection may run at once. It keeps
//     connections alive with a timer each (see tick).
//   - An operation starts on a goroutine of its own, which parses and
//     validates it and runs its resolver. A subscription to the broker's
//     events (graph.WithEventFeed) then keeps no goroutine: the broker
//     says when it has queued an event for it, and the connection's
//     writer runs gqlgen's response handler, which returns at once; one
//     whose payloads are shared keeps no handler either, only its feed
//     (graph.EventFeed.Detach), which runs the executor again for an
//     event when this subscriber must encode it. Other
//     operations (queries, mutations, derived streams) run on that
//     goroutine to their end, as gqlgen's transport runs them.
//   - Writes go through the connection's writer, run while the
//     connection has something to send by one of a few workers shared by
//     every connection (connWriters): it takes every message queued and
//     every event ready and writes them as frames in one system call that
//     does not wait. What the socket does not take at once is written by
//     a goroutine of the connection's own, within writeWait. A client
//     that does not take them in time is cut, and holds up no one else.
type gorillaWebsocket struct {
	upgrader    websocket.Upgrader
	initTimeout time.Duration
	keepAlive   time.Duration
	writeWait   time.Duration
	maxOps      int
	init        wsInitFunc
	live        *liveConns
	log         *slog.Logger
}

// wsInitFunc authenticates a connection from its connection_init payload
// and returns the connection's context for its operations; an error
// closes the connection (a *wsRefusal says with which code).
type wsInitFunc func(ctx context.Context, payload transport.InitPayload) (context.Context, error)

// wsRefusal is an error of connection_init that closes the connection
// with code.
type wsRefusal struct {
	code   int
	reason string
}

func (r *wsRefusal) Error() string { return r.reason }

// upgrade upgrades r to a websocket, served by serve.
func (g *gorillaWebsocket) upgrade(w http.ResponseWriter, r *http.Request) (*gorillaConn, error) {
	hw := &hijackWriter{ResponseWriter: w}
	ws, err := g.upgrader.Upgrade(hw, r, nil)
	if err != nil {
		return nil, fmt.Errorf("websocket upgrade: %w", err)
	}
	// A longer message makes gorilla close the connection with 1009.
	ws.SetReadLimit(maxMessageBytes)
	c := &gorillaConn{
		ws:        ws,
		netConn:   hw.conn.Conn,
		br:        hw.br,
		dialect:   dialectOf(ws.Subprotocol()),
		keepAlive: g.keepAlive,
		writeWait: g.writeWait,
		maxOps:    g.maxOps,
		init:      g.init,
		live:      g.live,
		log:       g.log,
		ops:       map[string]*wsOp{},
	}
	hw.conn.c = c // gorilla's writes go through c's writer from now on
	if !g.live.addConn(c) {
		// The server began shutting down during the handshake: the first
		// read fails, and the client reconnects elsewhere.
		c.restart()
		return c, nil
	}
	c.mu.Lock()
	if g.initTimeout > 0 {
		c.initTimer = time.AfterFunc(g.initTimeout, func() {
			c.refuse(closeInitTimeout, "Connection initialisation timeout")
		})
	}
	if g.keepAlive > 0 {
		c.keepAliveTimer = time.AfterFunc(g.keepAlive, c.tick)
	}
	c.mu.Unlock()
	return c, nil
}

// dialect is the message types of one subprotocol.
type dialect struct {
	subscribe, stop string   // the client starts and stops an operation
	other           []string // the client's other message types
	next            string   // the server sends a result
	legacy          bool     // graphql-ws: connection_error, ka; no ping
}

var (
	transportWSDialect = &dialect{
		subscribe: "subscribe", stop: "complete",
		other: []string{"ping", "pong"},
		next:  "next",
	}
	graphQLWSDialect = &dialect{
		subscribe: "start", stop: "stop",
		other:  []string{"connection_terminate"},
		next:   "data",
		legacy: true,
	}
)

func dialectOf(subprotocol string) *dialect {
	if subprotocol == protocolTransportWS {
		return transportWSDialect
	}
	return graphQLWSDialect
}

// gorillaConn is one websocket connection.
//
// One goroutine at a time reads (see serve). Writes are frames
// appended to out and written by the writer (flush, and writeRest for
// what a socket did not take at once), which holds writeMu while it
// writes, and only then: it takes operations' events before. A
// close frame is written under writeMu too, after whatever was queued
// before it, so that nothing follows it.
type gorillaConn struct {
	ws        *websocket.Conn
	netConn   net.Conn      // the socket under ws (which has it wrapped: gorillaNetConn): frames are written to it directly, several in one write
	br        *bufio.Reader // what ws reads through: bytes read from the socket and not yet by ws
	exec      graphql.GraphExecutor
	opened    time.Time
	dialect   *dialect
	keepAlive time.Duration
	writeWait time.Duration // bounds each write of queued frames
	maxOps    int
	init      wsInitFunc
	live      *liveConns
	log       *slog.Logger

	// ctx is the connection's context, the caller's once connection_init
	// has authenticated it. The reader sets it (under mu, before acked);
	// operations and the writer read it only after acked, so never
	// while it changes.
	ctx    context.Context
	cancel context.CancelFunc

	writeMu sync.Mutex
	raw     syscall.RawConn // netConn's, for writes that do not wait (tryWrite); set by the writer under writeMu

	mu             sync.Mutex
	tokenID        gid.ID // the bearer token the connection authenticated with, if any
	initTimer      *time.Timer
	keepAliveTimer *time.Timer
	awaitingPong   bool // a ping went out and no pong has come back yet
	initSeen       bool
	acked          bool
	ops            map[string]*wsOp // operations running, by the client's id
	out            []byte           // frames queued for the writer
	outLargest     int              // the largest of them
	outTaken       int              // the bytes of out a writer round has copied ahead of its events, and not written yet
	ready          []*wsOp          // fed operations with events to take
	writing        bool             // a writer is running
	closeSent      bool             // the server's close frame went out (or was attempted)
	peerClosed     bool             // the client's close frame came in
	released       bool             // Close was called
	gone           bool             // the socket is closed
	polled         bool             // registered with the poller: it waits for the client's next message
	reading        bool             // a goroutine reads the client's messages, or waits for them
	readEnded      bool             // reading is over for good (readerDone)
	pollToken      int32            // the connection's in the poller's events
}

// wsOp is one operation of a connection. What the broker and the writer
// read for every event comes first, within the struct's first 64 bytes:
// at 10,000 subscribers each line read is a cache miss per event.
type wsOp struct {
	// Guarded by gorillaConn.mu. pending counts the events (or the end)
	// the broker has queued and the handler not taken: a buffer's worth
	// and one at most.
	pending int32
	queued  bool // in gorillaConn.ready
	ended   bool // no more messages: completed by either side, or failed

	// Set by the operation's goroutine before it is fed (under
	// gorillaConn.mu), read by the writer after. A detached feed
	// (graph.EventFeed.Detach) keeps no handler: next is nil, ctx the
	// operation's own, rc the operation its feed shares.
	feed *graph.EventFeed // set once the operation has been dispatched
	next graphql.ResponseHandler

	prefix []byte // {"id":…,"type":"next","payload": for its results
	conn   *gorillaConn

	ctx    context.Context
	rc     *graphql.OperationContext
	id     string // the client's
	quoted []byte // id as JSON
	cancel context.CancelFunc
}

func (c *gorillaConn) setToken(id gid.ID) {
	c.mu.Lock()
	c.tokenID = id
	c.mu.Unlock()
}

func (c *gorillaConn) token() gid.ID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tokenID
}

// Subprotocol returns the subprotocol negotiated.
func (c *gorillaConn) Subprotocol() string { return c.ws.Subprotocol() }

// tick keeps the connection alive every keepAlive, once it is
// acknowledged: graphql-ws clients get a "ka"; graphql-transport-ws
// clients get a ping and, if they have not answered the last one with a
// pong, are closed with 1001 (the protocol has no code for it, and a
// client that is alive after all should reconnect). Idle connections are
// what a server holds most of, so this is a timer each (a few hundred
// bytes, and a goroutine only while it fires), not a goroutine each.
func (c *gorillaConn) tick() {
	c.mu.Lock()
	if c.released || c.gone {
		c.mu.Unlock()
		return
	}
	acked, late := c.acked, c.awaitingPong
	pings := !c.dialect.legacy
	c.awaitingPong = acked && pings
	c.keepAliveTimer.Reset(c.keepAlive)
	c.mu.Unlock()
	switch {
	case !acked:
		// The init timeout looks after connections not yet acknowledged.
	case late:
		c.refuse(websocket.CloseGoingAway, "No pong in time")
	case pings:
		c.send(appendMessage(nil, nil, "ping", nil))
	default:
		c.send(appendMessage(nil, nil, "ka", nil))
	}
}

// serve serves the connection's messages until it ends, and returns at
// once.
//
// An idle connection is what a server holds most of, and a goroutine
// blocked in a read keeps a stack (8 KiB, with its spans) for as long as
// the client says nothing. So on Linux the connection waits for its
// client in the process's poller (watch, an epoll instance) with no
// goroutine at all; when the client sends something, a goroutine reads
// and handles messages while gorilla's buffer holds bytes (readReady),
// then hands the connection back to the poller and ends. Where there is
// no poller (other systems), or no file descriptor to give it, a
// goroutine of the connection's own waits in gorilla's read (readLoop).
func (c *gorillaConn) serve(ctx context.Context, exec graphql.GraphExecutor) {
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.exec, c.opened = exec, time.Now()
	if !c.watch() {
		go c.readLoop()
	}
}

// readLoop reads the connection's messages on a goroutine of its own until
// the connection ends: where there is no poller.
//
// Each message is handled on a goroutine of its own while the reader
// waits for it: the reader is the one goroutine an idle connection
// keeps, and its stack stays as deep as a read (the runtime does not
// shrink a stack below four times what it uses), however deep decoding
// and authenticating go.
func (c *gorillaConn) readLoop() {
	handled := make(chan bool, 1)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readFailed(err)
			break
		}
		began := graphql.Now()
		go func() { handled <- c.handleMessage(began, data) }()
		if !<-handled {
			break
		}
	}
	c.readerDone()
}

// readReady reads and handles the client's messages, on a goroutine the
// poller started when the client sent something, until gorilla's buffer
// is empty; then it hands the connection back to the poller and ends. A
// message that is not all in yet is waited for here: only a connection
// between messages waits without a goroutine.
//
// gorilla reads a whole message before it returns it, and reads no
// further: with its buffer empty, everything the client sent after is
// still in the socket, where the poller sees it (rearm).
func (c *gorillaConn) readReady() {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readFailed(err)
			break
		}
		if !c.handleMessage(graphql.Now(), data) {
			break
		}
		// A connection that could not be handed back (its socket is
		// closing) reads on here: its read fails.
		if c.br.Buffered() == 0 && c.rearm() {
			return
		}
	}
	c.readerDone()
}

// endOperations ends the connection's operations with it: it cancels
// their contexts, which the end of the connection's does not reach (see
// handle). readerDone calls it once reading is over, so no operation
// starts after it; one that has ended already is no longer listed.
func (c *gorillaConn) endOperations() {
	c.mu.Lock()
	ops := slices.Collect(maps.Values(c.ops))
	c.mu.Unlock()
	for _, op := range ops {
		op.cancel()
	}
}

// handleMessage handles a message of the client (see handle); a panic
// closes the connection with 1011.
func (c *gorillaConn) handleMessage(began time.Time, data []byte) (more bool) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("panic handling a websocket message", "panic", p, "stack", string(debug.Stack()))
			c.refuse(websocket.CloseInternalServerErr, "Internal error")
			more = false
		}
	}()
	return c.handle(c.exec, began, data)
}

// readerDone ends the connection once reading has ended: a read failed, a
// message ended the connection, or the socket closed while the connection
// waited in the poller (closeSocket). The first call closes the
// connection, ends its operations, and tells the transport that the
// connection is over; any later one does nothing.
func (c *gorillaConn) readerDone() {
	c.mu.Lock()
	ended := c.readEnded
	c.readEnded = true
	c.mu.Unlock()
	if ended {
		return
	}
	c.refuse(websocket.CloseNormalClosure, "terminated")
	c.cancel()
	c.endOperations()
	c.log.InfoContext(c.ctx, "websocket closed",
		"subprotocol", c.Subprotocol(), "duration", time.Since(c.opened))
	c.live.end()
}

// hijackWriter is the ResponseWriter the upgrade is given: its Hijack
// hands gorilla a read buffer of the server's own (br, wsReadBufferSize
// bytes), which gorilla reads through when Upgrader.ReadBufferSize is
// zero and the buffer is over 256 bytes, so that the server can tell when
// gorilla has read everything the client sent (readReady). A client that
// sent bytes before the handshake's answer gets net/http's buffer,
// holding them, and gorilla refuses the handshake, as it would. gorilla
// is given the connection wrapped (conn), so that it never writes to the
// socket on its own once the connection is served.
type hijackWriter struct {
	http.ResponseWriter
	br   *bufio.Reader
	conn *gorillaNetConn
}

// wsReadBufferSize must be over 256 for gorilla to read through br.
const _ = uint(wsReadBufferSize - 257)

// Hijack implements http.Hijacker.
func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return conn, rw, err
	}
	w.conn = &gorillaNetConn{Conn: conn}
	if rw.Reader.Buffered() > 0 {
		return w.conn, rw, nil
	}
	w.br = bufio.NewReaderSize(conn, wsReadBufferSize)
	return w.conn, bufio.NewReadWriter(w.br, rw.Writer), nil
}

// gorillaNetConn is the connection gorilla is given. gorilla writes to
// it itself: the handshake's answer, then, whenever its reader meets
// their cause, control frames: a pong for the client's ping, the echo of
// its close, and closes of its own (1009 for a message over the read
// limit, 1002 for a frame that breaks the protocol). Written straight to
// the socket, any of them could land inside a frame the writer has
// written only a part of (flush, writeRest), and a close could be
// followed by frames. So once the connection is served (c is set), a
// pong is queued for the writer like any message, and a close goes
// through writeClose, in turn with the writer's frames, as the server's
// own do. gorilla writes nothing else: the server writes its messages
// itself, and every control frame gorilla writes in one Write; a data
// frame, which gorilla writes in parts, is refused.
type gorillaNetConn struct {
	net.Conn
	c *gorillaConn
}

// Write implements net.Conn.
func (w *gorillaNetConn) Write(frame []byte) (int, error) {
	switch {
	case w.c == nil:
		return w.Conn.Write(frame)
	case len(frame) == 0:
		return 0, nil
	case frame[0]&0x08 == 0:
		return 0, errGorillaDataFrame
	case frame[0]&0x0f == websocket.CloseMessage:
		if err := w.c.writeClose(frame); err != nil {
			return 0, err
		}
	default:
		w.c.send(frame)
	}
	return len(frame), nil
}

// errGorillaDataFrame is the answer to gorilla writing a data frame
// (WriteMessage, NextWriter) once the connection is served: queued in
// parts, other frames could land between them. The server writes its
// messages itself (appendMessage).
var errGorillaDataFrame = errors.New("websocket: data frames are the writer's to write, not gorilla's")

// SetWriteDeadline implements net.Conn. Once the connection is served,
// gorilla's deadlines are ignored: its frames are written under writeMu,
// within writeWait, and a deadline set outside it would cut short a
// write in progress.
func (w *gorillaNetConn) SetWriteDeadline(t time.Time) error {
	if w.c == nil {
		return w.Conn.SetWriteDeadline(t)
	}
	return nil
}

// Unwrap lets http.ResponseController reach the connection's own writer.
func (w *hijackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// readFailed notes how reading ended.
func (c *gorillaConn) readFailed(err error) {
	var closeErr *websocket.CloseError
	tooLong := errors.Is(err, websocket.ErrReadLimit)
	c.mu.Lock()
	closing := c.closeSent || c.gone
	if errors.As(err, &closeErr) {
		c.peerClosed = true
	}
	c.mu.Unlock()
	switch {
	case tooLong:
		c.log.Debug("websocket message over the read limit", "remote", c.ws.RemoteAddr().String())
	case closeErr == nil && !closing:
		c.log.Debug("websocket read", "err", err, "remote", c.ws.RemoteAddr().String())
	}
}

// wsMessage is a message of either subprotocol, as far as the server needs
// to read it.
type wsMessage struct {
	Payload json.RawMessage `json:"payload,omitempty"`
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
}

// handle checks a client message against the protocol and acts on it. It
// returns false once the connection is over.
//
// Once the server has sent its close frame, the client's messages are
// read and dropped: the reader goes on only to see the client's answer to
// the close (unless it sent the close itself, and stopped), and a client
// refused or told to reconnect elsewhere starts nothing more here,
// whatever it sent before it read the close.
func (c *gorillaConn) handle(exec graphql.GraphExecutor, began time.Time, data []byte) bool {
	var m wsMessage
	invalid := json.Unmarshal(data, &m) != nil
	d := c.dialect
	c.mu.Lock()
	switch {
	case c.closeSent || c.gone:
		c.mu.Unlock()
		return true
	case invalid:
		c.mu.Unlock()
		c.violation(closeBadRequest, "Invalid message: not a JSON object")
		return false
	}
	code, reason := 0, ""
	overCap := false
	var started, stopped *wsOp
	switch m.Type {
	case "connection_init":
		switch {
		case c.initSeen:
			code, reason = closeTooManyInits, "Too many initialisation requests"
		case !objectOrNull(m.Payload):
			code, reason = closeBadRequest, "Invalid connection_init payload: send an object"
		}
		c.initSeen = true
		if c.initTimer != nil {
			c.initTimer.Stop()
			c.initTimer = nil // garbage from now on, with its function
		}
	case d.subscribe:
		_, running := c.ops[m.ID]
		switch {
		case !c.acked:
			code, reason = closeUnauthorized, "Unauthorized"
		case m.ID == "":
			code, reason = closeBadRequest, "Invalid message: "+m.Type+" without an id"
		case running:
			code, reason = closeSubscriberExists, "Subscriber for "+m.ID+" already exists"
		case len(c.ops) >= c.maxOps:
			overCap = true
		default:
			started = newWSOp(c, m.ID, d)
			// Not a child of c.ctx's cancellation: a cancel context
			// keeps a map of its children and its Done channel for as
			// long as it lives, about 350 bytes an idle connection;
			// readerDone ends the operations itself.
			started.ctx, started.cancel = context.WithCancel(context.WithoutCancel(c.ctx))
			c.ops[m.ID] = started
		}
	case d.stop:
		// Whatever the operation still produces is dropped.
		if stopped = c.ops[m.ID]; stopped != nil {
			stopped.ended = true
			delete(c.ops, m.ID)
		}
	default:
		switch {
		case !slices.Contains(d.other, m.Type):
			code, reason = closeBadRequest, "Invalid message type"
		case m.Type == "pong":
			c.awaitingPong = false
		}
	}
	c.mu.Unlock()
	switch {
	case code != 0:
		c.violation(code, reason)
		return false
	case overCap:
		// Refuse this operation only: the client's others run on.
		c.send(operationError(m.ID, fmt.Sprintf(
			"too many operations on one connection: the limit is %d; complete some first", c.maxOps)))
	case m.Type == "connection_init":
		return c.initialize(m.Payload)
	case started != nil:
		go c.start(exec, started, m.Payload, began)
	case stopped != nil:
		stopped.cancel()
	case m.Type == "ping":
		c.send(appendMessage(nil, nil, "pong", m.Payload))
	case m.Type == "connection_terminate":
		return false
	}
	return true
}

// objectOrNull reports whether a connection_init payload is absent, null
// or a JSON object, which is all the protocol allows.
func objectOrNull(payload json.RawMessage) bool {
	p := bytes.TrimSpace(payload)
	return len(p) == 0 || bytes.Equal(p, []byte("null")) || p[0] == '{'
}

// initialize answers connection_init: the connection is authenticated
// and acknowledged, or refused and closed.
func (c *gorillaConn) initialize(payload json.RawMessage) bool {
	var p transport.InitPayload
	if err := json.Unmarshal(payload, &p); len(payload) > 0 && err != nil {
		c.violation(closeBadRequest, "Invalid connection_init payload: send an object")
		return false
	}
	ctx, err := c.init(c.ctx, p)
	if err != nil {
		refusal := &wsRefusal{code: websocket.CloseInternalServerErr, reason: "Internal error"}
		errors.As(err, &refusal)
		if c.dialect.legacy {
			// The legacy protocol has no close codes of its own: its
			// clients read the reason from connection_error.
			c.send(appendMessage(nil, nil, "connection_error", errorPayload(refusal.reason)))
		}
		c.refuse(refusal.code, refusal.reason)
		return false
	}
	c.ctx = ctx
	c.mu.Lock()
	c.acked = true
	c.mu.Unlock()
	c.send(appendMessage(nil, nil, "connection_ack", nil))
	if c.dialect.legacy {
		c.send(appendMessage(nil, nil, "ka", nil))
	}
	return true
}

// violation closes the connection for a protocol violation.
func (c *gorillaConn) violation(code int, reason string) {
	c.log.Debug("websocket protocol violation", "code", code, "reason", reason,
		"subprotocol", c.ws.Subprotocol(), "remote", c.ws.RemoteAddr().String())
	c.refuse(code, reason)
}

// newWSOp returns an operation of c, of the client's id, with the start
// of its results' messages in dialect d.
func newWSOp(c *gorillaConn, id string, d *dialect) *wsOp {
	quoted, _ := json.Marshal(id) // a string always encodes
	return &wsOp{conn: c, id: id, quoted: quoted, prefix: appendMessagePrefix(nil, quoted, d.next)}
}

// Ready implements broker.Readier: the broker has queued something for
// op (graph.WithEventFeed).
func (op *wsOp) Ready() { op.conn.feed(op) }

// start runs an operation the client has subscribed, on a goroutine of
// its own: it parses and validates it and runs its resolver, as gqlgen's
// transport does. A subscription the broker feeds is then handed to the
// writer (see wsOp.Ready) and the goroutine ends; any other operation runs to
// its end here.
func (c *gorillaConn) start(exec graphql.GraphExecutor, op *wsOp, payload json.RawMessage, began time.Time) {
	ctx, feed := graph.WithEventFeed(op.ctx, op)
	ctx = graphql.StartOperationTrace(ctx)
	params := &graphql.RawParams{}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(params); err != nil {
		c.end(op, gqlerror.List{{Message: "invalid json"}})
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: began, End: graphql.Now()}
	rc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			c.end(op, resp.Errors)
			return
		}
		c.queue(op, &graphql.Response{Errors: errs})
		c.end(op, nil)
		return
	}
	ctx = graphql.WithOperationContext(ctx, rc)
	var (
		next     graphql.ResponseHandler
		panicked gqlerror.List
	)
	func() {
		defer func() {
			if p := recover(); p != nil {
				panicked = recovered(ctx, rc, p)
			}
		}()
		next, ctx = exec.DispatchOperation(ctx, rc)
	}()
	if panicked != nil {
		c.end(op, panicked)
		return
	}
	c.mu.Lock()
	op.feed = feed
	if feed.Detach(exec, rc) {
		// What later events need is the feed and the operation it
		// shares: the handler, its context and rc are left to the
		// collector (see graph.EventFeed.Detach). op.ctx stays the
		// operation's own.
		op.rc = feed.Operation()
		c.schedule(op)
		c.mu.Unlock()
		return
	}
	op.ctx, op.rc, op.next = ctx, rc, next
	if feed.Attached() {
		c.schedule(op)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	for {
		resp, panicked := op.respond()
		switch {
		case panicked != nil:
			c.end(op, panicked)
			return
		case resp == nil:
			c.end(op, nil)
			return
		}
		c.queue(op, resp)
	}
}

// recovered turns a panic of an operation into its error, as gqlgen's
// transport does.
func recovered(ctx context.Context, rc *graphql.OperationContext, p any) gqlerror.List {
	err := rc.Recover(ctx, p)
	var gqlErr *gqlerror.Error
	if !errors.As(err, &gqlErr) {
		gqlErr = &gqlerror.Error{}
		if err != nil {
			gqlErr.Message = err.Error()
		}
	}
	return gqlerror.List{gqlErr}
}

// respond runs the operation's response handler once: gqlgen's, or a
// detached feed's (graph.EventFeed.Next).
func (op *wsOp) respond() (resp *graphql.Response, panicked gqlerror.List) {
	defer func() {
		if p := recover(); p != nil {
			resp, panicked = nil, recovered(op.ctx, op.rc, p)
		}
	}()
	if op.next == nil {
		return op.feed.Next(), nil
	}
	return op.next(op.ctx), nil
}

// feed is the broker's call (graph.WithEventFeed): something is queued
// for op.
func (c *gorillaConn) feed(op *wsOp) {
	c.mu.Lock()
	op.pending++
	if op.feed != nil {
		c.schedule(op)
	}
	c.mu.Unlock()
}

// schedule hands op to the writer if it has events to take; c.mu is held.
func (c *gorillaConn) schedule(op *wsOp) {
	if op.pending == 0 || op.queued || op.ended {
		return
	}
	op.queued = true
	c.ready = append(c.ready, op)
	c.startWriter()
}

// eventCounts counts the events whose frames a write carries: the
// metrics count them once the write has succeeded.
type eventCounts struct {
	events, shared int64
}

// take appends to b, as frames, op's result for every event the broker
// has queued for it: the payload shared within its group when there is
// one, without running its response handler (see graph.EventFeed.Shared),
// or else what the handler returns; and counts them in n.
func (c *gorillaConn) take(b []byte, op *wsOp, n *eventCounts) []byte {
	c.mu.Lock()
	pending, ended := op.pending, op.ended
	op.pending, op.queued = 0, false
	c.mu.Unlock()
	for i := range pending {
		// Stopped meanwhile (its id may be taken by a new operation
		// already): none of its events go out any more. The first
		// event's check is the one made with pending.
		if i > 0 {
			ended = c.ended(op)
		}
		if ended {
			return b
		}
		if payload, ok := op.feed.Shared(); ok {
			b = appendNext(b, op, payload)
			n.events++
			n.shared++
			continue
		}
		// The handler too may return a payload another subscriber
		// encoded (when Shared found no event, or the operation was
		// ending): it does not say so, and the event counts as not
		// shared.
		var (
			resp     *graphql.Response
			panicked gqlerror.List
		)
		connWriters.blocking(func() { resp, panicked = op.respond() })
		if panicked != nil || resp == nil {
			if c.finish(op) {
				b = c.appendEnd(b, op, panicked)
			}
			return b
		}
		b = appendResult(b, op, resp)
		n.events++
	}
	return b
}

// queue queues a result of op for the writer, unless op has ended.
func (c *gorillaConn) queue(op *wsOp, resp *graphql.Response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !op.ended {
		c.enqueue(appendResult(nil, op, resp))
	}
}

// end ends op: with an error message if errs are given, else with a
// complete, unless it has ended already.
func (c *gorillaConn) end(op *wsOp, errs gqlerror.List) {
	if !c.finish(op) {
		return
	}
	msg := c.appendEnd(nil, op, errs)
	c.mu.Lock()
	c.enqueue(msg)
	c.mu.Unlock()
}

// ended reports whether op has ended.
func (c *gorillaConn) ended(op *wsOp) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return op.ended
}

// finish forgets op, and reports whether it had not ended already, when
// the client should be told that it has.
func (c *gorillaConn) finish(op *wsOp) bool {
	c.mu.Lock()
	ended := op.ended
	op.ended = true
	if c.ops[op.id] == op {
		delete(c.ops, op.id)
	}
	c.mu.Unlock()
	op.cancel()
	// A connection that is ending closes; a complete would tell the
	// client that its operation is over rather than interrupted.
	return !ended && c.ctx.Err() == nil
}

// appendEnd appends op's last message to b: its errors, or complete.
func (c *gorillaConn) appendEnd(b []byte, op *wsOp, errs gqlerror.List) []byte {
	if len(errs) == 0 {
		return appendMessage(b, op.quoted, "complete", nil)
	}
	payload, err := json.Marshal(errs)
	if err != nil {
		payload = errorPayload("internal error")
	}
	return appendMessage(b, op.quoted, "error", payload)
}

// operationError is an error message for an operation that is refused,
// shaped as gqlgen shapes its own.
func operationError(id, message string) []byte {
	payload, _ := json.Marshal([]map[string]any{{
		"message":    message,
		"extensions": map[string]any{"code": graph.CodeRateLimited},
	}})
	quoted, _ := json.Marshal(id)
	return appendMessage(nil, quoted, "error", payload)
}

// errorPayload is {"message": message}.
func errorPayload(message string) []byte {
	b, _ := json.Marshal(&gqlerror.Error{Message: message})
	return b
}

// send queues a message (a frame built by appendMessage) for the writer.
func (c *gorillaConn) send(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enqueue(frame)
}

// enqueue queues frames for the writer; c.mu is held.
func (c *gorillaConn) enqueue(frames []byte) {
	if c.closeSent || c.gone {
		return
	}
	largest := max(c.outLargest, len(frames))
	// What a writer round has copied already (outTaken) is as good as
	// written: it stays queued only so that a close goes out after it.
	if len(c.out)-c.outTaken+len(frames)-largest > maxQueued {
		c.log.Debug("websocket client not reading: cut", "remote", c.ws.RemoteAddr().String())
		go c.closeSocket()
		return
	}
	c.out = append(c.out, frames...)
	c.outLargest = largest
	c.startWriter()
}

// startWriter hands the connection to a writer (see connWriters) unless
// one has it already; c.mu is held.
func (c *gorillaConn) startWriter() {
	if c.writing || c.closeSent || c.gone {
		return
	}
	c.writing = true
	connWriters.schedule(c)
}

// flush is one round of the connection's writer, run by a worker of
// connWriters (w is the worker's): it takes every message queued and the
// events of every operation ready, writes them as frames in one system
// call, and reports whether there is more to write, when the worker
// queues the connection again (so that one busy connection does not keep
// a worker from the others).
//
// The write does not wait: a socket that takes part of the frames or
// none (its client reads slowly, or not at all) is handed, with the
// rest, to a goroutine of its own that waits for it within writeWait
// (writeRest), and the worker goes on with other connections. A write
// that does not complete in writeWait cuts the connection: its client is
// gone or not reading, and it stops holding the operations that feed it.
//
// The events are taken before writeMu is, so that a close frame
// (writeClose) waits for a write, never for response handlers; events
// taken while it goes out are dropped with the connection (their client
// catches up from its last cursor). Messages are written in the order
// they came: those queued before a round (a connection_ack, say) ahead of
// its events, those queued while its events are taken (an operation's
// end, queued only once its events are) after them. The messages queued
// before the round are copied ahead of its events but stay queued until
// the round writes (outTaken), so that a close frame that goes out
// meanwhile goes out after them, as it would have had the round not
// begun.
func (c *gorillaConn) flush(w *connWriter) (more bool) {
	c.mu.Lock()
	if c.closeSent || c.gone || (len(c.out) == 0 && len(c.ready) == 0) {
		c.writing = false
		c.mu.Unlock()
		return false
	}
	ready := c.ready
	c.ready = w.ready[:0]
	b := append(w.buf.b[:0], c.out...)
	c.outTaken = len(c.out)
	c.mu.Unlock()
	var n eventCounts
	for i, op := range ready {
		b = c.take(b, op, &n)
		ready[i] = nil
	}
	w.ready = ready[:0]
	buf := w.buf
	buf.b = b
	if !c.writeMu.TryLock() {
		// A close frame is going out, which may wait up to writeWait for
		// its client: the frames wait for it elsewhere.
		w.buf = nil
		go c.writeRest(buf, 0, n, false)
		return false
	}
	c.mu.Lock()
	if c.closeSent || c.gone {
		c.writing = false
		c.mu.Unlock()
		c.writeMu.Unlock()
		return false
	}
	b = c.takeQueued(b)
	c.mu.Unlock()
	buf.b = b
	written, err := c.tryWrite(&w.raw, b)
	switch {
	case err != nil:
		c.writeMu.Unlock()
		c.closeSocket()
		c.mu.Lock()
		c.writing = false
		c.mu.Unlock()
		return false
	case written < len(b):
		// writeMu goes with the rest: nothing is written before it.
		w.buf = nil
		go c.writeRest(buf, written, n, true)
		return false
	}
	c.writeMu.Unlock()
	w.count(c.live, n)
	return c.more()
}

// countWrites adds to the metrics the events of successful writes.
func (l *liveConns) countWrites(n eventCounts, writes int64) {
	l.eventsWritten.Add(n.events)
	l.eventsShared.Add(n.shared)
	l.eventWrites.Add(writes)
}

// writeRest writes the frames of buf from from on within writeWait, on
// a goroutine of its own, for a writer round that could not finish
// without waiting: with writeMu held (locked), or else taking it, with
// the messages queued meanwhile, as flush would have. Then it hands the
// connection back to connWriters if there is more to write.
func (c *gorillaConn) writeRest(buf *frameBuffer, from int, n eventCounts, locked bool) {
	defer buf.put()
	frames := buf.b
	if !locked {
		c.writeMu.Lock()
		c.mu.Lock()
		if c.closeSent || c.gone {
			c.writing = false
			c.mu.Unlock()
			c.writeMu.Unlock()
			return
		}
		frames = c.takeQueued(frames)
		buf.b = frames
		c.mu.Unlock()
	}
	err := c.writeFrames(frames[from:])
	if err == nil {
		// Cleared: tryWrite sets none, and would otherwise find this one
		// passed on a later round and hand its write here again.
		err = c.netConn.SetWriteDeadline(time.Time{})
	}
	c.writeMu.Unlock()
	if err != nil {
		c.closeSocket()
		c.mu.Lock()
		c.writing = false
		c.mu.Unlock()
		return
	}
	if n.events > 0 {
		c.live.countWrites(n, 1)
	}
	if c.more() {
		connWriters.schedule(c)
	}
}

// more reports whether the connection has something left to write, and
// if not, that its writer is done.
func (c *gorillaConn) more() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent || c.gone || (len(c.out) == 0 && len(c.ready) == 0) {
		c.writing = false
		return false
	}
	return true
}

// takeQueued appends the messages queued to b, but for those the round
// has copied already (outTaken), and empties the queue, once the round
// is about to write them; c.mu and writeMu are held.
func (c *gorillaConn) takeQueued(b []byte) []byte {
	b = append(b, c.out[c.outTaken:]...)
	c.out, c.outLargest, c.outTaken = c.out[:0], 0, 0
	if cap(c.out) > 64<<10 {
		c.out = nil
	}
	return b
}

// writeFrames writes frames within writeWait; writeMu is held.
func (c *gorillaConn) writeFrames(frames []byte) error {
	if len(frames) == 0 {
		return nil
	}
	if err := c.netConn.SetWriteDeadline(time.Now().Add(c.writeWait)); err != nil {
		return fmt.Errorf("websocket write: %w", err)
	}
	if _, err := c.netConn.Write(frames); err != nil {
		return fmt.Errorf("websocket write: %w", err)
	}
	return nil
}

// appendFrameHeader appends the header of an unfragmented, unmasked text
// frame of n bytes (RFC 6455 5.2): what a server sends.
func appendFrameHeader(b []byte, n int) []byte {
	const finText = 0x80 | websocket.TextMessage
	switch {
	case n <= 125:
		return append(b, finText, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, finText, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(b, finText, 127), uint64(n))
}

// appendMessage appends a message of the protocols to b as one frame:
// {"id":…,"type":…,"payload":…}, without id or payload when they are
// empty. id is JSON already (a quoted string); so is payload.
func appendMessage(b, id []byte, typ string, payload []byte) []byte {
	n := len(`{"type":""}`) + len(typ)
	if len(id) > 0 {
		n += len(`"id":,`) + len(id)
	}
	if len(payload) > 0 {
		n += len(`,"payload":`) + len(payload)
	}
	b = appendFrameHeader(b, n)
	b = append(b, '{')
	if len(id) > 0 {
		b = append(b, `"id":`...)
		b = append(b, id...)
		b = append(b, ',')
	}
	b = append(b, `"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if len(payload) > 0 {
		b = append(b, `,"payload":`...)
		b = append(b, payload...)
	}
	return append(b, '}')
}

// appendMessagePrefix is the start of the messages that carry an
// operation's results: {"id":…,"type":"next","payload":. id is JSON
// already (a quoted string).
func appendMessagePrefix(b, id []byte, typ string) []byte {
	b = append(b, `{"id":`...)
	b = append(b, id...)
	b = append(b, `,"type":"`...)
	b = append(b, typ...)
	return append(b, `","payload":`...)
}

// appendResult appends a result of op to b, as one frame. A result with
// data only, which is every event of a subscription, is written around
// its data as it is: gqlgen encoded it, or another subscriber's encoding
// is shared (graph/subscription.go). Anything else goes through
// encoding/json as gqlgen's transport would write it.
func appendResult(b []byte, op *wsOp, resp *graphql.Response) []byte {
	if len(resp.Data) > 0 && len(resp.Errors) == 0 && len(resp.Extensions) == 0 &&
		resp.Label == "" && resp.Path == nil && resp.HasNext == nil {
		return appendNext(b, op, []byte(`{"data":`), resp.Data, []byte(`}`))
	}
	payload, err := json.Marshal(resp)
	if err != nil {
		payload, _ = json.Marshal(&graphql.Response{Errors: gqlerror.List{{Message: "internal error: cannot encode the result"}}})
	}
	return appendNext(b, op, payload)
}

// appendNext appends a message with a result of op to b, as one frame:
// its prefix, the payload (JSON, given in parts written one after the
// other) and the closing brace.
func appendNext(b []byte, op *wsOp, payload ...[]byte) []byte {
	n := len(op.prefix) + 1
	for _, p := range payload {
		n += len(p)
	}
	b = appendFrameHeader(b, n)
	b = append(b, op.prefix...)
	for _, p := range payload {
		b = append(b, p...)
	}
	return append(b, '}')
}

// sendClose sends a close frame after whatever was queued before it,
// unless one has gone either way already.
func (c *gorillaConn) sendClose(code int, reason string) {
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	payload := websocket.FormatCloseMessage(code, reason)
	// An error means the socket is already gone or stuck, or a close has
	// gone: Close sees to the rest either way.
	_ = c.writeClose(append([]byte{0x80 | websocket.CloseMessage, byte(len(payload))}, payload...))
}

// writeClose writes frame, a close frame, after whatever was queued
// before it (a round's frames taken but not written too: see
// outTaken), unless a close has gone either way already (the echo of the
// client's close goes through here too). Every close frame goes out
// here, the server's (sendClose) and gorilla's (gorillaNetConn), under
// writeMu: never inside another frame, and nothing after it, since every
// writer checks closeSent under writeMu before it writes.
func (c *gorillaConn) writeClose(frame []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	if c.closeSent || c.gone {
		c.mu.Unlock()
		return websocket.ErrCloseSent
	}
	c.closeSent = true
	queued := c.out
	c.out, c.outTaken, c.outLargest = nil, 0, 0
	c.mu.Unlock()
	return c.writeFrames(append(queued, frame...))
}

// refuse closes the connection with code: its read then fails and the
// connection winds down.
func (c *gorillaConn) refuse(code int, reason string) {
	c.sendClose(code, reason)
	_ = c.Close()
}

// restart closes the connection because the server is shutting down.
// 1012 (service restart) is one of the codes the graphql-ws client
// retries after, and a load balancer sends the retry to a server that is
// up; the client resubscribes there.
func (c *gorillaConn) restart() {
	c.refuse(websocket.CloseServiceRestart, "Service restart: reconnect and resubscribe after your last cursor")
}

// Close releases the connection. When the server has sent a close frame
// and the client has not answered yet, the socket is shut for writing and
// closed for good after closeGrace: closed at once, with the client's
// answer unread, it could be reset under the close frame, and the client
// would see 1006 instead of the code meant for it.
func (c *gorillaConn) Close() error {
	c.mu.Lock()
	if c.released || c.gone {
		c.released = true
		c.mu.Unlock()
		return nil
	}
	c.released = true
	c.stopTimers()
	linger := c.closeSent && !c.peerClosed
	c.mu.Unlock()
	if !linger {
		c.closeSocket()
		return nil
	}
	if hc, ok := c.netConn.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	time.AfterFunc(closeGrace, c.closeSocket)
	return nil
}

// closeSocket closes the connection's socket and forgets the connection.
// A connection waiting in the poller is taken out of it first (its file
// descriptor's number is reused once closed), and has no reader to see
// the socket close: reading ends here.
func (c *gorillaConn) closeSocket() {
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return
	}
	c.gone = true
	c.out, c.outTaken, c.outLargest, c.ready = nil, 0, 0, nil
	c.stopTimers()
	idle := c.unwatch()
	c.mu.Unlock()
	_ = c.ws.Close()
	c.live.removeConn(c)
	if idle {
		c.readerDone()
	}
}

// stopTimers stops the connection's timers; c.mu is held.
func (c *gorillaConn) stopTimers() {
	if c.initTimer != nil {
		c.initTimer.Stop()
	}
	if c.keepAliveTimer != nil {
		c.keepAliveTimer.Stop()
	}
}

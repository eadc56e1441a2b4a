package server

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

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
	// wsWriteWait bounds one write to a client (websocket handshakes, SSE,
	// close frames; websocket messages by default, see
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
)

// gorillaWebsocket accepts websocket connections for gqlgen's websocket
// transport with github.com/gorilla/websocket; gqlgen's own default is
// coder/websocket.
//
// Besides adapting, it enforces what gqlgen leaves out of the protocol:
// the connection_init timeout (4408: gqlgen's InitTimeout closes with 1002
// instead, and leaves a reading goroutine behind), subscribe before
// connection_ack (4401), a second connection_init (4429), an operation id
// already in use (4409), a message that is not the protocol's (4400), and
// a cap on the operations one connection may run at once. It keeps
// connections alive itself, with a timer each rather than gqlgen's
// goroutine each (see tick).
//
// It also renames operations: gqlgen sees an id of the connection's own
// for each, never one a client reuses. gqlgen keys its operations by the
// client's id and winds one down after the client completes it, so an id
// used again at once would get the old operation's last messages, and
// lose its cancel function to the old one's cleanup. Messages for an
// operation the client has completed are dropped, as graphql-transport-ws
// requires (gqlgen would still send its complete).
type gorillaWebsocket struct {
	upgrader    websocket.Upgrader
	initTimeout time.Duration
	keepAlive   time.Duration
	writeWait   time.Duration
	maxOps      int
	live        *liveConns
	log         *slog.Logger
}

var _ transport.WebsocketImplementation = (*gorillaWebsocket)(nil)

// Accept implements transport.WebsocketImplementation.
func (g *gorillaWebsocket) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	c, err := g.upgrade(w, r, opts)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// upgrade upgrades r to a websocket.
func (g *gorillaWebsocket) upgrade(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (*gorillaConn, error) {
	u := g.upgrader
	// Ours first: they are in order of preference, gqlgen's are not.
	u.Subprotocols = slices.Clone(u.Subprotocols)
	for _, p := range opts.Subprotocols {
		if !slices.Contains(u.Subprotocols, p) {
			u.Subprotocols = append(u.Subprotocols, p)
		}
	}
	ws, err := u.Upgrade(w, r, opts.ResponseHeader)
	if err != nil {
		return nil, fmt.Errorf("websocket upgrade: %w", err)
	}
	c := &gorillaConn{
		ws:        ws,
		dialect:   dialectOf(ws.Subprotocol()),
		keepAlive: g.keepAlive,
		writeWait: g.writeWait,
		maxOps:    g.maxOps,
		live:      g.live,
		log:       g.log,
		ops:       map[string]string{},
		clients:   map[string]string{},
	}
	if !g.live.addConn(c) {
		// The server began shutting down during the handshake: gqlgen's
		// first read fails, and the client reconnects elsewhere.
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

// dialect is the message types of one subprotocol, as far as the checks
// in gorillaConn need them.
type dialect struct {
	subscribe, stop string   // the client starts and stops an operation
	other           []string // the client's other message types
}

var (
	transportWSDialect = &dialect{
		subscribe: "subscribe", stop: "complete",
		other: []string{"ping", "pong"},
	}
	graphQLWSDialect = &dialect{
		subscribe: "start", stop: "stop",
		other: []string{"connection_terminate"},
	}
)

func dialectOf(subprotocol string) *dialect {
	if subprotocol == protocolTransportWS {
		return transportWSDialect
	}
	return graphQLWSDialect
}

// gorillaConn is one websocket connection, as gqlgen's transport sees it.
//
// gqlgen reads from one goroutine and serializes its writes, except that
// it may close from another; the guard (admit) writes from the reading
// goroutine, so writes take writeMu. Closing goes through WriteControl,
// which gorilla lets run alongside anything.
type gorillaConn struct {
	ws        *websocket.Conn
	dialect   *dialect
	keepAlive time.Duration
	writeWait time.Duration // bounds each message's write
	maxOps    int
	live      *liveConns
	log       *slog.Logger

	writeMu sync.Mutex

	mu             sync.Mutex
	tokenID        gid.ID // the bearer token the connection authenticated with, if any
	initTimer      *time.Timer
	keepAliveTimer *time.Timer
	awaitingPong   bool // a ping went out and no pong has come back yet
	initSeen       bool
	acked          bool
	ops            map[string]string // the client's id → gqlgen's, for operations running
	clients        map[string]string // gqlgen's id → the client's
	lastOp         uint64            // the last id given to gqlgen
	closeSent      bool              // the server's close frame went out (or was attempted)
	peerClosed     bool              // the client's close frame came in
	released       bool              // Close was called
	gone           bool              // the socket is closed
}

var (
	_ transport.WebsocketConn        = (*gorillaConn)(nil)
	_ transport.WebsocketReadLimiter = (*gorillaConn)(nil)
)

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

// Subprotocol implements transport.WebsocketConn.
func (c *gorillaConn) Subprotocol() string { return c.ws.Subprotocol() }

// SetReadLimit implements transport.WebsocketReadLimiter. A longer message
// makes gorilla close the connection with 1009.
func (c *gorillaConn) SetReadLimit(limit int64) { c.ws.SetReadLimit(limit) }

// tick keeps the connection alive every keepAlive, once it is
// acknowledged: graphql-ws clients get a "ka"; graphql-transport-ws
// clients get a ping and, if they have not answered the last one with a
// pong, are closed with 1001 (the protocol has no code for it, and a
// client that is alive after all should reconnect). Idle connections are
// what a server holds most of, so this is a timer each (a few hundred
// bytes, and a goroutine only while it fires) instead of gqlgen's ticker
// goroutine each (8 KiB of stack).
func (c *gorillaConn) tick() {
	c.mu.Lock()
	if c.released || c.gone {
		c.mu.Unlock()
		return
	}
	acked, late := c.acked, c.awaitingPong
	pings := c.dialect == transportWSDialect
	c.awaitingPong = acked && pings
	c.keepAliveTimer.Reset(c.keepAlive)
	c.mu.Unlock()
	switch {
	case !acked:
		// The init timeout looks after connections not yet acknowledged.
	case late:
		c.refuse(websocket.CloseGoingAway, "No pong in time")
	case pings:
		_ = c.write([]byte(`{"type":"ping"}`))
	default:
		_ = c.write([]byte(`{"type":"ka"}`))
	}
}

// NextReader implements transport.WebsocketConn. Each message is read
// whole (it is at most the read limit) and checked against the protocol
// before gqlgen sees it; a message the guard answered itself is skipped.
func (c *gorillaConn) NextReader() (int, io.Reader, error) {
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			return typ, nil, c.readFailed(err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return typ, nil, c.readFailed(err)
		}
		data, err = c.admit(data)
		if err != nil {
			return typ, nil, err
		}
		if data != nil {
			return typ, bytes.NewReader(data), nil
		}
	}
}

// readFailed sorts a read error for gqlgen, which reports every error but
// ErrWebsocketClosed as a failure: a client closing, or the server having
// closed, is how connections end.
func (c *gorillaConn) readFailed(err error) error {
	var closeErr *websocket.CloseError
	tooLong := errors.Is(err, websocket.ErrReadLimit)
	c.mu.Lock()
	closing := c.closeSent || c.gone
	if errors.As(err, &closeErr) {
		c.peerClosed = true
	}
	if tooLong {
		c.closeSent = true // gorilla sent 1009 itself
	}
	c.mu.Unlock()
	switch {
	case tooLong:
		c.log.Debug("websocket message over the read limit", "remote", c.ws.RemoteAddr().String())
		return fmt.Errorf("%w: %w", transport.ErrWebsocketClosed, err)
	case closeErr != nil || closing:
		return fmt.Errorf("%w: %w", transport.ErrWebsocketClosed, err)
	}
	return fmt.Errorf("websocket read: %w", err)
}

// wsMessage is a message of either subprotocol, as far as the server needs
// to read it.
type wsMessage struct {
	Payload json.RawMessage `json:"payload,omitempty"`
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
}

// admit checks a client message against the protocol and returns it as
// gqlgen is to see it, or nil for a message gqlgen is not to see: one it
// has answered itself (one operation too many), or a complete for an
// operation that has ended already. After a violation it closes the
// connection and returns an error.
func (c *gorillaConn) admit(data []byte) ([]byte, error) {
	var m wsMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, c.violation(closeBadRequest, "Invalid message: not a JSON object")
	}
	d := c.dialect
	c.mu.Lock()
	code, reason := 0, ""
	overCap, renamed := false, ""
	switch m.Type {
	case "connection_init":
		switch {
		case c.initSeen:
			code, reason = closeTooManyInits, "Too many initialisation requests"
		case !objectOrNull(m.Payload):
			// gqlgen would fail to decode it and leave the socket open.
			code, reason = closeBadRequest, "Invalid connection_init payload: send an object"
		}
		c.initSeen = true
		if c.initTimer != nil {
			c.initTimer.Stop()
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
			c.lastOp++
			renamed = strconv.FormatUint(c.lastOp, 36)
			c.ops[m.ID] = renamed
			c.clients[renamed] = m.ID
		}
	case d.stop:
		// What gqlgen still sends for it is dropped (see WriteJSON).
		renamed = c.ops[m.ID]
		delete(c.ops, m.ID)
		delete(c.clients, renamed)
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
		return nil, c.violation(code, reason)
	case overCap:
		// Refuse this operation only: the client's others run on.
		return nil, c.writeOperationError(m.ID, fmt.Sprintf(
			"too many operations on one connection: the limit is %d; complete some first", c.maxOps))
	case m.Type == d.stop && renamed == "":
		return nil, nil // not running: nothing to stop
	case renamed != "":
		m.ID = renamed
		data, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("encode renamed message: %w", err)
		}
		return data, nil
	}
	return data, nil
}

// objectOrNull reports whether a connection_init payload is absent, null
// or a JSON object, which is all the protocol allows.
func objectOrNull(payload json.RawMessage) bool {
	p := bytes.TrimSpace(payload)
	return len(p) == 0 || bytes.Equal(p, []byte("null")) || p[0] == '{'
}

// violation closes the connection for a protocol violation and returns
// the error for gqlgen, which then ends the connection quietly.
func (c *gorillaConn) violation(code int, reason string) error {
	c.log.Debug("websocket protocol violation", "code", code, "reason", reason,
		"subprotocol", c.ws.Subprotocol(), "remote", c.ws.RemoteAddr().String())
	c.refuse(code, reason)
	return fmt.Errorf("%w: closed with %d %s", transport.ErrWebsocketClosed, code, reason)
}

// writeOperationError sends an error message for one operation, shaped
// the way gqlgen shapes its own, so the client's subscription fails
// without the connection.
func (c *gorillaConn) writeOperationError(id, message string) error {
	data, err := json.Marshal(map[string]any{
		"id":   id,
		"type": "error",
		"payload": []map[string]any{{
			"message":    message,
			"extensions": map[string]any{"code": graph.CodeRateLimited},
		}},
	})
	if err != nil {
		return fmt.Errorf("encode operation error: %w", err)
	}
	return c.write(data)
}

// WriteJSON implements transport.WebsocketConn. A message for an
// operation goes out under the client's id for it; one for an operation
// that has ended (the client completed it, or an error ended it) is
// dropped: graphql-transport-ws forbids sending it, and gqlgen sends a
// complete after every operation.
//
// Every event of every subscription passes through here, so the envelope
// is read from gqlgen's message and written out in one pass around the
// payload gqlgen has encoded already (see envelopeOf), rather than
// encoded, decoded and encoded again.
func (c *gorillaConn) WriteJSON(v any) error {
	m, ok := envelopeOf(v)
	if !ok {
		// Not one of gqlgen's messages as this version shapes them: go
		// the long way, through the wire format.
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode websocket message: %w", err)
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("decode websocket message: %w", err)
		}
	}
	if m.Type == "connection_ack" {
		c.mu.Lock()
		c.acked = true
		c.mu.Unlock()
	}
	if m.ID != "" {
		c.mu.Lock()
		clientID, running := c.clients[m.ID]
		if running && (m.Type == "complete" || m.Type == "error") {
			delete(c.clients, m.ID)
			delete(c.ops, clientID)
		}
		c.mu.Unlock()
		if !running {
			return nil
		}
		m.ID = clientID
	}
	data, err := m.encode()
	if err != nil {
		return fmt.Errorf("encode websocket message: %w", err)
	}
	return c.write(data)
}

// encode writes m as the protocols' JSON, as encoding/json would with
// wsMessage's tags. The payload is gqlgen's own encoding, valid and
// compact, and goes in as it is.
func (m wsMessage) encode() ([]byte, error) {
	id, err := json.Marshal(m.ID)
	if err != nil {
		return nil, err
	}
	typ, err := json.Marshal(m.Type)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(m.Payload)+len(id)+len(typ)+32)
	b = append(b, '{')
	if len(m.Payload) > 0 {
		b = append(b, `"payload":`...)
		b = append(b, m.Payload...)
		b = append(b, ',')
	}
	if m.ID != "" {
		b = append(b, `"id":`...)
		b = append(b, id...)
		b = append(b, ',')
	}
	b = append(b, `"type":`...)
	b = append(b, typ...)
	return append(b, '}'), nil
}

// envelopeFields is where the fields of one of gqlgen's message types
// are: its messages are unexported structs with exported Payload
// (json.RawMessage), ID and Type (strings) fields, one type per
// subprotocol. Read by reflection, cached per type.
type envelopeFields struct {
	payload, id, typ []int
	ok               bool
}

var envelopes sync.Map // reflect.Type → envelopeFields

// envelopeOf reads gqlgen's message v without encoding it. ok is false if
// v is not shaped as expected, or its payload is not already JSON.
func envelopeOf(v any) (wsMessage, bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return wsMessage{}, false
	}
	rv = rv.Elem()
	f := envelopeFieldsOf(rv.Type())
	if !f.ok {
		return wsMessage{}, false
	}
	m := wsMessage{
		Payload: rv.FieldByIndex(f.payload).Bytes(),
		ID:      rv.FieldByIndex(f.id).String(),
		Type:    rv.FieldByIndex(f.typ).String(),
	}
	if tm, isText := rv.FieldByIndex(f.typ).Interface().(encoding.TextMarshaler); isText {
		text, err := tm.MarshalText()
		if err != nil {
			return wsMessage{}, false
		}
		m.Type = string(text)
	}
	// gqlgen's payloads come from json.Marshal, but a RawMessage may hold
	// anything: check, so that a bad one is refused as encoding/json
	// would refuse it, not sent.
	if len(m.Payload) > 0 && !json.Valid(m.Payload) {
		return wsMessage{}, false
	}
	return m, true
}

func envelopeFieldsOf(t reflect.Type) envelopeFields {
	if f, ok := envelopes.Load(t); ok {
		return f.(envelopeFields)
	}
	var f envelopeFields
	p, okP := t.FieldByName("Payload")
	id, okI := t.FieldByName("ID")
	typ, okT := t.FieldByName("Type")
	f.ok = okP && okI && okT &&
		p.Type == reflect.TypeFor[json.RawMessage]() && p.Tag.Get("json") == "payload,omitempty" &&
		id.Type.Kind() == reflect.String && id.Tag.Get("json") == "id,omitempty" &&
		typ.Type.Kind() == reflect.String && typ.Tag.Get("json") == "type" &&
		!reflect.PointerTo(t).Implements(reflect.TypeFor[json.Marshaler]()) &&
		!t.Implements(reflect.TypeFor[json.Marshaler]())
	if f.ok {
		f.payload, f.id, f.typ = p.Index, id.Index, typ.Index
	}
	envelopes.Store(t, f)
	return f
}

// write sends one text message, within writeWait.
func (c *gorillaConn) write(data []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.ws.SetWriteDeadline(time.Now().Add(c.writeWait)); err != nil {
		return fmt.Errorf("websocket write: %w", err)
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		if !errors.Is(err, websocket.ErrCloseSent) {
			// A client that does not take a message in writeWait is cut
			// off: its read fails, and gqlgen ends its operations.
			c.closeSocket()
		}
		return fmt.Errorf("websocket write: %w", err)
	}
	return nil
}

// WriteClose implements transport.WebsocketConn.
func (c *gorillaConn) WriteClose(code int, reason string) error {
	c.sendClose(code, reason)
	return nil
}

// sendClose sends a close frame, unless one has gone either way already.
func (c *gorillaConn) sendClose(code int, reason string) {
	c.mu.Lock()
	if c.closeSent || c.peerClosed || c.gone {
		c.mu.Unlock()
		return
	}
	c.closeSent = true
	c.mu.Unlock()
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	// An error means the socket is already gone or stuck: Close will see
	// to it either way.
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason),
		time.Now().Add(wsWriteWait))
}

// refuse closes the connection with code: gqlgen's read then fails and it
// winds the connection down.
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

// Close implements transport.WebsocketConn. When the server has sent a
// close frame and the client has not answered yet, the socket is shut for
// writing and closed for good after closeGrace: closed at once, with the
// client's answer unread, it could be reset under the close frame, and
// the client would see 1006 instead of the code meant for it.
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
	if hc, ok := c.ws.UnderlyingConn().(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	time.AfterFunc(closeGrace, c.closeSocket)
	return nil
}

// closeSocket closes the connection's socket and forgets the connection.
func (c *gorillaConn) closeSocket() {
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return
	}
	c.gone = true
	c.stopTimers()
	c.mu.Unlock()
	_ = c.ws.Close()
	c.live.removeConn(c)
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

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/protoloop/protoloop/graph"
	"github.com/protoloop/protoloop/server/broker"
)

// A close frame goes out while the connection's writer runs an
// operation's response handler: the writer holds the write lock only to
// write, so a revoked token's 4403 or a shutdown's 1012 does not wait for
// an encoding that may take as long as a database query. A message queued
// before the close, which the writer's round has taken already, still
// goes out before it.
func TestWebsocketCloseDoesNotWaitForResponseHandlers(t *testing.T) {
	// Bounds the client's wait for the close frame, so that a close
	// stuck behind the handler fails the test rather than hanging it.
	const readTimeout = 10 * time.Second
	c, client := dialConn(t, readTimeout)

	// A keep-alive, and an event of a fed operation whose handler is busy
	// until the client has read the close frame.
	entered, release := make(chan struct{}), make(chan struct{})
	op := newWSOp(c, "1", c.dialect)
	op.ctx, op.cancel = context.WithCancel(c.ctx)
	defer op.cancel()
	_, op.feed = graph.WithEventFeed(op.ctx, broker.ReadyFunc(func() {}))
	op.next = func(context.Context) *graphql.Response {
		close(entered)
		<-release
		return &graphql.Response{Data: []byte(`{}`)}
	}
	c.mu.Lock()
	c.ops[op.id] = op
	c.enqueue(appendMessage(nil, nil, "ka", nil))
	op.pending++
	c.schedule(op)
	c.mu.Unlock()
	<-entered

	go c.sendClose(websocket.CloseGoingAway, "bye")
	_ = client.SetReadDeadline(time.Now().Add(readTimeout))
	_, ka, kaErr := client.ReadMessage()
	_, msg, err := client.ReadMessage()
	close(release)
	if kaErr != nil || !strings.Contains(string(ka), `"ka"`) {
		t.Fatalf("read %q, %v; want the keep-alive queued before the close", ka, kaErr)
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("read %q, %v while the handler ran; want the close frame, 1001", msg, err)
	}
}

// Messages go out in the order they were queued around a round of the
// writer: a connection_ack queued before an event was taken is written
// ahead of it, as a graphql-ws client that sent start without waiting
// for the ack expects.
func TestWebsocketMessagesQueuedBeforeEventsGoFirst(t *testing.T) {
	const readTimeout = 10 * time.Second
	c, client := dialConn(t, readTimeout)

	op := newWSOp(c, "1", c.dialect)
	op.ctx, op.cancel = context.WithCancel(c.ctx)
	defer op.cancel()
	_, op.feed = graph.WithEventFeed(op.ctx, broker.ReadyFunc(func() {}))
	op.next = func(context.Context) *graphql.Response {
		return &graphql.Response{Data: []byte(`{"event":1}`)}
	}
	// The ack and an event before the writer's first round.
	c.mu.Lock()
	c.ops[op.id] = op
	c.enqueue(appendMessage(nil, nil, "connection_ack", nil))
	op.pending++
	c.schedule(op)
	c.mu.Unlock()

	_ = client.SetReadDeadline(time.Now().Add(readTimeout))
	for _, want := range []string{`"connection_ack"`, `"next"`} {
		_, msg, err := client.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(msg), want) {
			t.Fatalf("read %s, want the %s message next", msg, want)
		}
	}
}

// Once the server has sent its close frame, the client's messages start
// nothing: not a connection_init (no authentication), not a subscribe
// (no operation), though the connection still reads, for the client's
// answer to the close.
func TestWebsocketClientClosedByTheServerStartsNothing(t *testing.T) {
	cases := []struct {
		name, message string
		acked         bool // the client was acknowledged before the close
	}{
		{"connection_init", `{"type":"connection_init","payload":{}}`, false},
		{"subscribe", `{"id":"1","type":"subscribe","payload":{"query":"subscription { x }"}}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := dialConn(t, 10*time.Second)
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			inits := 0
			c.init = func(ctx context.Context, _ transport.InitPayload) (context.Context, error) {
				inits++
				return ctx, nil
			}
			c.acked = tc.acked
			c.sendClose(closeForbidden, "Forbidden")

			// An operation that started would stay in c.ops, its executor
			// waiting for release.
			if !c.handle(blockingExecutor{release: release}, time.Now(), []byte(tc.message)) {
				t.Error("the connection stopped reading: the client's answer to the close would go unread")
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if inits > 0 || c.initSeen || c.acked != tc.acked || len(c.ops) > 0 {
				t.Fatalf("after the close, %s authenticated %d times, saw an init %v, acked %v (was %v), started %d operations; want nothing",
					tc.name, inits, c.initSeen, c.acked, tc.acked, len(c.ops))
			}
		})
	}
}

// blockingExecutor refuses every operation once release is closed: an
// operation started before that stays running.
type blockingExecutor struct {
	refusingExecutor
	release <-chan struct{}
}

func (e blockingExecutor) CreateOperationContext(ctx context.Context, params *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	<-e.release
	return e.refusingExecutor.CreateOperationContext(ctx, params)
}

// refusingExecutor refuses every operation, as for an invalid document.
type refusingExecutor struct{ graphql.GraphExecutor }

func (refusingExecutor) CreateOperationContext(context.Context, *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	return nil, gqlerror.List{{Message: "refused"}}
}

func (refusingExecutor) DispatchError(_ context.Context, errs gqlerror.List) *graphql.Response {
	return &graphql.Response{Errors: errs}
}

// A result larger than the bound on a connection's queue (maxQueued) is
// written whole when a small message is queued beside it: a keep-alive
// queued before it, or its complete queued after it before the writer
// has taken it. The messages are queued in that order while no writer
// runs, and only then is the writer started, so that the bound sees
// them side by side every time (end to end, whether it does depends on
// when the writer runs).
func TestWebsocketQueuesAResultOverTheBoundBesideSmallMessages(t *testing.T) {
	const readTimeout = 10 * time.Second
	result := &graphql.Response{Data: []byte(`{"text":"` + strings.Repeat("x", maxQueued+maxQueued/5) + `"}`)}
	cases := []struct {
		name  string
		queue func(c *gorillaConn, op *wsOp)
		want  []string // the types of the messages the client reads, in order
	}{
		{
			name: "a keep-alive queued before it",
			queue: func(c *gorillaConn, op *wsOp) {
				c.send(appendMessage(nil, nil, "ka", nil))
				c.queue(op, result)
			},
			want: []string{"ka", "next"},
		},
		{
			name: "its complete queued after it",
			queue: func(c *gorillaConn, op *wsOp) {
				c.queue(op, result)
				c.end(op, nil)
			},
			want: []string{"next", "complete"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, client := dialConn(t, readTimeout)
			op := newWSOp(c, "1", c.dialect)
			op.ctx, op.cancel = context.WithCancel(c.ctx)
			defer op.cancel()

			// As if a writer ran: what is queued waits for the next one.
			c.mu.Lock()
			c.ops[op.id] = op
			c.writing = true
			c.mu.Unlock()
			tc.queue(c, op)
			c.mu.Lock()
			c.writing = false
			c.startWriter()
			c.mu.Unlock()

			_ = client.SetReadDeadline(time.Now().Add(readTimeout))
			for _, want := range tc.want {
				_, msg, err := client.ReadMessage()
				if err != nil {
					t.Fatalf("read: %v; want a %s message (the connection was cut for its queue?)", err, want)
				}
				var m struct {
					Type    string
					Payload json.RawMessage
				}
				if err := json.Unmarshal(msg, &m); err != nil || m.Type != want {
					t.Fatalf("read %.100s (%v), want a %s message", msg, err, want)
				}
				if m.Type == "next" && !bytes.Equal(m.Payload, []byte(`{"data":`+string(result.Data)+`}`)) {
					t.Fatalf("the result came as %d bytes, want %d", len(m.Payload), len(result.Data)+len(`{"data":}`))
				}
			}
		})
	}
}

// dialConn returns a connection of the server's websocket writer, without
// its reader, and the client's end of it, whose writes time out after
// writeWait.
func dialConn(t *testing.T, writeWait time.Duration) (*gorillaConn, *websocket.Conn) {
	t.Helper()
	return dialConnWithBuffers(t, writeWait, 0)
}

// dialConnWithBuffers is dialConn with the server's send buffer and the
// client's receive buffer set to socketBuffer bytes, if it is not 0.
func dialConnWithBuffers(t *testing.T, writeWait time.Duration, socketBuffer int) (*gorillaConn, *websocket.Conn) {
	t.Helper()
	url, conns := serveConns(t, writeWait, socketBuffer, nil)
	dialer := &websocket.Dialer{Subprotocols: []string{protocolTransportWS}}
	if socketBuffer > 0 {
		dialer.NetDial = func(network, addr string) (net.Conn, error) {
			conn, err := net.Dial(network, addr)
			if err != nil {
				return nil, err
			}
			return conn, conn.(*net.TCPConn).SetReadBuffer(socketBuffer)
		}
	}
	client, _, err := dialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return <-conns, client
}

// serveConns starts a server that upgrades every request as the server
// does (gorillaWebsocket.upgrade), with writeWait and, unless it is 0, a
// send buffer of socketBuffer bytes, and hands over each connection
// without a reader: a test reads for it, or has it wait in the poller
// (watch). listen, unless nil, wraps the server's listener. It returns
// the server's websocket URL.
func serveConns(t *testing.T, writeWait time.Duration, socketBuffer int, listen func(net.Listener) net.Listener) (string, <-chan *gorillaConn) {
	t.Helper()
	conns := make(chan *gorillaConn, 1)
	g := &gorillaWebsocket{
		upgrader:  websocket.Upgrader{Subprotocols: []string{protocolTransportWS}},
		writeWait: writeWait,
		maxOps:    maxOperations,
		live:      &liveConns{},
		log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.live.begin() // as the transport does; ended by readerDone
		c, err := g.upgrade(w, r)
		if err != nil {
			t.Error(err)
			return
		}
		if socketBuffer > 0 {
			if err := c.netConn.(*net.TCPConn).SetWriteBuffer(socketBuffer); err != nil {
				t.Error(err)
			}
		}
		c.ctx, c.cancel = context.WithCancel(context.Background())
		t.Cleanup(func() {
			c.cancel()
			c.closeSocket()
		})
		conns <- c
	}))
	if listen != nil {
		srv.Listener = listen(srv.Listener)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), conns
}

// What the broker and the writer read of an operation for every event
// lies in one cache line: at 10,000 subscribers each further line is a
// miss per subscriber and event. Allocations of wsOp's size class start
// at a multiple of 64 bytes.
func TestAnOperationsPerEventFieldsShareACacheLine(t *testing.T) {
	var op wsOp
	for _, f := range []struct {
		name      string
		off, size uintptr
	}{
		{"pending", unsafe.Offsetof(op.pending), unsafe.Sizeof(op.pending)},
		{"queued", unsafe.Offsetof(op.queued), unsafe.Sizeof(op.queued)},
		{"ended", unsafe.Offsetof(op.ended), unsafe.Sizeof(op.ended)},
		{"feed", unsafe.Offsetof(op.feed), unsafe.Sizeof(op.feed)},
		{"next", unsafe.Offsetof(op.next), unsafe.Sizeof(op.next)},
		{"prefix", unsafe.Offsetof(op.prefix), unsafe.Sizeof(op.prefix)},
		{"conn", unsafe.Offsetof(op.conn), unsafe.Sizeof(op.conn)},
	} {
		if f.off+f.size > 64 {
			t.Errorf("wsOp.%s ends at byte %d, past the first 64", f.name, f.off+f.size)
		}
	}
	// On 64-bit platforms, where the lines matter: 128 bytes there.
	if size := unsafe.Sizeof(op); unsafe.Sizeof(uintptr(0)) == 8 && size%64 != 0 {
		t.Errorf("wsOp is %d bytes: its size class may not start it at a cache line", size)
	}
}

package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gorilla/websocket"

	"github.com/protoloop/protoloop/graph"
)

// A close frame goes out while the connection's writer runs an
// operation's response handler: the writer holds the write lock only to
// write, so a revoked token's 4403 or a shutdown's 1012 does not wait for
// an encoding that may take as long as a database query.
func TestWebsocketCloseDoesNotWaitForResponseHandlers(t *testing.T) {
	// Bounds the client's wait for the close frame, so that a close
	// stuck behind the handler fails the test rather than hanging it.
	const readTimeout = 10 * time.Second
	conns := make(chan *gorillaConn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{Subprotocols: []string{protocolTransportWS}}).Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		c := &gorillaConn{
			ws: ws, netConn: ws.UnderlyingConn(), dialect: transportWSDialect,
			writeWait: readTimeout, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			ops: map[string]*wsOp{},
		}
		c.ctx, c.cancel = context.WithCancel(context.Background())
		conns <- c
	}))
	defer srv.Close()
	client, _, err := (&websocket.Dialer{Subprotocols: []string{protocolTransportWS}}).
		Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c := <-conns
	defer c.ws.Close()
	defer c.cancel()

	// A fed operation whose handler is busy until the client has read
	// the close frame.
	entered, release := make(chan struct{}), make(chan struct{})
	op := newWSOp("1", c.dialect)
	op.ctx, op.cancel = context.WithCancel(c.ctx)
	defer op.cancel()
	_, op.feed = graph.WithEventFeed(op.ctx, func() {})
	op.next = func(context.Context) *graphql.Response {
		close(entered)
		<-release
		return &graphql.Response{Data: []byte(`{}`)}
	}
	c.ops[op.id] = op
	c.feed(op)
	<-entered

	go c.sendClose(websocket.CloseGoingAway, "bye")
	_ = client.SetReadDeadline(time.Now().Add(readTimeout))
	_, msg, err := client.ReadMessage()
	close(release)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("read %q, %v while the handler ran; want the close frame, 1001", msg, err)
	}
}

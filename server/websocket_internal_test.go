package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// capturingConn is a websocket that sends connection_init, then ends,
// and keeps what gqlgen writes to it.
type capturingConn struct {
	subprotocol string
	sent        bool
	written     []any
}

func (c *capturingConn) Subprotocol() string { return c.subprotocol }
func (c *capturingConn) NextReader() (int, io.Reader, error) {
	if c.sent {
		return 0, nil, transport.ErrWebsocketClosed
	}
	c.sent = true
	return 1, bytes.NewReader([]byte(`{"type":"connection_init","payload":{}}`)), nil
}
func (c *capturingConn) WriteJSON(v any) error        { c.written = append(c.written, v); return nil }
func (c *capturingConn) WriteClose(int, string) error { return nil }
func (c *capturingConn) Close() error                 { return nil }

type capturingImpl struct{ c *capturingConn }

func (i capturingImpl) Accept(_ http.ResponseWriter, _ *http.Request, _ transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	return i.c, nil
}

// TestEnvelopeReadsGqlgensMessages makes sure that WriteJSON's fast path
// (envelopeOf) reads gqlgen's own message types, of both subprotocols,
// and writes them as encoding/json would: if a gqlgen upgrade reshapes
// them, the slow path would serve, correctly but at three times the cost
// per event, and this test says so.
func TestEnvelopeReadsGqlgensMessages(t *testing.T) {
	for _, sub := range []string{protocolTransportWS, protocolGraphQLWS} {
		t.Run(sub, func(t *testing.T) {
			c := &capturingConn{subprotocol: sub}
			ws := transport.Websocket{Implementation: capturingImpl{c}}
			r := httptest.NewRequest("GET", "/graphql", nil)
			ws.Do(httptest.NewRecorder(), r, nil)
			if len(c.written) == 0 {
				t.Fatal("gqlgen wrote nothing")
			}
			for _, v := range c.written {
				m, ok := envelopeOf(v)
				if !ok {
					t.Fatalf("envelopeOf(%T) failed: WriteJSON takes the slow path", v)
				}
				want, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				got, err := m.encode()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("encoded %s, encoding/json %s", got, want)
				}
			}
		})
	}
}

func TestEnvelopeRefusesWhatItCannotRead(t *testing.T) {
	type other struct{ Payload string }
	bad := struct {
		Payload json.RawMessage `json:"payload,omitempty"`
		ID      string          `json:"id,omitempty"`
		Type    string          `json:"type"`
	}{Payload: json.RawMessage(`{not json`), Type: "next"}
	for _, v := range []any{nil, "text", &other{}, &bad, bad} {
		if _, ok := envelopeOf(v); ok {
			t.Errorf("envelopeOf(%#v) = ok", v)
		}
	}
}

package server

import (
	"context"
	"net/netip"
	"testing"

	"github.com/protoloop/protoloop/ent/schema/viewer"
)

type requestOnlyKey struct{}

func TestAWebsocketsContextKeepsWhatOperationsReadAndNotTheRequest(t *testing.T) {
	id := viewer.NewIdentity(1, 2, nil)
	ip := netip.MustParseAddr("192.0.2.7")
	req, cancel := context.WithCancel(context.Background())
	req = context.WithValue(req, requestOnlyKey{}, "the request's")
	req = context.WithValue(req, clientIPKey{}, ip)
	req = viewer.NewContext(req, id)
	c := &gorillaConn{}

	ctx := connContext(req, c)
	cancel()

	if got := viewer.FromContext(ctx); got != id {
		t.Errorf("caller %v, want the request's", got)
	}
	if got := clientIPFrom(ctx); got != ip {
		t.Errorf("client address %v, want %v", got, ip)
	}
	if got, _ := ctx.Value(connKey{}).(*gorillaConn); got != c {
		t.Error("the connection is not in its context")
	}
	if ctx.Value(requestOnlyKey{}) != nil {
		t.Error("the request's other values are kept: its context is still referenced")
	}
	if ctx.Err() != nil {
		t.Error("the connection's context ended with its upgrade request")
	}
}

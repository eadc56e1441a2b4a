package graph

import (
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
)

// TestDataBufferIsSizedByTheOperationsLastData: an operation's buffer
// starts with room for its last data and an eighth more; another
// operation gets no hint from it, and no hint is larger than maxDataHint.
func TestDataBufferIsSizedByTheOperationsLastData(t *testing.T) {
	op, other := &ast.OperationDefinition{Name: "Dashboard"}, &ast.OperationDefinition{Name: "Timeline"}
	if c := newDataBuffer(op).Cap(); c != 0 {
		t.Fatalf("an operation never run has a %d-byte buffer, want none allocated ahead", c)
	}
	rememberDataSize(op, 200_000)
	if c := newDataBuffer(op).Cap(); c < 225_000 {
		t.Errorf("after 200,000 bytes of data, the next buffer holds %d, want 225,000", c)
	}
	if c := newDataBuffer(other).Cap(); c != 0 {
		t.Errorf("another operation's buffer holds %d: it took the first one's hint", c)
	}
	rememberDataSize(op, 100<<20)
	if c := newDataBuffer(op).Cap(); c > maxDataHint {
		t.Errorf("after 100 MiB of data, the next buffer holds %d, more than %d", c, maxDataHint)
	}
}

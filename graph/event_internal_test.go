package graph

import (
	"errors"
	"testing"

	"github.com/protoloop/protoloop/ent/privacy"
)

// An event the server recorded on its own has no actor: its actor is
// null, not an error.
func TestHideInvisible(t *testing.T) {
	for _, err := range []error{nil, privacy.Deny, &Error{Code: CodeNotFound}} {
		if got := hideInvisible("event actor", err); got != nil {
			t.Errorf("hideInvisible(%v) = %v, want nil", err, got)
		}
	}
	failed := errors.New("connection reset")
	if got := hideInvisible("event actor", failed); !errors.Is(got, failed) {
		t.Errorf("hideInvisible(%v) = %v, want it wrapped", failed, got)
	}
}

package graph

import (
	"errors"
	"slices"
	"testing"

	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/joins"
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

// The join of the actors' names decides from a participant's selection
// whether it can answer it: it must read that selection as the executor
// does, through the types a participant implements.
func TestActorNamesCollectAsTheExecutor(t *testing.T) {
	if !slices.Equal(joins.ParticipantImplementors, participantImplementors) {
		t.Errorf("joins.ParticipantImplementors = %v, the executor's %v", joins.ParticipantImplementors, participantImplementors)
	}
}

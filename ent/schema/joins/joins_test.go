package joins_test

import (
	"testing"

	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/schema/joins"
)

// TestActorNameIsNoColumnOfEvents: the joined name is scanned by its
// column's name, so an events column of that name would take its place.
func TestActorNameIsNoColumnOfEvents(t *testing.T) {
	if event.ValidColumn(joins.ActorNameColumn) {
		t.Fatalf("events has a column %q: the name ActorNames joins would be read as it", joins.ActorNameColumn)
	}
}

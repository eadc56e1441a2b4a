package joins_test

import (
	"database/sql"
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

// TestJoinedNamesAreCopiedOutOfTheScannedRow scans names, and a NULL, into
// one Values as a query scans its rows into one block, and assigns each
// row's to a Values of its own, as each entity holds one: every entity
// keeps its own row's name, not the last row's.
func TestJoinedNamesAreCopiedOutOfTheScannedRow(t *testing.T) {
	var block joins.Values
	dest, ok := block.Dest(joins.ActorNameColumn).(*sql.NullString)
	if !ok {
		t.Fatalf("the actor's name is scanned into a %T", block.Dest(joins.ActorNameColumn))
	}
	if v := block.Dest(event.FieldKind); v != nil {
		t.Errorf("events' own column kind is scanned into the joins' %T", v)
	}
	rows := []sql.NullString{{String: "Ada", Valid: true}, {}, {String: "Grace", Valid: true}}
	entities := make([]joins.Values, len(rows))
	for i, row := range rows {
		*dest = row
		if !entities[i].Assign(joins.ActorNameColumn, dest) {
			t.Fatalf("row %d: the actor's name was not taken", i)
		}
		if entities[i].Assign(event.FieldKind, dest) {
			t.Errorf("row %d: events' own column kind was taken as joined", i)
		}
	}
	for i, row := range rows {
		if name, ok := entities[i].ActorName(); name != row.String || ok != row.Valid {
			t.Errorf("entity %d: name %q, %v; its row read %q, %v", i, name, ok, row.String, row.Valid)
		}
	}
}

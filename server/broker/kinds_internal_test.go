package broker

import (
	"slices"
	"testing"

	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/schema"
)

func TestKindSetsHoldTheKindsTheyWereMadeOf(t *testing.T) {
	tests := []struct {
		name  string
		kinds []event.Kind
		want  []event.Kind // from list
	}{
		{"no kinds is all of them", nil, nil},
		{"one kind", []event.Kind{event.KindFEEDBACK_ADDED}, []event.Kind{event.KindFEEDBACK_ADDED}},
		{"the first and the last", []event.Kind{event.KindWEBHOOK_DELETED, event.KindWORKSPACE_CREATED},
			[]event.Kind{event.KindWORKSPACE_CREATED, event.KindWEBHOOK_DELETED}},
		{"a kind named twice", []event.Kind{event.KindVOTE_ADDED, event.KindVOTE_ADDED}, []event.Kind{event.KindVOTE_ADDED}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := kindsOf(tc.kinds)
			if got := set.list(); !slices.Equal(got, tc.want) {
				t.Errorf("list: %v, want %v", got, tc.want)
			}
			for _, k := range schema.EventKinds {
				kind := event.Kind(k)
				in := tc.kinds == nil || slices.Contains(tc.kinds, kind)
				if got := set&kindBit(kind) != 0; got != in {
					t.Errorf("%s in the set: %v, want %v", kind, got, in)
				}
			}
		})
	}
}

func TestAKindTheSchemaDoesNotListReachesOnlySubscriptionsToAll(t *testing.T) {
	unknown := kindBit("NOT_A_KIND")
	if allKinds&unknown == 0 {
		t.Error("a subscription to every kind does not get it")
	}
	all := make([]event.Kind, len(schema.EventKinds))
	for i, k := range schema.EventKinds {
		all[i] = event.Kind(k)
	}
	if kindsOf(all)&unknown != 0 {
		t.Error("a subscription naming every kind of the schema gets it")
	}
}

package broker

import (
	"fmt"

	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/schema"
)

// kindSet is a set of event kinds, a bit for each of schema.EventKinds.
// The tailer checks every subscriber of a topic against each event: a
// subscriber's kinds in a word of its own struct cost it no read of a
// slice elsewhere in memory (at 10,000 subscribers, a cache miss each)
// and no string comparisons.
type kindSet uint64

// allKinds is a subscription's set when it names no kinds. It alone has
// unknownKind: an event of a kind the schema does not list (there are
// none, as the column is an enum) reaches only those that want them all.
const (
	allKinds    kindSet = 1<<64 - 1
	unknownKind kindSet = 1 << 63
)

var kindBits = func() map[event.Kind]kindSet {
	// unknownKind takes the last bit, the schema's kinds the others.
	if len(schema.EventKinds) > 63 {
		panic(fmt.Sprintf("broker: %d event kinds do not fit in a kindSet", len(schema.EventKinds)))
	}
	m := make(map[event.Kind]kindSet, len(schema.EventKinds))
	for i, k := range schema.EventKinds {
		m[event.Kind(k)] = 1 << i
	}
	return m
}()

// kindBit returns the set of k alone.
func kindBit(k event.Kind) kindSet {
	if b, ok := kindBits[k]; ok {
		return b
	}
	return unknownKind
}

// kindsOf returns the set of kinds, or allKinds if there are none.
func kindsOf(kinds []event.Kind) kindSet {
	if len(kinds) == 0 {
		return allKinds
	}
	var s kindSet
	for _, k := range kinds {
		s |= kindBit(k)
	}
	return s
}

// list returns the kinds of s, nil for allKinds, in schema.EventKinds's
// order.
func (s kindSet) list() []event.Kind {
	if s == allKinds {
		return nil
	}
	var kinds []event.Kind
	for i, k := range schema.EventKinds {
		if s&(1<<i) != 0 {
			kinds = append(kinds, event.Kind(k))
		}
	}
	return kinds
}

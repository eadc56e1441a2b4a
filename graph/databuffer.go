package graph

import (
	"bytes"
	"hash/maphash"
	"sync/atomic"

	"github.com/vektah/gqlparser/v2/ast"
)

// The executor writes a query's data into a buffer that used to start
// empty and double as it filled: a dashboard's 220 KB took 12 doublings,
// about 440 KB allocated, cleared and copied per request on top of the
// data. newDataBuffer (called where gqlgen's executor declared the
// buffer; see graph/internal/gqlgen) instead allocates it once, at the
// size the same operation's data had last time plus an eighth.
//
// An operation is known by its parsed definition, which gqlgen's query
// cache keeps and hands to every request of the same document. The sizes
// live in a small fixed table, by the definition's address: an operation
// whose slot another has taken gets no hint, and a stale hint only sizes
// a buffer wrongly; neither changes what is written.
var dataSizes [256]atomic.Uint64 // tag<<32 | size

var dataSizeSeed = maphash.MakeSeed()

// maxDataHint bounds the buffer allocated ahead: every request of a
// document shares its hint, whoever sends it and with whatever variables,
// so one caller's large responses must not make everybody else's
// allocate that much. Past it the buffer grows as it fills. (The
// dashboard's data is ~220 KB.)
const maxDataHint = 256 << 10

func dataSizeSlot(op *ast.OperationDefinition) (slot *atomic.Uint64, tag uint64) {
	h := maphash.Comparable(dataSizeSeed, op)
	return &dataSizes[h%uint64(len(dataSizes))], h >> 32
}

// newDataBuffer returns the buffer for op's data.
func newDataBuffer(op *ast.OperationDefinition) *bytes.Buffer {
	slot, tag := dataSizeSlot(op)
	v := slot.Load()
	if v>>32 != tag {
		return new(bytes.Buffer)
	}
	return bytes.NewBuffer(make([]byte, 0, v&(1<<32-1)))
}

// rememberDataSize records that op's data was n bytes.
func rememberDataSize(op *ast.OperationDefinition, n int) {
	slot, tag := dataSizeSlot(op)
	slot.Store(tag<<32 | uint64(min(n+n/8, maxDataHint)))
}

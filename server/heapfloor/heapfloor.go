// Package heapfloor keeps the garbage collector's heap goal from falling
// below a floor while little of the heap is live.
//
// GOGC sets the goal in proportion to what is live. A server whose live
// heap is a few megabytes, but whose requests allocate hundreds of
// megabytes a second of short-lived rows, field values and responses,
// then collects tens of times a second, and every cycle costs its mark
// work and its write barriers whatever the heap's size. The runtime
// offers a proportion (GOGC) and a ceiling (GOMEMLIMIT), but no floor:
// this package makes one by setting the GC percent after every cycle
// (debug.SetGCPercent) from what that cycle found live, so that the next
// goal is the floor. Once the live heap is large enough for GOGC alone to
// put the goal above the floor (10,000 idle subscriptions, say), GOGC is
// left as it is, and the process keeps the memory it kept without a
// floor. GOMEMLIMIT still bounds the heap: near it the runtime collects
// whatever the percent.
package heapfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Floor is a heap floor in force; Stop lifts it.
type Floor struct {
	floor   uint64
	percent int // GOGC: the least percent ever set

	mu      sync.Mutex // serialises cycle and Stop
	stopped bool
	set     int // the percent last set
	samples [3]metrics.Sample
}

// The runtime's heap goal is live + (live + stacks + globals) × GOGC/100
// (the pacer since Go 1.18): the percent multiplies the stacks and globals
// scanned as well as the live heap.
const (
	liveBytes    = "/gc/heap/live:bytes"
	stackBytes   = "/gc/scan/stack:bytes"
	globalsBytes = "/gc/scan/globals:bytes"
)

// Start keeps the heap goal at floor bytes or above, with percent as the
// GC percent (GOGC) when the live heap alone sets a higher goal. Only one
// Floor should be in force in a process at a time: each sets the
// process's GC percent. A floor of 0, or a negative percent (GOGC=off),
// starts nothing; the percent is set all the same.
func Start(floor uint64, percent int) *Floor {
	f := &Floor{floor: floor, percent: percent, set: percent}
	debug.SetGCPercent(percent)
	if floor == 0 || percent < 0 {
		f.stopped = true
		return f
	}
	f.samples[0].Name = liveBytes
	f.samples[1].Name = stackBytes
	f.samples[2].Name = globalsBytes
	f.cycle()
	return f
}

// Stop lifts the floor: the GC percent is percent again.
func (f *Floor) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	f.stopped = true
	debug.SetGCPercent(f.percent)
}

// marker is allocated for a cycle: its cleanup runs once a collection has
// found it unreachable, that is after the next cycle. It holds a pointer so
// that it is not a tiny allocation, which could live on with its neighbours.
type marker struct{ _ *byte }

// cycle sets the percent for the goal after the last collection and
// waits for the next one.
func (f *Floor) cycle() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	metrics.Read(f.samples[:])
	p := Percent(f.floor, f.percent, f.samples[0].Value.Uint64(),
		f.samples[1].Value.Uint64()+f.samples[2].Value.Uint64())
	if p != f.set {
		debug.SetGCPercent(p)
		f.set = p
	}
	runtime.AddCleanup(&marker{}, (*Floor).cycle, f)
}

// heapMinimum is the runtime's least heap goal at GOGC=100: it scales it
// by the percent (defaultHeapMinimum in runtime/mgcpacer.go), so a percent
// above floor × 100 / heapMinimum would put the goal above the floor.
const heapMinimum = 4 << 20

// Percent is the GC percent that puts the heap goal at floor, for a heap
// of which live bytes are live and whose stacks and globals hold roots
// bytes, or percent if that puts it higher.
func Percent(floor uint64, percent int, live, roots uint64) int {
	scanned := live + roots
	if live >= floor || scanned == 0 {
		return percent
	}
	want := min((floor-live)*100/scanned, floor*100/heapMinimum, math.MaxInt32)
	return max(percent, int(want))
}

package server

import (
	"runtime"
	"sync"
)

// maxWriters bounds the goroutines that run websocket writers at once
// (connWriters). They wait for the CPU, for a group's shared encoding
// or for a response handler (which may read the database), never for a
// client: a write that would wait is handed to a goroutine of its own.
const maxWriters = 16

// connWriters runs the writers of the process's websocket connections.
//
// An event for 10,000 subscribers makes 10,000 connections ready at
// once. A goroutine started for each of them (as the writer was, per
// connection and per round) cost about a tenth of the server's CPU per
// message in starting, scheduling and ending goroutines; here a few
// workers take the ready connections from one queue in turn and write
// each without waiting (gorillaConn.flush). The workers exist only while
// there is something to write.
//
// No more workers write at once than the process has Ps (GOMAXPROCS),
// but for those in a response handler (see blocking), which may wait
// for the database. A writer never blocks otherwise, so Go's scheduler
// only takes it off its P when it preempts it, every 10 ms, into the
// global run queue: with 16 of them the goroutines that make the next
// event (the mutation's handler, the numbering round, the tailer), each
// woken by the network, waited behind them at every round trip, and an
// event reached its first subscriber 76–225 ms after its commit during
// a fan-out of 10,000; with as many writers as Ps, 16–18 ms.
var connWriters = &writerPool{max: maxWriters}

// writerPool is a queue of connections whose writer should run, and the
// workers that run them.
type writerPool struct {
	mu      sync.Mutex
	queue   []*gorillaConn
	head    int // queue[head:] wait
	running int
	blocked int // of the running, those in a response handler
	max     int
	procs   int // GOMAXPROCS, read when the first worker starts
}

// mayStart reports whether another worker may start. p.mu is held.
func (p *writerPool) mayStart() bool {
	return p.running < p.max && p.running-p.blocked < p.procs
}

// connWriter is what one worker keeps from one connection to the next.
type connWriter struct {
	buf   *frameBuffer // the frames of a round
	ready []*wsOp      // the operations of a round
	raw   rawWrite     // for tryWrite

	// The events of its writes not yet added to their server's counters
	// (liveConns.countWrites): the workers of an event's fan-out, each on
	// a core, would otherwise take turns at the counters' cache line for
	// every write.
	counted *liveConns
	counts  eventCounts
	writes  int64
}

// countedEvery bounds the writes a worker counts before it adds them to
// the metrics, so that they follow a long fan-out as it goes.
const countedEvery = 256

// count counts a successful write's events, of a connection of live.
func (w *connWriter) count(live *liveConns, n eventCounts) {
	if n.events == 0 {
		return
	}
	if live != w.counted || w.writes == countedEvery {
		w.addCounts()
		w.counted = live
	}
	w.counts.events += n.events
	w.counts.shared += n.shared
	w.writes++
}

// addCounts adds the writes counted to their server's metrics.
func (w *connWriter) addCounts() {
	if w.writes > 0 {
		w.counted.countWrites(w.counts, w.writes)
	}
	w.counts, w.writes = eventCounts{}, 0
}

// schedule queues c for a round of its writer, starting a worker if
// fewer than max run. c.mu may be held (it is when the broker feeds an
// operation): the pool's lock is taken after it, never before.
func (p *writerPool) schedule(c *gorillaConn) {
	p.mu.Lock()
	p.queue = append(p.queue, c)
	if p.running == 0 {
		p.procs = runtime.GOMAXPROCS(0)
	}
	start := p.mayStart()
	if start {
		p.running++
	}
	p.mu.Unlock()
	if start {
		go p.run()
	}
}

// blocking runs f, a response handler, from a worker: while it runs, it
// does not count against the Ps, and another worker starts if
// connections wait.
func (p *writerPool) blocking(f func()) {
	p.mu.Lock()
	p.blocked++
	start := p.head < len(p.queue) && p.mayStart()
	if start {
		p.running++
	}
	p.mu.Unlock()
	if start {
		go p.run()
	}
	defer func() {
		p.mu.Lock()
		p.blocked--
		p.mu.Unlock()
	}()
	f()
}

// requeue queues c again behind the others, from a running worker.
func (p *writerPool) requeue(c *gorillaConn) {
	p.mu.Lock()
	p.queue = append(p.queue, c)
	p.mu.Unlock()
}

// next returns the next connection to write, or nil when none waits, and
// the worker that asked then ends.
func (p *writerPool) next() *gorillaConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.head == len(p.queue) {
		p.queue, p.head = p.queue[:0], 0
		if cap(p.queue) > 64<<10 {
			p.queue = nil
		}
		p.running--
		return nil
	}
	if p.running-p.blocked > p.procs {
		// One started while another was in a response handler, which
		// has returned: one too many write at once.
		p.running--
		return nil
	}
	c := p.queue[p.head]
	p.queue[p.head] = nil
	p.head++
	if p.head >= compactAfter && 2*p.head >= len(p.queue) {
		// A queue that never empties (a busy connection requeued round
		// after round) would otherwise keep its taken prefix for good, and
		// copy it on every growth: the waiting part moves to the front,
		// each slot copied at most once per slot taken.
		n := copy(p.queue, p.queue[p.head:])
		clear(p.queue[n:])
		p.queue, p.head = p.queue[:n], 0
	}
	return c
}

// compactAfter is how many taken slots a queue that has not emptied may
// keep before next moves its waiting part to the front.
const compactAfter = 256

// run is a worker: it runs rounds of the connections queued until none
// is left.
func (p *writerPool) run() {
	w := &connWriter{}
	for c := p.next(); c != nil; c = p.next() {
		if w.buf == nil {
			w.buf = frameBuffers.Get().(*frameBuffer)
		}
		if c.flush(w) {
			p.requeue(c)
		}
	}
	w.addCounts()
	if w.buf != nil {
		w.buf.put()
	}
}

// frameBuffer is a buffer a writer builds its writes in.
type frameBuffer struct{ b []byte }

// frameBuffers are the buffers writers build their writes in.
var frameBuffers = sync.Pool{New: func() any { return new(frameBuffer) }}

// put keeps the buffer for another round, unless it grew large.
func (f *frameBuffer) put() {
	if cap(f.b) <= 64<<10 {
		f.b = f.b[:0]
		frameBuffers.Put(f)
	}
}

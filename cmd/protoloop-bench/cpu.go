package main

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"time"
)

// cpuColumns are the CPU milliseconds per request each process spent in
// a measured phase: the server, the bench database's PostgreSQL backends,
// and this tool. On one machine they share the cores, so what the tool
// spends is taken from the server it measures.
var cpuColumns = []string{"server cpu ms/req", "pg cpu ms/req", "tool cpu ms/req"}

const cpuNote = "cpu ms/req: CPU time (user + system) per request in the measured phase, from /proc/<pid>/stat for the server and for the bench database's PostgreSQL backends (the pids in pg_stat_activity at the phase's start and end), from getrusage for this tool; - where not readable (another host, not Linux, no server pid) or not in play (the server's on the rows of hand-written SQL, which does not go through it)"

// cpuMeter reads the CPU time used so far by the processes of a phase.
type cpuMeter struct {
	serverPID int     // 0: not known
	db        *sql.DB // on the bench database
}

// procCPU is the CPU time a process has used, in its own code (user) and
// in the kernel's on its behalf (system: for a server, mostly the network
// stack's work in its system calls).
type procCPU struct{ user, system time.Duration }

func (p procCPU) total() time.Duration { return p.user + p.system }

// cpuSample is what a cpuMeter read at one moment.
type cpuSample struct {
	server           procCPU
	self             time.Duration
	serverOK, selfOK bool
	backends         map[int]time.Duration // by pid
	backendsOK       bool
}

func (m cpuMeter) sample(ctx context.Context) cpuSample {
	var s cpuSample
	if m.serverPID != 0 {
		_, cpu, err := processCPU(m.serverPID)
		s.server, s.serverOK = cpu, err == nil
	}
	cpu, err := selfCPU()
	s.self, s.selfOK = cpu, err == nil
	if m.db != nil {
		s.backends, s.backendsOK = m.readBackends(ctx)
	}
	return s
}

// readBackends returns the CPU time of the bench database's backends,
// and false when their /proc cannot be read: not Linux, or a database on
// another host, where the pids are other processes or none.
func (m cpuMeter) readBackends(ctx context.Context) (map[int]time.Duration, bool) {
	rows, err := m.db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		return nil, false
	}
	var pids []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			rows.Close()
			return nil, false
		}
		pids = append(pids, pid)
	}
	if closeRows(rows) != nil {
		return nil, false
	}
	cpu := map[int]time.Duration{}
	for _, pid := range pids {
		name, d, err := processCPU(pid)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Exited since the query, or on another host: decided below.
		case err != nil || name != "postgres":
			return nil, false
		default:
			cpu[pid] = d.total()
		}
	}
	// The query's own backend is always there when /proc is this host's.
	return cpu, len(cpu) > 0
}

// cpuUse is the CPU each process spent between two samples.
type cpuUse struct {
	server, pg, self       time.Duration
	serverUser             time.Duration // of server, in its own code
	serverOK, pgOK, selfOK bool
	lostBackends           int // exited during the phase: their CPU is not counted
}

// since returns the CPU spent from start to s. A backend seen only at the
// end started during the phase and counts from zero; one seen only at the
// start is read again, and if it has exited its CPU in the phase is lost.
func (s cpuSample) since(start cpuSample) cpuUse {
	u := cpuUse{
		server: s.server.total() - start.server.total(), serverOK: s.serverOK && start.serverOK,
		self: s.self - start.self, selfOK: s.selfOK && start.selfOK,
		pgOK:       s.backendsOK && start.backendsOK,
		serverUser: s.server.user - start.server.user,
	}
	if !u.pgOK {
		return u
	}
	for pid, end := range s.backends {
		u.pg += end - start.backends[pid]
	}
	for pid, began := range start.backends {
		if _, seen := s.backends[pid]; seen {
			continue
		}
		if name, end, err := processCPU(pid); err == nil && name == "postgres" {
			u.pg += end.total() - began
		} else {
			u.lostBackends++
		}
	}
	return u
}

// plus returns the CPU of two phases together, known where both are.
func (u cpuUse) plus(v cpuUse) cpuUse {
	return cpuUse{
		server: u.server + v.server, serverOK: u.serverOK && v.serverOK,
		pg: u.pg + v.pg, pgOK: u.pgOK && v.pgOK,
		self: u.self + v.self, selfOK: u.selfOK && v.selfOK,
		serverUser:   u.serverUser + v.serverUser,
		lostBackends: u.lostBackends + v.lostBackends,
	}
}

// measure runs a load phase between two samples and returns its result
// with the CPU each process spent in it.
func (m cpuMeter) measure(ctx context.Context, c int, d time.Duration, op func(ctx context.Context, worker, i int) error) loadResult {
	start := m.sample(ctx)
	res := load(ctx, c, d, op)
	res.cpu = m.sample(ctx).since(start)
	return res
}

// side is one of the two loads a paired measurement compares, with the
// meter of its phases (the server's CPU counted or not).
type side struct {
	meter cpuMeter
	op    func(ctx context.Context, worker, i int) error
}

// turnOffset moves the requests' index (the op's i) from one turn of a
// paired measurement to the next, so that each turn starts elsewhere in
// the sequence of targets the index picks (targetOf), the same for both
// sides.
const turnOffset = 1 << 20

// turnsOf returns how many turns each side of a paired measurement of d
// takes, in turns of at most slice, and how long each is.
func turnsOf(d, slice time.Duration) (int, time.Duration) {
	if slice <= 0 || slice >= d {
		return 1, d
	}
	n := int((d + slice - 1) / slice)
	return n, d / time.Duration(n)
}

// measurePair measures a and b for d each at concurrency c, taking turns
// of at most slice, in the order a b, b a, a b, … (each side first in
// half of the pairs), and adds up each side's turns. The host's speed
// can drift by a quarter within a minute (a shared virtual machine's
// does): measured one whole phase after the other, a's and b's figures,
// and so their ratio, came from different minutes; in short turns both
// meet the same drift. A slice of 0 or less, or not shorter than d, is
// one phase each, a then b. Requests in flight at a turn's end finish
// uncounted, as at a phase's.
func measurePair(ctx context.Context, c int, d, slice time.Duration, a, b side) (loadResult, loadResult) {
	turns, turn := turnsOf(d, slice)
	var as, bs []loadResult
	run := func(s side, k int) loadResult {
		return s.meter.measure(ctx, c, turn, func(ctx context.Context, w, i int) error {
			return s.op(ctx, w, k*turnOffset+i)
		})
	}
	for k := 0; k < turns && ctx.Err() == nil; k++ {
		if k%2 == 0 {
			as = append(as, run(a, k))
			bs = append(bs, run(b, k))
		} else {
			bs = append(bs, run(b, k))
			as = append(as, run(a, k))
		}
	}
	return combine(as), combine(bs)
}

// addCPU puts the CPU per request of res into row, "-" where unknown.
func (res loadResult) addCPU(row result) {
	n := float64(res.run) // the CPU of those finished after the end is in the sample
	if n == 0 {
		return
	}
	u := res.cpu
	for i, v := range []struct {
		d  time.Duration
		ok bool
	}{{u.server, u.serverOK}, {u.pg, u.pgOK}, {u.self, u.selfOK}} {
		if v.ok {
			row[cpuColumns[i]] = ms(v.d) / n
		}
	}
}

// messageCPUColumns are the CPU microseconds each process spent per
// message delivered in fanout's and replicas' event phase: the server
// the subscribers are on, and of that its own code's (the rest is the
// kernel's, mostly loopback TCP in its writes), and this tool, whose
// clients read the messages on the same cores.
var messageCPUColumns = []string{"server cpu µs/msg", "server user µs/msg", "tool cpu µs/msg"}

const messageCPUNote = "cpu µs/msg: CPU time (user + system; server user: user alone, its own code rather than the kernel's) per event message received by the subscribers, from the writer's first event until the last delivery (or the end of the wait for stragglers), from /proc/<pid>/stat for the server the subscribers are on (it also serves the writes in fanout; in replicas the other process does) and from getrusage for this tool (its writer and its subscribers' reads); - where not readable"

// addPerMessage puts into row the CPU per message of u, over messages
// delivered; nothing when none was.
func (u cpuUse) addPerMessage(row result, messages int64) {
	if messages <= 0 {
		return
	}
	n := float64(messages)
	for i, v := range []struct {
		d  time.Duration
		ok bool
	}{{u.server, u.serverOK}, {u.serverUser, u.serverOK}, {u.self, u.selfOK}} {
		if v.ok {
			row[messageCPUColumns[i]] = float64(v.d) / float64(time.Microsecond) / n
		}
	}
}

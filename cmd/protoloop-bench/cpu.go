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

// cpuSample is what a cpuMeter read at one moment.
type cpuSample struct {
	server, self     time.Duration
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
			cpu[pid] = d
		}
	}
	// The query's own backend is always there when /proc is this host's.
	return cpu, len(cpu) > 0
}

// cpuUse is the CPU each process spent between two samples.
type cpuUse struct {
	server, pg, self       time.Duration
	serverOK, pgOK, selfOK bool
	lostBackends           int // exited during the phase: their CPU is not counted
}

// since returns the CPU spent from start to s. A backend seen only at the
// end started during the phase and counts from zero; one seen only at the
// start is read again, and if it has exited its CPU in the phase is lost.
func (s cpuSample) since(start cpuSample) cpuUse {
	u := cpuUse{
		server: s.server - start.server, serverOK: s.serverOK && start.serverOK,
		self: s.self - start.self, selfOK: s.selfOK && start.selfOK,
		pgOK: s.backendsOK && start.backendsOK,
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
			u.pg += end - began
		} else {
			u.lostBackends++
		}
	}
	return u
}

// measure runs a load phase between two samples and returns its result
// with the CPU each process spent in it.
func (m cpuMeter) measure(ctx context.Context, c int, d time.Duration, op func(ctx context.Context, worker, i int) error) loadResult {
	start := m.sample(ctx)
	res := load(ctx, c, d, op)
	res.cpu = m.sample(ctx).since(start)
	return res
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
// the subscribers are on, and this tool, whose clients read the
// messages on the same cores.
var messageCPUColumns = []string{"server cpu µs/msg", "tool cpu µs/msg"}

const messageCPUNote = "cpu µs/msg: CPU time (user + system) per event message received by the subscribers, from the writer's first event until the last delivery (or the end of the wait for stragglers), from /proc/<pid>/stat for the server the subscribers are on (it also serves the writes in fanout; in replicas the other process does) and from getrusage for this tool (its writer and its subscribers' reads); - where not readable"

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
	}{{u.server, u.serverOK}, {u.self, u.selfOK}} {
		if v.ok {
			row[messageCPUColumns[i]] = float64(v.d) / float64(time.Microsecond) / n
		}
	}
}

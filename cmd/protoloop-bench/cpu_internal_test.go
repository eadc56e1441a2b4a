package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// turnLog records which side ran each turn of a paired measurement, in
// the order the turns began.
type turnLog struct {
	mu    sync.Mutex
	turns []string
}

// op is a side's operation: a millisecond's work, logging each turn once
// (worker 0's first request in it), failing every request of worker 1.
func (l *turnLog) op(name string) func(ctx context.Context, w, i int) error {
	return func(ctx context.Context, w, i int) error {
		if w == 0 && i%turnOffset == 0 {
			l.mu.Lock()
			l.turns = append(l.turns, fmt.Sprintf("%s%d", name, i/turnOffset))
			l.mu.Unlock()
		}
		time.Sleep(time.Millisecond)
		if w == 1 {
			return errors.New(name + " failed")
		}
		return nil
	}
}

func TestPairedMeasurementsTakeTurns(t *testing.T) {
	for _, tc := range []struct {
		name      string
		d, slice  time.Duration
		turns     []string
		turnCount int
	}{
		{"in turns, each side first in every other pair", 80 * time.Millisecond, 20 * time.Millisecond,
			[]string{"a0", "b0", "b1", "a1", "a2", "b2", "b3", "a3"}, 4},
		{"a slice that does not divide the duration makes shorter turns", 80 * time.Millisecond, 30 * time.Millisecond,
			[]string{"a0", "b0", "b1", "a1", "a2", "b2"}, 3},
		{"no slice: one phase each", 80 * time.Millisecond, 0, []string{"a0", "b0"}, 1},
		{"a slice as long as the run: one phase each", 80 * time.Millisecond, 80 * time.Millisecond, []string{"a0", "b0"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, turn := turnsOf(tc.d, tc.slice)
			if n != tc.turnCount || turn != tc.d/time.Duration(n) {
				t.Fatalf("turnsOf(%s, %s) = %d turns of %s, want %d of %s", tc.d, tc.slice, n, turn, tc.turnCount, tc.d/time.Duration(tc.turnCount))
			}
			var log turnLog
			a, b := log.op("a"), log.op("b")
			ra, rb := measurePair(context.Background(), 2, tc.d, tc.slice, side{op: a}, side{op: b})
			if !slices.Equal(log.turns, tc.turns) {
				t.Errorf("turns %v, want %v", log.turns, tc.turns)
			}
			for name, r := range map[string]loadResult{"a": ra, "b": rb} {
				// Each side ran for d in all (to the nanosecond its turns
				// round to), its turns' requests and CPU added up: worker
				// 0's succeeded, worker 1's failed.
				if r.elapsed != time.Duration(n)*turn {
					t.Errorf("%s: elapsed %s, want %d turns of %s", name, r.elapsed, n, turn)
				}
				if r.ok() == 0 || r.failed == 0 || r.run < r.ok()+r.failed {
					t.Errorf("%s: %d ok, %d failed of %d run: want both, from every turn", name, r.ok(), r.failed, r.run)
				}
				if r.firstErr == nil || r.firstErr.Error() != name+" failed" {
					t.Errorf("%s: first error %v", name, r.firstErr)
				}
				if !r.cpu.selfOK || r.cpu.self <= 0 {
					t.Errorf("%s: the tool's CPU not measured: %+v", name, r.cpu)
				}
			}
		})
	}
}

func TestCombinedTurnsKnowTheCPUOnlyWhereEveryTurnDoes(t *testing.T) {
	turn := func(ok bool) loadResult {
		return loadResult{took: []time.Duration{time.Millisecond}, run: 1, elapsed: time.Second,
			cpu: cpuUse{server: time.Millisecond, serverOK: true, pg: time.Millisecond, pgOK: ok, self: time.Millisecond, selfOK: true, lostBackends: 1}}
	}
	r := combine([]loadResult{turn(true), turn(false), turn(true)})
	if r.ok() != 3 || r.run != 3 || r.elapsed != 3*time.Second {
		t.Errorf("combined %d ok of %d in %s, want 3 of 3 in 3s", r.ok(), r.run, r.elapsed)
	}
	want := cpuUse{server: 3 * time.Millisecond, serverOK: true, pg: 3 * time.Millisecond, pgOK: false, self: 3 * time.Millisecond, selfOK: true, lostBackends: 3}
	if r.cpu != want {
		t.Errorf("combined CPU %+v, want %+v", r.cpu, want)
	}
}

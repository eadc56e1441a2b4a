package viewer_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/protoloop/protoloop/ent/schema/viewer"
)

func TestRememberLoadsOncePerKeyWhileFresh(t *testing.T) {
	id := viewer.NewGuest(0, viewer.Tester{Prototype: 1, Workspace: 2, Participant: 3})
	var loads atomic.Int32
	load := func() (any, error) {
		loads.Add(1)
		time.Sleep(10 * time.Millisecond) // long enough for the others to arrive while it loads
		return "facts", nil
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if v, err := id.Remember("k", time.Minute, load); v != "facts" || err != nil {
				t.Errorf("got %v, %v", v, err)
			}
		})
	}
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Errorf("20 concurrent calls loaded %d times, want once", n)
	}
	if _, err := id.Remember("k", 0, load); err != nil || loads.Load() != 2 {
		t.Errorf("a value older than maxAge was not loaded again: %d loads, %v", loads.Load(), err)
	}
	if _, err := id.Remember("other", time.Minute, load); err != nil || loads.Load() != 3 {
		t.Errorf("another key shared the first's value: %d loads", loads.Load())
	}
}

func TestRememberKeepsNoErrors(t *testing.T) {
	id := viewer.NewIdentity(1, 2, nil)
	failing := errors.New("database went away")
	if _, err := id.Remember("k", time.Minute, func() (any, error) { return nil, failing }); !errors.Is(err, failing) {
		t.Fatalf("got %v, want the load's error", err)
	}
	v, err := id.Remember("k", time.Minute, func() (any, error) { return 42, nil })
	if v != 42 || err != nil {
		t.Errorf("after an error, got %v, %v; want it loaded again", v, err)
	}
}

package broker

import (
	"testing"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

// Once it knows maxTracked topics, the broker forgets them all rather than
// grow: a subscription from before that moment replays, as it would have
// before topics were tracked, and one from the stream's end is still live.
func TestTrackedTopicsAreForgottenAtTheCap(t *testing.T) {
	b := New(nil, Options{})
	close(b.ready)
	b.mu.Lock()
	defer b.mu.Unlock()
	dispatch := func(topic gid.ID) {
		b.pos++
		b.track(topic, b.pos)
	}
	first := gid.ID(1)
	dispatch(first)
	for i := 2; i <= maxTracked; i++ {
		dispatch(gid.ID(i))
	}
	if !b.live(first, 1) || b.live(first, 0) {
		t.Fatal("below the cap, a topic is live from its last event and not before")
	}
	newcomer := gid.ID(maxTracked + 1)
	dispatch(newcomer) // one topic too many
	if len(b.lastOf) != 1 || b.since != b.pos {
		t.Fatalf("at the cap: %d topics tracked since %d; want 1 since %d", len(b.lastOf), b.since, b.pos)
	}
	if b.live(first, 1) {
		t.Error("a cursor from before the topics were forgotten starts live: it could miss an event")
	}
	if !b.live(first, b.pos) || !b.live(newcomer, b.pos) {
		t.Error("a subscription from the stream's end does not start live")
	}
	dispatch(gid.ID(maxTracked + 2))
	if !b.live(newcomer, b.pos-1) || b.live(newcomer, b.pos-2) {
		t.Error("after the cap, a topic's later events are not tracked from its last one")
	}
}

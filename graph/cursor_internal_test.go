package graph

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/feedback"
	"github.com/protoloop/protoloop/ent/schema/gid"
)

// TestCursorsAreWrittenAsEntgqlWritesThem checks cursorMarshaler against
// entgql's own Cursor.MarshalGQL for every kind of value a connection is
// ordered by: clients keep cursors, and entgql decodes them.
func TestCursorsAreWrittenAsEntgqlWritesThem(t *testing.T) {
	id := gid.New(gid.Event)
	for _, value := range []any{
		nil, 0, 1, -1, 127, 128, 1 << 20, int64(123456), int64(math.MaxInt64), int64(math.MinInt64),
		"", "Checkout flow", string(make([]byte, 300)), feedback.StatusOPEN,
		time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 30, 15, 0, 0, 123456789, time.UTC),
		time.Date(2600, 1, 1, 0, 0, 0, 1, time.UTC),
		3.5,
	} {
		c := ent.Cursor{ID: id, Value: value}
		var want, got bytes.Buffer
		c.MarshalGQL(&want)
		for range 2 { // the second time from the pooled buffers
			got.Reset()
			cursorMarshaler(c).MarshalGQL(&got)
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("cursor of %T %v: %s, entgql writes %s", value, value, got.Bytes(), want.Bytes())
			}
		}
	}
}

func BenchmarkCursorMarshaler(b *testing.B) {
	c := cursorMarshaler(*eventCursor(&ent.Event{ID: gid.New(gid.Event), Seq: 123456}))
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		c.MarshalGQL(&buf)
	}
}

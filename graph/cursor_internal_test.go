package graph

import (
	"bytes"
	"encoding/base64"
	"math"
	"reflect"
	"runtime"
	"strconv"
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

// TestCursorsAreReadAsEntgqlReadsThem checks unmarshalCursor against
// entgql's own Cursor.UnmarshalGQL: the same cursor, or an error for the
// same inputs, and less than one decoder's worth of allocation (entgql's
// allocates a 4 KiB bufio.Reader and a base64 decoder per cursor).
func TestCursorsAreReadAsEntgqlReadsThem(t *testing.T) {
	id := gid.New(gid.Event)
	var inputs []any
	for _, value := range []any{
		nil, 0, 1, -1, 128, int64(123456), int64(math.MaxInt64), int64(math.MinInt64),
		"", "Checkout flow", string(make([]byte, 300)), feedback.StatusOPEN,
		time.Date(2026, 11, 30, 15, 0, 0, 123456789, time.UTC), 3.5,
	} {
		var b bytes.Buffer
		ent.Cursor{ID: id, Value: value}.MarshalGQL(&b)
		quoted := b.String()
		s, err := strconv.Unquote(quoted)
		if err != nil {
			t.Fatalf("entgql wrote %s: %v", quoted, err)
		}
		inputs = append(inputs, s, s[:len(s)/2], s+"!", s+"\n")
	}
	inputs = append(inputs, 42, nil, "", "!!!!", base64.RawStdEncoding.EncodeToString([]byte{0xc1}),
		base64.RawStdEncoding.EncodeToString([]byte{0x92, 0xa1, 'x'}), base64.StdEncoding.EncodeToString([]byte{0x80}))
	for _, in := range inputs {
		var want, got ent.Cursor
		wantErr := want.UnmarshalGQL(in)
		gotErr := unmarshalCursor(&got, in)
		// On an error, entgql leaves what it had decoded; no caller reads it.
		if (gotErr == nil) != (wantErr == nil) || wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("cursor %#v: %#v, %v; entgql reads %#v, %v", in, got, gotErr, want, wantErr)
		}
	}

	in := inputs[4*5] // an integer value
	var c ent.Cursor
	if err := unmarshalCursor(&c, in); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 100
	for range n {
		_ = unmarshalCursor(&c, in)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 512 {
		t.Errorf("decoding a cursor allocates %d bytes; want under 512", per)
	}
}

// BenchmarkCursorUnmarshalPooled is BenchmarkCursorUnmarshal (entgql's
// decoder) through unmarshalCursor.
func BenchmarkCursorUnmarshalPooled(b *testing.B) {
	var buf bytes.Buffer
	cursorMarshaler(*eventCursor(&ent.Event{ID: gid.New(gid.Event), Seq: 123456})).MarshalGQL(&buf)
	s := any(string(bytes.Trim(buf.Bytes(), `"`)))
	b.ReportAllocs()
	for b.Loop() {
		var c ent.Cursor
		if err := unmarshalCursor(&c, s); err != nil {
			b.Fatal(err)
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

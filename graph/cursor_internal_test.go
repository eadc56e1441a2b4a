package graph

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strconv"
	"strings"
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
		nil, 0, 1, -1, 127, 128, 1 << 20, int64(0), int64(-1), int64(123456), int64(math.MaxInt64), int64(math.MinInt64),
		"", "Checkout flow", strings.Repeat("x", 31), strings.Repeat("x", 32), strings.Repeat("x", 255), string(make([]byte, 300)), strings.Repeat("x", 70000), feedback.StatusOPEN,
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
		"", "Checkout flow", strings.Repeat("x", 31), strings.Repeat("x", 32), strings.Repeat("x", 255), string(make([]byte, 300)), strings.Repeat("x", 70000), feedback.StatusOPEN,
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
	inputs = append(inputs, longCursorInputs(t, id)...)
	for _, in := range inputs {
		requireEntgqlParity(t, in)
	}

	in := inputs[4*5] // an integer value
	var c ent.Cursor
	if err := unmarshalCursor(&c, in); err != nil {
		t.Fatal(err)
	}
	// Under -race sync.Pool drops some of what is put back, and a drop
	// costs a msgpack decoder (~1.3 KB): a bound that still tells a
	// decoded padding (541 KB) from none.
	bound := uint64(512)
	if raceEnabled {
		bound = 4 << 10
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 100
	for range n {
		_ = unmarshalCursor(&c, in)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > bound {
		t.Errorf("decoding a cursor allocates %d bytes; want under %d", per, bound)
	}

	// A cursor padded to 700 KB is read from its first cursorChunk
	// characters: what it costs does not grow with the padding.
	padded := in.(string) + strings.Repeat("A", 700<<10)
	if err := unmarshalCursor(&c, padded); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&before)
	for range n {
		_ = unmarshalCursor(&c, padded)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > bound {
		t.Errorf("decoding a cursor padded to 700 KB allocates %d bytes; want under %d", per, bound)
	}
}

// longCursorInputs are cursors longer than the part unmarshalCursor
// decodes first: valid cursors padded with long tails of base64 and of
// garbage; values that go on past the first parts (long strings), whole,
// cut short, and broken (a bad quantum, padding, newlines that move the
// quanta) on either side of where each part ends.
func longCursorInputs(t *testing.T, id gid.ID) []any {
	t.Helper()
	encode := func(value any) string {
		var b bytes.Buffer
		ent.Cursor{ID: id, Value: value}.MarshalGQL(&b)
		s, err := strconv.Unquote(b.String())
		if err != nil {
			t.Fatalf("entgql wrote %s: %v", b.String(), err)
		}
		return s
	}
	// Where the parts unmarshalCursor decodes end, in characters.
	var ends []int
	for end, chunk := cursorChunk, cursorChunk; end < 200<<10; chunk *= 8 {
		ends = append(ends, end)
		end += chunk * 8
	}
	short := encode(int64(123456))
	var inputs []any
	for _, n := range []int{cursorChunk - len(short) - 1, cursorChunk - len(short), cursorChunk, 3 * cursorChunk, 700 << 10} {
		pad := strings.Repeat("A", n)
		inputs = append(inputs,
			short+pad, short+pad+"!", short+pad+"A", short+pad+"AA", short+pad+"\n", short+"!"+pad, short+pad[:n/2]+"!"+pad)
	}
	for _, end := range ends {
		for _, size := range []int{end*3/4 - 20, end*3/4 - 14, end * 3 / 4, end} {
			long := encode(strings.Repeat("x", size))
			inputs = append(inputs, long, long+"!", long+strings.Repeat("A", 9000), long[:len(long)-1],
				long[:len(long)-3], long[:len(long)/2])
			if len(long) <= end+8 {
				continue
			}
			inputs = append(inputs, long[:end], long[:end+1], long[:end+2],
				long[:end+4]+"!"+long[end+5:],               // a bad quantum after a part
				long[:end-4]+"!"+long[end-3:],               // and just before its end
				long[:end]+"="+long[end+1:],                 // padding where none belongs
				long[:end-1]+"\n"+long[end-1:],              // a newline the decoder skips
				"\n\r"+long[:end-3]+"\n"+long[end-3:],       // newlines moving the quanta
				long[:end-2]+"\n"+long[end-2:]+"!",          // and garbage after the value
				long[:end-1]+"\r\n"+long[end-1:len(long)-1]) // and the value cut short
		}
	}
	return inputs
}

// requireEntgqlParity fails t if unmarshalCursor and entgql's
// Cursor.UnmarshalGQL do not both accept in, with the same cursor, or
// both refuse it.
func requireEntgqlParity(t *testing.T, in any) {
	t.Helper()
	var want, got ent.Cursor
	wantErr := want.UnmarshalGQL(in)
	gotErr := unmarshalCursor(&got, in)
	// On an error, entgql leaves what it had decoded; no caller reads it.
	if (gotErr == nil) != (wantErr == nil) || wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Errorf("cursor %s: %s, %v; entgql reads %s, %v", brief(in), brief(got), gotErr, brief(want), wantErr)
	}
}

// brief is v in Go syntax, cut to a length a failure message can show.
func brief(v any) string {
	s := fmt.Sprintf("%#v", v)
	if len(s) > 200 {
		return fmt.Sprintf("%s… (%d bytes)", s[:200], len(s))
	}
	return s
}

// FuzzCursorsAreReadAsEntgqlReadsThem runs requireEntgqlParity on any
// input, seeded with cursors of every kind of value and their long forms.
func FuzzCursorsAreReadAsEntgqlReadsThem(f *testing.F) {
	id := gid.New(gid.Event)
	for _, value := range []any{nil, 1, int64(123456), "Checkout flow", strings.Repeat("x", cursorChunk), time.Now(), 3.5} {
		var b bytes.Buffer
		ent.Cursor{ID: id, Value: value}.MarshalGQL(&b)
		s := strings.Trim(b.String(), `"`)
		f.Add(s)
		f.Add(s + strings.Repeat("A", cursorChunk))
		f.Add(s + "!" + strings.Repeat("A", cursorChunk))
	}
	f.Fuzz(func(t *testing.T, s string) {
		requireEntgqlParity(t, s)
	})
}

// BenchmarkCursorUnmarshalLong is a cursor padded to 700 KB with base64
// that decodes, through unmarshalCursor, and BenchmarkCursorUnmarshalLongEntgql
// through entgql's decoder: ArgumentGuard decodes every cursor argument of a
// document, so this bounds what a large request's cursors can cost.
func BenchmarkCursorUnmarshalLong(b *testing.B) {
	benchmarkLongCursor(b, unmarshalCursor)
}

func BenchmarkCursorUnmarshalLongEntgql(b *testing.B) {
	benchmarkLongCursor(b, func(c *ent.Cursor, v any) error { return c.UnmarshalGQL(v) })
}

func benchmarkLongCursor(b *testing.B, unmarshal func(*ent.Cursor, any) error) {
	var buf bytes.Buffer
	cursorMarshaler(*eventCursor(&ent.Event{ID: gid.New(gid.Event), Seq: 123456})).MarshalGQL(&buf)
	s := any(string(bytes.Trim(buf.Bytes(), `"`)) + strings.Repeat("A", 700<<10))
	b.ReportAllocs()
	for b.Loop() {
		var c ent.Cursor
		if err := unmarshal(&c, s); err != nil {
			b.Fatal(err)
		}
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

// TestCursorsOfTheCommonOrdersAllocateNothing writes cursors of an ID
// alone and of an ID and a number or a string (the orders by ID, SEQ,
// NUMBER of an int64, TITLE…) into the executor's buffer without
// allocating: msgpack's encoder boxed the cursor and listed its fields
// anew for each.
func TestCursorsOfTheCommonOrdersAllocateNothing(t *testing.T) {
	id := gid.New(gid.Event)
	var buf bytes.Buffer
	buf.Grow(1 << 10)
	for _, value := range []any{nil, int64(0), int64(123456789), "", "Checkout flow"} {
		c := cursorMarshaler{ID: id, Value: value}
		if allocs := testing.AllocsPerRun(100, func() {
			buf.Reset()
			c.MarshalGQL(&buf)
		}); allocs != 0 {
			t.Errorf("cursor of %T %v: %v allocations, want none", value, value, allocs)
		}
	}
}

package graph

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/schema/gid"
)

// badCursor refuses an after/before cursor that cannot be decoded, or
// carries a value that cannot be what the connection is ordered by (see
// ArgumentGuard). entgql's field collection decodes the cursors of nested
// connections itself and does not expect a bad one (it would panic), and
// entgql puts a cursor's value into SQL as it is: an array, or a string
// compared with a number column, is a driver error. So they are checked
// before any resolver runs, once, for the whole document.
func badCursor(oc *graphql.OperationContext, f *ast.Field, arg *ast.Argument, def *ast.ArgumentDefinition) *gqlerror.Error {
	if def.Type.Name() != "Cursor" {
		return nil
	}
	v, err := arg.Value.Value(oc.Variables)
	if err != nil || v == nil {
		return nil
	}
	var c ent.Cursor
	if unmarshalCursor(&c, v) == nil && cursorValueFits(c.Value, orderField(f, oc.Variables)) {
		return nil
	}
	e := gqlerror.Errorf("%s: not a cursor this API issued for this order", arg.Name)
	e.Extensions = map[string]any{"code": string(CodeBadUserInput), "field": arg.Name}
	return e
}

// orderField returns the field (CREATED_AT, TITLE…) a connection field's
// orderBy names, or "" for none.
func orderField(f *ast.Field, vars map[string]any) string {
	arg := f.Arguments.ForName("orderBy")
	if arg == nil || arg.Value == nil {
		return ""
	}
	v, err := arg.Value.Value(vars)
	if err != nil {
		return ""
	}
	m, _ := v.(map[string]any)
	field, _ := m["field"].(string)
	return field
}

// The order fields whose values are numbers and strings. Times are those
// ending in _AT. A field in neither list takes any scalar.
var (
	numberOrders = []string{"SEQ", "NUMBER", "RATING", "MINUTES_SAVED_PER_DAY", "VOTE_COUNT", "HEADCOUNT"}
	stringOrders = []string{"TITLE", "SLUG", "NAME", "STATUS", "KIND"}
)

// cursorValueFits reports whether a cursor's value (the ordering field's
// value of the row it points at) is of that field's type: a time for
// CREATED_AT, a number for NUMBER, and so on. Null always fits (nullable
// fields, and cursors of connections in ID order).
func cursorValueFits(v any, field string) bool {
	if v == nil {
		return true
	}
	_, isTime := v.(time.Time)
	k := reflect.ValueOf(v).Kind()
	isNumber := k >= reflect.Int && k <= reflect.Uint64 || k == reflect.Float32 || k == reflect.Float64
	isString := k == reflect.String
	switch {
	case strings.HasSuffix(field, "_AT"):
		return isTime
	case slices.Contains(numberOrders, field):
		return isNumber
	case slices.Contains(stringOrders, field):
		return isString
	}
	return isTime || isNumber || isString || k == reflect.Bool
}

// cursorMarshaler writes an edge's cursor as entgql's Cursor.MarshalGQL
// does, byte for byte (msgpack, then unpadded base64, quoted): entgql
// makes a msgpack encoder and a base64 writer for every cursor (1.3 KB and
// 10 allocations), and a page writes one per edge. The cursors of the
// common orders, by ID alone or by a number or a string column, are
// encoded here (appendCursor); those of other values with msgpack's
// pooled encoder and a pooled buffer. The executor marshals cursors with
// it (see graph/internal/gqlgen), a plain edge's by pointer.
type cursorMarshaler ent.Cursor

var cursorBuffers = sync.Pool{New: func() any { return new(cursorBuffer) }}

type cursorBuffer struct {
	msgpack bytes.Buffer
	out     []byte
}

// MarshalGQL implements graphql.Marshaler.
func (c cursorMarshaler) MarshalGQL(w io.Writer) {
	var small [48]byte // an ID and an int64 take 23 bytes
	if packed, ok := appendCursor(small[:0], ent.Cursor(c)); ok {
		writeCursor(w, packed)
		return
	}
	b := cursorBuffers.Get().(*cursorBuffer)
	defer cursorBuffers.Put(b)
	b.msgpack.Reset()
	enc := msgpack.GetEncoder()
	enc.Reset(&b.msgpack)
	cursor := ent.Cursor(c) // the fast path does not take c's address
	err := enc.Encode(&cursor)
	msgpack.PutEncoder(enc)
	if err != nil {
		// entgql's MarshalGQL ignores the error too; what it wrote of the
		// cursor is what a client gets, and cannot use.
		ent.Cursor(c).MarshalGQL(w)
		return
	}
	writeCursor(w, b.msgpack.Bytes())
}

// writeCursor writes packed, a cursor's msgpack, to w in base64 between
// quotes: into a *bytes.Buffer's free space (the executor's), else
// through a buffer of its own.
func writeCursor(w io.Writer, packed []byte) {
	if b, ok := w.(*bytes.Buffer); ok {
		out := append(b.AvailableBuffer(), '"')
		out = base64.RawStdEncoding.AppendEncode(out, packed)
		b.Write(append(out, '"'))
		return
	}
	out := make([]byte, 0, base64.RawStdEncoding.EncodedLen(len(packed))+2)
	out = append(out, '"')
	out = base64.RawStdEncoding.AppendEncode(out, packed)
	_, _ = w.Write(append(out, '"'))
}

// The msgpack codes appendCursor writes.
const (
	msgpackFixMap = 0x80 // | entries, below 16
	msgpackFixStr = 0xa0 // | length, below 32
	msgpackStr8   = 0xd9
	msgpackStr16  = 0xda
	msgpackStr32  = 0xdb
	msgpackInt64  = 0xd3
)

// appendCursor appends c as msgpack encodes entgql's Cursor (a map of
// "i", the ID as an int64, and "v", the value, left out when it is nil
// or its type's zero, as msgpack's omitempty does), for a value that is
// nil, an int64 or a string; false for any other, which msgpack encodes
// by its type's rules (an int in the fewest bytes, a time as an
// extension). TestCursorsAreWrittenAsEntgqlWritesThem holds the two
// encodings together.
func appendCursor(b []byte, c ent.Cursor) ([]byte, bool) {
	switch v := c.Value.(type) {
	case nil:
		return appendCursorID(b, c.ID, 1), true
	case int64:
		if v == 0 {
			return appendCursorID(b, c.ID, 1), true
		}
		b = append(appendCursorID(b, c.ID, 2), msgpackFixStr|1, 'v', msgpackInt64)
		return binary.BigEndian.AppendUint64(b, uint64(v)), true
	case string:
		if v == "" {
			return appendCursorID(b, c.ID, 1), true
		}
		b = append(appendCursorID(b, c.ID, 2), msgpackFixStr|1, 'v')
		switch n := len(v); {
		case n < 32:
			b = append(b, msgpackFixStr|byte(n))
		case n <= math.MaxUint8:
			b = append(b, msgpackStr8, byte(n))
		case n <= math.MaxUint16:
			b = binary.BigEndian.AppendUint16(append(b, msgpackStr16), uint16(n))
		default:
			b = binary.BigEndian.AppendUint32(append(b, msgpackStr32), uint32(n))
		}
		return append(b, v...), true
	}
	return b, false
}

// appendCursorID appends the head of a cursor's map of entries entries,
// and its first, the ID.
func appendCursorID(b []byte, id gid.ID, entries byte) []byte {
	b = append(b, msgpackFixMap|entries, msgpackFixStr|1, 'i', msgpackInt64)
	return binary.BigEndian.AppendUint64(b, uint64(id))
}

// unmarshalCursor decodes a cursor as entgql's Cursor.UnmarshalGQL does
// (unpadded base64, then msgpack), with its errors, but from the decoded
// bytes with msgpack's pooled decoder: entgql's makes a streaming base64
// decoder and a msgpack decoder over a 4 KiB bufio.Reader for every
// cursor, ~6 KB of garbage, and a subscription's after cursor is decoded
// twice (ArgumentGuard, then its argument). The executor unmarshals cursors
// with it (see graph/internal/gqlgen).
//
// Like entgql's streaming decoder, it decodes little more of the input
// than msgpack reads: the first cursorChunk characters, then eight times
// as many as it has each time msgpack runs out. ArgumentGuard decodes every
// cursor argument of a document, and a client may pad a cursor with a
// megabyte of base64 that msgpack never reads.
func unmarshalCursor(c *ent.Cursor, v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("%T is not a string", v)
	}
	var small [64]byte // a cursor of an ID and an integer or time takes ~30
	var (
		data     = small[:0]
		rest     = s
		bad, err error
		chunk    = cursorChunk
		seg      string
		segBad   error
	)
	for {
		// Each part but the last ends on a quantum, so decoding the parts
		// one after the other appends what decoding s whole would have.
		seg, rest = splitCursor(rest, chunk)
		// entgql's streaming decoder hands msgpack what comes before a
		// bad quantum and fails only if msgpack reads further: a cursor
		// followed by garbage is read. AppendDecode returns that part too.
		data, segBad = base64.RawStdEncoding.AppendDecode(data, []byte(seg))
		if at, isCorrupt := segBad.(base64.CorruptInputError); isCorrupt {
			bad = at + base64.CorruptInputError(len(s)-len(rest)-len(seg)) // an offset in s
		} else if segBad != nil {
			bad = segBad
		}
		err = decodeCursor(c, data)
		if rest == "" || bad != nil || !isEOF(err) {
			break
		}
		chunk *= 8
	}
	if bad != nil && isEOF(err) {
		err = bad
	}
	if err != nil {
		return fmt.Errorf("cannot decode cursor: %w", err)
	}
	return nil
}

// cursorChunk is how many base64 characters of a cursor unmarshalCursor
// decodes first: 48 bytes, more than a cursor of an ID and a number or a
// time takes. A multiple of 4, so that the part ends on a quantum.
const cursorChunk = 64

// splitCursor cuts s after its first n base64 characters (n a multiple of
// 4), not counting the newlines the decoder skips, so that head ends on a
// quantum boundary of the decoder's input.
func splitCursor(s string, n int) (head, rest string) {
	if len(s) <= n {
		return s, ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' || s[i] == '\r' {
			continue
		}
		if n--; n == 0 {
			return s[:i+1], s[i+1:]
		}
	}
	return s, ""
}

// decodeCursor decodes msgpack data into c with msgpack's pooled decoder.
func decodeCursor(c *ent.Cursor, data []byte) error {
	// msgpack decodes into a Value that holds something already, and
	// panics on a non-pointer one: start from nothing.
	*c = ent.Cursor{}
	dec := msgpack.GetDecoder()
	dec.Reset(bytes.NewReader(data))
	err := dec.Decode(c)
	msgpack.PutDecoder(dec)
	return err
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

package graph

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/event"
	"github.com/protoloop/protoloop/ent/feedback"
	"github.com/protoloop/protoloop/ent/schema/gid"
)

// TestScalarsAtPointersAreWrittenAsGqlgenWritesThem compares stringAt,
// intAt and int64At with gqlgen's MarshalString, MarshalInt and
// MarshalInt64 on values that need
// escaping or are at the ends of their range, and checks that a nil
// pointer is graphql.Null itself, which the executor compares with.
func TestScalarsAtPointersAreWrittenAsGqlgenWritesThem(t *testing.T) {
	write := func(m graphql.Marshaler) string {
		var b bytes.Buffer
		m.MarshalGQL(&b)
		return b.String()
	}
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "<b>&amp;</b>", "tab\tnewline\nnul\x00", "bad utf-8 \xff\xfe", "é ✓ 🙂", "\u2028\u2029"} {
		if got, want := write(stringAt{&s}), write(graphql.MarshalString(s)); got != want {
			t.Errorf("stringAt(%q) wrote %s, MarshalString %s", s, got, want)
		}
		if got, want := write(marshalStringAt(&s)), write(graphql.MarshalString(s)); got != want {
			t.Errorf("marshalStringAt(%q) wrote %s, MarshalString %s", s, got, want)
		}
	}
	checkIntsAt(t, "Int", []int{0, 1, -1, 99, 100, 480, -1 << 63, 1<<63 - 1},
		func(n *int) graphql.Marshaler { return intAt{n} }, marshalIntAt, graphql.MarshalInt)
	checkIntsAt(t, "Int64", []int64{0, 1, -1, 99, 100, 123456789, -1 << 63, 1<<63 - 1},
		func(n *int64) graphql.Marshaler { return int64At{n} }, marshalInt64At, graphql.MarshalInt64)
	if marshalStringAt(nil) != graphql.Null || marshalIntAt(nil) != graphql.Null || marshalInt64At(nil) != graphql.Null {
		t.Error("a nil pointer is not graphql.Null")
	}
}

// checkIntsAt checks that each of values is written by at (into a
// bytes.Buffer and a strings.Builder) and by marshalAt as gqlgen's
// marshal writes it.
func checkIntsAt[T int | int64](t *testing.T, name string, values []T, at, marshalAt func(*T) graphql.Marshaler, marshal func(T) graphql.Marshaler) {
	t.Helper()
	for _, n := range values {
		var want bytes.Buffer
		marshal(n).MarshalGQL(&want)
		for _, w := range []interface {
			io.Writer
			fmt.Stringer
		}{new(bytes.Buffer), new(strings.Builder)} {
			if got := writeTo(w, at(&n)); got != want.String() {
				t.Errorf("%s at %d wrote %s into a %T, Marshal%s %s", name, n, got, w, name, want.String())
			}
		}
		var got bytes.Buffer
		marshalAt(&n).MarshalGQL(&got)
		if got.String() != want.String() {
			t.Errorf("marshal%sAt(%d) wrote %s, Marshal%s %s", name, n, got.String(), name, want.String())
		}
	}
}

// TestPlainFieldsAllocateNothing resolves and writes the dashboard's plain
// fields of a feedback (an ID, an enum, a String, a nullable Int, set and
// not) and checks that the executor allocates nothing for them beyond
// what their type's own MarshalGQL does: each allocated its value's box or gqlgen's
// closure before they were marshalled by pointer.
func TestPlainFieldsAllocateNothing(t *testing.T) {
	ec := newExecutionContext(&graphql.OperationContext{}, NewExecutableSchema(Config{Resolvers: &Resolver{}}).(*executableSchema), nil)
	ctx := context.Background()
	field := graphql.CollectedField{Field: &ast.Field{Alias: "f", Name: "f"}}
	rating := 4
	rated := &ent.Feedback{ID: gid.New(gid.Feedback), Kind: feedback.KindIDEA, Body: "a \"quoted\" <body>", Rating: &rating}
	unrated := &ent.Feedback{ID: gid.New(gid.Feedback), Kind: feedback.KindBUG, Body: "b"}
	var buf bytes.Buffer
	buf.Grow(1 << 12)
	for _, c := range []struct {
		name    string
		resolve func(context.Context, graphql.CollectedField, *ent.Feedback) graphql.Marshaler
		itself  func(*ent.Feedback)
	}{
		{"id", ec._Feedback_id, func(f *ent.Feedback) { f.ID.MarshalGQL(&buf) }},
		{"kind", ec._Feedback_kind, func(f *ent.Feedback) { f.Kind.MarshalGQL(&buf) }},
		{"body", ec._Feedback_body, func(*ent.Feedback) {}},
		{"rating", ec._Feedback_rating, func(*ent.Feedback) {}},
	} {
		for _, f := range []*ent.Feedback{rated, unrated} {
			allocs := testing.AllocsPerRun(100, func() {
				buf.Reset()
				c.resolve(ctx, field, f).MarshalGQL(&buf)
			})
			written := buf.String()
			own := testing.AllocsPerRun(100, func() {
				buf.Reset()
				c.itself(f)
			})
			if allocs != own {
				t.Errorf("Feedback.%s of %s: %v allocations, want %v (its type's own)", c.name, written, allocs, own)
			}
		}
	}
	// What they write is what the marshallers gqlgen calls write.
	for _, c := range []struct {
		got, want graphql.Marshaler
	}{
		{ec._Feedback_id(ctx, field, rated), rated.ID},
		{ec._Feedback_kind(ctx, field, rated), rated.Kind},
		{ec._Feedback_body(ctx, field, rated), graphql.MarshalString(rated.Body)},
		{ec._Feedback_rating(ctx, field, rated), graphql.MarshalInt(rating)},
		{ec._Feedback_rating(ctx, field, unrated), graphql.Null},
	} {
		var got, want bytes.Buffer
		c.got.MarshalGQL(&got)
		c.want.MarshalGQL(&want)
		if got.String() != want.String() {
			t.Errorf("wrote %s, want %s", got.String(), want.String())
		}
	}
}

// TestTimesAreWrittenAsGqlgenWritesThem compares marshalTime and
// marshalTimeAt with gqlgen's MarshalTime, into the executor's buffer and
// into another writer, on times in other zones, with and without
// fractions, and at years RFC 3339 does not expect; the zero time is
// graphql.Null itself, which the executor reports for a non-null field.
func TestTimesAreWrittenAsGqlgenWritesThem(t *testing.T) {
	east := time.FixedZone("", 5*3600+30*60)
	west := time.FixedZone("", -(9*3600 + 15*60 + 7))
	times := []time.Time{
		time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC),
		time.Date(2026, 12, 1, 9, 30, 0, 123456789, time.UTC),
		time.Date(2026, 12, 1, 9, 30, 0, 120000000, east),
		time.Date(1999, 1, 2, 3, 4, 5, 1, west),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(1, 0),
		time.Now(),
	}
	for _, tm := range times {
		want := writeTo(new(bytes.Buffer), graphql.MarshalTime(tm))
		for name, m := range map[string]graphql.Marshaler{"marshalTime": marshalTime(tm), "marshalTimeAt": marshalTimeAt(&tm)} {
			if got := writeTo(new(bytes.Buffer), m); got != want {
				t.Errorf("%s(%v) wrote %s into a buffer, MarshalTime %s", name, tm, got, want)
			}
			if got := writeTo(new(strings.Builder), m); got != want {
				t.Errorf("%s(%v) wrote %s into a strings.Builder, MarshalTime %s", name, tm, got, want)
			}
		}
	}
	var zero time.Time
	if marshalTime(zero) != graphql.Null || marshalTimeAt(&zero) != graphql.Null {
		t.Error("the zero time is not graphql.Null")
	}
}

func writeTo[W interface {
	io.Writer
	String() string
}](w W, m graphql.Marshaler) string {
	m.MarshalGQL(w)
	return w.String()
}

// TestTimesAllocateOnlyThemselves counts what writing a time costs the
// executor: gqlgen's MarshalTime allocated four times (its closure, the
// formatted time, strconv.Quote's buffer and string); a non-null time now
// allocates its copy, a nullable one held by pointer nothing.
func TestTimesAllocateOnlyThemselves(t *testing.T) {
	tm := time.Date(2026, 12, 1, 9, 30, 0, 123456789, time.UTC)
	var buf bytes.Buffer
	buf.Grow(1 << 10)
	for _, c := range []struct {
		name  string
		write func()
		want  float64
	}{
		{"marshalTime", func() { marshalTime(tm).MarshalGQL(&buf) }, 1},
		{"marshalTimeAt", func() { marshalTimeAt(&tm).MarshalGQL(&buf) }, 0},
	} {
		if got := testing.AllocsPerRun(100, func() { buf.Reset(); c.write() }); got != c.want {
			t.Errorf("%s: %v allocations per time, want %v", c.name, got, c.want)
		}
	}
}

// TestEnumsAreWrittenAsQuoteWritesThem checks ent's enums (their
// MarshalGQL as ent/entc.go patches it) against strconv.Quote, into the
// executor's buffer and into another writer, for values of a feedback's
// kind and status and of an event's kind, and for values that
// would need escaping (an enum read from a row that no validator saw),
// and that into a buffer with room they allocate nothing: strconv.Quote's
// buffer and string were two allocations per value.
func TestEnumsAreWrittenAsQuoteWritesThem(t *testing.T) {
	enums := []graphql.Marshaler{
		feedback.KindBUG, feedback.KindIDEA, feedback.KindWORKAROUND,
		feedback.StatusOPEN, feedback.StatusACKNOWLEDGED, feedback.StatusDECLINED,
		event.KindFEEDBACK_ADDED, event.KindFEEDBACK_STATUS_CHANGED,
	}
	enums = append(enums, feedback.Kind(""), feedback.Kind(`quote " backslash \ tab \t`), feedback.Kind("bad utf-8 \xff é"))
	for _, e := range enums {
		want := strconv.Quote(fmt.Sprint(e))
		if got := writeTo(new(bytes.Buffer), e); got != want {
			t.Errorf("%T %q wrote %s into a buffer, want %s", e, e, got, want)
		}
		if got := writeTo(new(strings.Builder), e); got != want {
			t.Errorf("%T %q wrote %s into a strings.Builder, want %s", e, e, got, want)
		}
	}
	var buf bytes.Buffer
	buf.Grow(1 << 10)
	for _, e := range []graphql.Marshaler{feedback.KindWORKAROUND, feedback.StatusACKNOWLEDGED, event.KindFEEDBACK_STATUS_CHANGED} {
		if got := testing.AllocsPerRun(100, func() { buf.Reset(); e.MarshalGQL(&buf) }); got != 0 {
			t.Errorf("%T %v: %v allocations into a buffer with room, want 0", e, e, got)
		}
	}
}

// TestTimelineEdgesWriteTheirScalarsAndCursorsWithoutAllocating writes a
// timeline edge's cursor, its event's seq and occurredAt and the page's
// end cursor as the executor does and counts no allocation: each
// allocated gqlgen's closure or the cursor's box, and their formatted
// number (a seq), a msgpack encoder's struct (a cursor) or a field context
// and the time's copy (occurredAt), before they were marshalled by pointer
// into the executor's buffer. What they write is what gqlgen's and
// entgql's marshallers write.
func TestTimelineEdgesWriteTheirScalarsAndCursorsWithoutAllocating(t *testing.T) {
	ec := newExecutionContext(&graphql.OperationContext{}, NewExecutableSchema(Config{Resolvers: &Resolver{}}).(*executableSchema), nil)
	ctx := context.Background()
	field := graphql.CollectedField{Field: &ast.Field{Alias: "f", Name: "f"}}
	e := &ent.Event{ID: gid.New(gid.Event), Seq: 123456789, OccurredAt: time.Date(2026, 12, 1, 19, 30, 0, 123456000, time.UTC)}
	edge := &ent.EventEdge{Node: e, Cursor: *eventCursor(e)}
	page := &ent.PageInfo{EndCursor: &edge.Cursor}
	var buf bytes.Buffer
	buf.Grow(1 << 12)
	for _, c := range []struct {
		name    string
		resolve func() graphql.Marshaler
		want    graphql.Marshaler
	}{
		{"Event.seq", func() graphql.Marshaler { return ec._Event_seq(ctx, field, e) }, graphql.MarshalInt64(e.Seq)},
		{"Event.occurredAt", func() graphql.Marshaler { return ec._Event_occurredAt(ctx, field, e) }, graphql.MarshalTime(e.OccurredAt)},
		{"EventEdge.cursor", func() graphql.Marshaler { return ec._EventEdge_cursor(ctx, field, edge) }, edge.Cursor},
		{"PageInfo.endCursor", func() graphql.Marshaler { return ec._PageInfo_endCursor(ctx, field, page) }, edge.Cursor},
	} {
		if allocs := testing.AllocsPerRun(100, func() {
			buf.Reset()
			c.resolve().MarshalGQL(&buf)
		}); allocs != 0 {
			t.Errorf("%s: %v allocations, want none", c.name, allocs)
		}
		if got, want := writeTo(new(bytes.Buffer), c.resolve()), writeTo(new(bytes.Buffer), c.want); got != want {
			t.Errorf("%s wrote %s, want %s", c.name, got, want)
		}
	}
}

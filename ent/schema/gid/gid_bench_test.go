package gid_test

import (
	"io"
	"testing"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

// The ID codec runs for every ID in every response and every argument:
// a page of 50 feedback with authors writes over a hundred of them.

// sink keeps results alive, so that the compiler cannot drop the work.
var sink string

func BenchmarkIDString(b *testing.B) {
	id := gid.New(gid.Feedback)
	b.ReportAllocs()
	for b.Loop() {
		sink = id.String()
	}
}

func BenchmarkIDMarshalGQL(b *testing.B) {
	id := gid.New(gid.Feedback)
	b.ReportAllocs()
	for b.Loop() {
		id.MarshalGQL(io.Discard)
	}
}

func BenchmarkParse(b *testing.B) {
	s := gid.New(gid.Feedback).String()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gid.Parse(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIDUnmarshalGQL(b *testing.B) {
	s := any(gid.New(gid.Feedback).String())
	b.ReportAllocs()
	for b.Loop() {
		var id gid.ID
		if err := id.UnmarshalGQL(s); err != nil {
			b.Fatal(err)
		}
	}
}

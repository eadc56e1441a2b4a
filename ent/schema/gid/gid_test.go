package gid_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

var allTypes = []gid.Type{
	gid.Workspace, gid.User, gid.Membership, gid.Prototype, gid.Iteration, gid.Participant,
	gid.Invite, gid.Trial, gid.Feedback, gid.Comment, gid.Vote, gid.Event, gid.AuthToken,
	gid.AlertRule, gid.Webhook, gid.WebhookDelivery,
}

func TestNewIDsCarryTheirTypeAndRoundTrip(t *testing.T) {
	for _, typ := range allTypes {
		seen := map[gid.ID]bool{}
		for range 1000 {
			id := gid.New(typ)
			if id <= 0 {
				t.Fatalf("New(%d) = %d, want a positive integer", typ, id)
			}
			if id.Type() != typ || id.Table() == "" {
				t.Fatalf("New(%d) has type %d and table %q", typ, id.Type(), id.Table())
			}
			if seen[id] {
				t.Fatalf("New(%d) drew %s twice in 1,000 draws", typ, id)
			}
			seen[id] = true
			back, err := gid.Parse(id.String())
			if err != nil || back != id {
				t.Fatalf("Parse(%q) = %d, %v; want %d", id.String(), back, err, id)
			}
		}
	}
}

func TestParseAcceptsOnlyTheCanonicalForm(t *testing.T) {
	good := gid.New(gid.Feedback).String()
	prefix, body, _ := strings.Cut(good, "_")
	for name, s := range map[string]string{
		"an empty string":            "",
		"no separator":               prefix + body,
		"an unknown prefix":          "xx_" + body,
		"a digit too few":            prefix + "_" + body[1:],
		"a digit too many":           good + "0",
		"a character outside base62": prefix + "_" + body[:9] + "-",
		"a value past 56 bits":       prefix + "_zzzzzzzzzz",
		"a bare integer":             "12345",
	} {
		t.Run("rejects "+name, func(t *testing.T) {
			if _, err := gid.Parse(s); !errors.Is(err, gid.ErrInvalid) {
				t.Errorf("Parse(%q) error = %v, want gid.ErrInvalid", s, err)
			}
		})
	}
}

func TestGraphQLAndSQLForms(t *testing.T) {
	id := gid.New(gid.Prototype)
	var buf bytes.Buffer
	id.MarshalGQL(&buf)
	if want := `"` + id.String() + `"`; buf.String() != want {
		t.Errorf("MarshalGQL wrote %s, want %s", buf.String(), want)
	}
	var fromString, fromID, scanned gid.ID
	if err := fromString.UnmarshalGQL(id.String()); err != nil || fromString != id {
		t.Errorf("UnmarshalGQL(string) = %d, %v", fromString, err)
	}
	if err := fromID.UnmarshalGQL(id); err != nil || fromID != id {
		t.Errorf("UnmarshalGQL(ID) = %d, %v", fromID, err)
	}
	if err := new(gid.ID).UnmarshalGQL(42); !errors.Is(err, gid.ErrInvalid) {
		t.Errorf("UnmarshalGQL(42) error = %v, want gid.ErrInvalid", err)
	}
	v, err := id.Value()
	if err != nil {
		t.Fatal(err)
	}
	if err := scanned.Scan(v); err != nil || scanned != id {
		t.Errorf("Scan(Value()) = %d, %v", scanned, err)
	}
	if err := scanned.Scan(&id); err != nil || scanned != id {
		t.Errorf("Scan(*ID) = %d, %v", scanned, err)
	}
}

// FuzzParse checks that no input makes Parse panic, and that whatever it
// accepts is canonical: it prints back exactly as given.
func FuzzParse(f *testing.F) {
	for _, typ := range allTypes {
		f.Add(gid.New(typ).String())
	}
	f.Add("fb_")
	f.Add("_0000000000")
	f.Add("fb_zzzzzzzzzz")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := gid.Parse(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("Parse(%q) accepted a form that prints as %q", s, id.String())
		}
	})
}

// TestMarshalGQLWritesTheSameToEveryWriter: an ID writes the same quoted
// global form to a bytes.Buffer and a bufio.Writer (which lend their spare
// room) as to a plain writer, after what they already hold; and into a
// bytes.Buffer with room, without allocating.
func TestMarshalGQLWritesTheSameToEveryWriter(t *testing.T) {
	for _, typ := range allTypes {
		id := gid.New(typ)
		want := `[1,"` + id.String() + `"`
		var buf bytes.Buffer
		buf.WriteString("[1,")
		id.MarshalGQL(&buf)
		var plain strings.Builder
		plain.WriteString("[1,")
		id.MarshalGQL(struct{ io.Writer }{&plain})
		var buffered bytes.Buffer
		bw := bufio.NewWriterSize(&buffered, 16) // smaller than an ID: no room to lend
		bw.WriteString("[1,")
		id.MarshalGQL(bw)
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		for name, got := range map[string]string{"bytes.Buffer": buf.String(), "plain writer": plain.String(), "bufio.Writer": buffered.String()} {
			if got != want {
				t.Errorf("%s: MarshalGQL wrote %s, want %s", name, got, want)
			}
		}
	}
	id := gid.New(gid.Feedback)
	buf := bytes.NewBuffer(make([]byte, 0, 64<<10))
	if n := testing.AllocsPerRun(100, func() { id.MarshalGQL(buf) }); n != 0 {
		t.Errorf("MarshalGQL into a bytes.Buffer with room allocates %v times, want 0", n)
	}
}

package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// appendDataByteByByte is appendData as it was before it searched for
// the bytes it changes: a switch on every byte. It is the reference the
// faster one must agree with.
func appendDataByteByByte(buf *bytes.Buffer, data []byte) {
	start := 0
	for i := 0; i < len(data); i++ {
		var esc string
		switch c := data[i]; c {
		case '<':
			esc = `\u003c`
		case '>':
			esc = `\u003e`
		case '&':
			esc = `\u0026`
		case '\n':
		case 0xE2:
			if i+2 >= len(data) || data[i+1] != 0x80 || data[i+2]&^1 != 0xA8 {
				continue
			}
			esc = `\u202` + string(rune('8'+data[i+2]-0xA8))
			buf.Write(data[start:i])
			buf.WriteString(esc)
			i += 2
			start = i + 1
			continue
		default:
			continue
		}
		buf.Write(data[start:i])
		buf.WriteString(esc)
		start = i + 1
	}
	buf.Write(data[start:])
}

var appendDataCases = []string{
	``,
	`{"data":1}`,
	`{"name":"<b>Tom & Jerry</b>"}`,
	"{\"m\":{\"a\":1}\n}\n",
	"\"\u2028\u2029\"",
	"\"\u2028\"<",
	"’s “quoted” — \u2027\u202a\u2028", // other characters that start with E2
	"\xe2", "\xe2\x80", "\xe2\x80\xa8", "x\xe2\x80\xa9", "\xe2\xe2\x80\xa8\xe2",
	"<<>>&&\n\n",
	`{"body":"` + strings.Repeat("plain text ", 500) + `&` + strings.Repeat("é", 300) + `"}`,
}

// TestAppendDataEscapesAsJSONMarshal: appendData writes what the byte by
// byte copy wrote, and, for compact JSON data, what json.Marshal writes
// for it as a json.RawMessage.
func TestAppendDataEscapesAsJSONMarshal(t *testing.T) {
	for _, data := range appendDataCases {
		var got, want bytes.Buffer
		got.WriteString("prefix")
		want.WriteString("prefix")
		appendData(&got, []byte(data))
		appendDataByteByByte(&want, []byte(data))
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("appendData(%q) = %q, want %q", data, got.Bytes(), want.Bytes())
		}
		if json.Valid([]byte(data)) {
			marshalled, err := json.Marshal(json.RawMessage(data))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes()[len("prefix"):], marshalled) {
				t.Errorf("appendData(%q) = %q, json.Marshal writes %q", data, got.Bytes()[len("prefix"):], marshalled)
			}
		}
	}
}

func FuzzAppendData(f *testing.F) {
	for _, data := range appendDataCases {
		f.Add([]byte(data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got, want bytes.Buffer
		appendData(&got, data)
		appendDataByteByByte(&want, data)
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("appendData(%q) = %q, want %q", data, got.Bytes(), want.Bytes())
		}
	})
}

// BenchmarkAppendData copies a dashboard-sized response's data (about
// 220 KB, no byte to escape but a few).
func BenchmarkAppendData(b *testing.B) {
	node := `{"node":{"id":"RmVlZGJhY2s6MTIzNDU2Nzg5","kind":"IDEA","body":"The export button is hard to find on the settings page, I looked for it for a while","rating":4,"author":{"displayName":"Guest tester 7"}}},`
	data := []byte(`{"workspace":{"edges":[` + strings.Repeat(node, 1000) + `{"body":"a & b"}]}}`)
	for _, tc := range []struct {
		name string
		fn   func(*bytes.Buffer, []byte)
	}{{"search", appendData}, {"byte-by-byte", appendDataByteByByte}} {
		b.Run(tc.name, func(b *testing.B) {
			var buf bytes.Buffer
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				tc.fn(&buf, data)
			}
		})
	}
}

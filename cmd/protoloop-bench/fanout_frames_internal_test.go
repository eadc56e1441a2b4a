package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

type frame struct {
	opcode  byte
	payload string
}

// serverFrame is a frame as a server writes it: unfragmented, unmasked.
func serverFrame(opcode byte, payload string) []byte {
	b := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
	return append(b, payload...)
}

func TestFrameReaderReadsFramesWhereverReadsEnd(t *testing.T) {
	want := []frame{
		{opText, `{"type":"connection_ack"}`},
		{opPing, "are you there"},
		{opText, strings.Repeat("m", 300)},   // a 16-bit length
		{opText, strings.Repeat("l", 70000)}, // a 64-bit length
		{opPong, ""},
		{opText, `{"type":"ping"}`},
	}
	var stream []byte
	for _, f := range want {
		stream = append(stream, serverFrame(f.opcode, f.payload)...)
	}
	for _, size := range []int{1, 2, 3, 7, 64, 1000, len(stream)} {
		t.Run(fmt.Sprintf("reads of %d bytes", size), func(t *testing.T) {
			var (
				r   frameReader
				got []frame
			)
			for rest := stream; len(rest) > 0; {
				n := min(size, len(rest))
				if err := r.feed(rest[:n], func(opcode byte, payload []byte) error {
					got = append(got, frame{opcode, string(payload)})
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if len(got) != len(want) {
				t.Fatalf("%d frames, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("frame %d: opcode %#x, %d bytes; want %#x, %d bytes", i, got[i].opcode, len(got[i].payload), want[i].opcode, len(want[i].payload))
				}
			}
			if len(r.pending) != 0 {
				t.Errorf("%d bytes left pending", len(r.pending))
			}
		})
	}
}

func TestFrameReaderRefusesWhatAServerDoesNotWrite(t *testing.T) {
	text := serverFrame(opText, "hello")
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"a fragment", append([]byte{opText}, text[1:]...)},
		{"reserved bits", append([]byte{0x80 | 0x40 | opText}, text[1:]...)},
		{"a masked frame", append([]byte{text[0], 0x80 | text[1], 1, 2, 3, 4}, text[2:]...)},
		{"a frame longer than any message", binary.BigEndian.AppendUint64([]byte{0x80 | opText, 127}, maxFrame+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r frameReader
			called := false
			err := r.feed(tc.frame, func(byte, []byte) error { called = true; return nil })
			if err == nil || called {
				t.Fatalf("read it (error %v, frame handed on %v)", err, called)
			}
		})
	}
}

func TestClientFramesAreMasked(t *testing.T) {
	for _, n := range []int{0, 15, 125, 126, 300, 70000} {
		payload := bytes.Repeat([]byte{'x'}, n)
		b := appendClientFrame(nil, opText, payload)
		if b[0] != 0x80|opText || b[1]&0x80 == 0 {
			t.Fatalf("%d bytes: header %#x %#x, want a final text frame, masked", n, b[0], b[1])
		}
		header := 2
		switch b[1] & 0x7f {
		case 126:
			header = 4
		case 127:
			header = 10
		}
		key, body := b[header:header+4], b[header+4:]
		if len(body) != n {
			t.Fatalf("%d bytes: a body of %d", n, len(body))
		}
		for i := range body {
			body[i] ^= key[i&3]
		}
		if !bytes.Equal(body, payload) {
			t.Errorf("%d bytes: unmasked, the body differs", n)
		}
	}
}

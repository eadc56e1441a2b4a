package main

import (
	"testing"
	"time"
)

func TestReadMessageReadsEventsOfEitherShape(t *testing.T) {
	at := time.Date(2026, 11, 30, 15, 4, 5, 123456000, time.UTC)
	for _, tc := range []struct {
		name, message string
		typ           string
		seq           int64
	}{
		{"an event, id first", `{"id":"1","type":"next","payload":{"data":{"prototypeEvents":{"seq":42,"kind":"FEEDBACK_ADDED","occurredAt":"2026-11-30T15:04:05.123456Z"}}}}`, "next", 42},
		{"an event, payload first", `{"payload":{"data":{"prototypeEvents":{"seq":42,"kind":"FEEDBACK_ADDED","occurredAt":"2026-11-30T15:04:05.123456Z"}}},"id":"1","type":"next"}`, "next", 42},
		{"an event with spaces is decoded", `{"type": "next", "payload": {"data": {"prototypeEvents": {"seq": 42, "occurredAt": "2026-11-30T15:04:05.123456Z"}}}}`, "next", 42},
		{"a ping", `{"type":"ping"}`, "ping", 0},
		{"a complete", `{"id":"1","type":"complete"}`, "complete", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ, seq, got, ok := readMessage([]byte(tc.message))
			if !ok || typ != tc.typ || seq != tc.seq || (seq != 0 && !got.Equal(at)) {
				t.Fatalf("got %q %d %v %v", typ, seq, got, ok)
			}
		})
	}
}

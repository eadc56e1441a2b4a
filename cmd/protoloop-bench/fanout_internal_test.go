package main

import (
	"strings"
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
		{"an event of another kind", `{"id":"1","type":"next","payload":{"data":{"prototypeEvents":{"seq":42,"kind":"COMMENT_ADDED","occurredAt":"2026-11-30T15:04:05.123456Z"}}}}`, "next", 42},
		{"an event of another operation", `{"id":"2","type":"next","payload":{"data":{"prototypeEvents":{"seq":42,"kind":"FEEDBACK_ADDED","occurredAt":"2026-11-30T15:04:05.123456Z"}}}}`, "next", 42},
		{"an event with more after it", `{"id":"1","type":"next","payload":{"data":{"prototypeEvents":{"seq":42,"kind":"FEEDBACK_ADDED","occurredAt":"2026-11-30T15:04:05.123456Z"}},"errors":[{"message":"x"}]}}`, "next", 42},
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

func TestCPUPerMessageIsTheProcessesCPUOverTheMessagesDelivered(t *testing.T) {
	u := cpuUse{server: 3 * time.Second, serverUser: time.Second, serverOK: true,
		self: 1500 * time.Millisecond, selfOK: true, pg: time.Second, pgOK: true}
	row := result{}
	u.addPerMessage(row, 100_000)
	if got := row["server cpu µs/msg"]; got != 30.0 {
		t.Errorf("server: %v µs/msg, want 30 (3 s over 100,000 messages)", got)
	}
	if got := row["server user µs/msg"]; got != 10.0 {
		t.Errorf("server user: %v µs/msg, want 10 (1 s in its own code)", got)
	}
	if got := row["tool cpu µs/msg"]; got != 15.0 {
		t.Errorf("tool: %v µs/msg, want 15", got)
	}
	if len(row) != 3 {
		t.Errorf("row %v: want the server's, its own code's and the tool's only", row)
	}

	u.serverOK = false
	row = result{}
	u.addPerMessage(row, 100_000)
	_, server := row["server cpu µs/msg"]
	_, user := row["server user µs/msg"]
	if server || user || row["tool cpu µs/msg"] != 15.0 {
		t.Errorf("server unreadable: row %v, want the tool's alone", row)
	}
	row = result{}
	u.addPerMessage(row, 0)
	if len(row) != 0 {
		t.Errorf("no message: row %v, want nothing", row)
	}
}

func TestMessagesPerWriteComesFromTheServersCounters(t *testing.T) {
	start := map[string]float64{"protoloop_websocket_events_total": 1000, "protoloop_websocket_event_writes_total": 900}
	end := map[string]float64{"protoloop_websocket_events_total": 31000, "protoloop_websocket_event_writes_total": 20900}
	if got, ok := messagesPerWrite(start, end); !ok || got != 1.5 {
		t.Errorf("got %v %v, want 1.5 (30,000 events in 20,000 writes)", got, ok)
	}
	if _, ok := messagesPerWrite(map[string]float64{"protoloop_websocket_events_total": 1}, end); ok {
		t.Error("a server that does not count its writes has a figure")
	}
	if _, ok := messagesPerWrite(start, start); ok {
		t.Error("no write has a figure")
	}
}

func TestExactEventReadsOnlyTheServersShape(t *testing.T) {
	at := time.Date(2026, 11, 30, 15, 4, 5, 123456000, time.UTC)
	exact := `{"id":"1","type":"next","payload":{"data":{"prototypeEvents":{"seq":461234,"kind":"FEEDBACK_ADDED","occurredAt":"2026-11-30T15:04:05.123456Z"}}}}`
	if seq, got, ok := exactEvent([]byte(exact)); !ok || seq != 461234 || !got.Equal(at) {
		t.Fatalf("the server's shape: %d %v %v", seq, got, ok)
	}
	for _, other := range []string{
		strings.Replace(exact, `"seq":461234`, `"seq":"461234"`, 1),
		strings.Replace(exact, `"seq":461234`, `"seq":`, 1),
		strings.Replace(exact, `"seq":461234`, `"seq":1234567890123456789012`, 1),
		strings.Replace(exact, `05.123456Z`, `05.123456Z\"`, 1),
		strings.Replace(exact, `05.123456Z`, `not a time`, 1),
		strings.Replace(exact, `}}}}`, `}},"errors":[]}}`, 1),
		exact[:len(exact)-1],
	} {
		if seq, _, ok := exactEvent([]byte(other)); ok {
			t.Errorf("read %s as event %d", other, seq)
		}
	}
}

func BenchmarkReadMessage(b *testing.B) {
	msg := []byte(`{"id":"1","type":"next","payload":{"data":{"prototypeEvents":{"seq":461234,"kind":"FEEDBACK_ADDED","occurredAt":"2026-11-30T15:04:05.123456Z"}}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, ok := readMessage(msg); !ok {
			b.Fatal("not read")
		}
	}
}

func TestReceiptsByEventSplitAnEventsFirstDeliveryFromItsFanOut(t *testing.T) {
	ms := time.Millisecond
	events := map[int64]eventReceipts{}
	for seq, receipts := range map[int64][]time.Duration{
		1: {30 * ms, 10 * ms, 50 * ms}, // first 10, spread 40
		2: {20 * ms},                   // first 20, spread 0
		3: {70 * ms, 40 * ms},          // first 40, spread 30
	} {
		for _, d := range receipts {
			events[seq] = events[seq].add(d)
		}
	}
	first, spread := receiptsByEvent(events)
	if first.p50 != 20*ms || first.maxi != 40*ms {
		t.Errorf("first receipts: median %v, max %v; want 20ms, 40ms", first.p50, first.maxi)
	}
	if spread.p50 != 30*ms || spread.maxi != 40*ms {
		t.Errorf("spreads: median %v, max %v; want 30ms, 40ms", spread.p50, spread.maxi)
	}
}

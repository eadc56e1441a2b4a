package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

const (
	fanoutSubscription = `subscription Fanout($p: ID!, $after: Cursor) {
  prototypeEvents(prototype: $p, after: $after, kinds: [FEEDBACK_ADDED]) { seq kind occurredAt }
}`
	latestCursorQuery = `query Latest($id: ID!) {
  node(id: $id) { ... on Prototype { timeline(first: 1, orderBy: {field: SEQ, direction: DESC}) { edges { cursor } } } }
}`
	// dialers is how many subscribers connect at once.
	dialers = 32
)

func runFanout(ctx context.Context, o *options) (*report, error)   { return fanout(ctx, o, false) }
func runReplicas(ctx context.Context, o *options) (*report, error) { return fanout(ctx, o, true) }

// fanout opens K graphql-transport-ws subscriptions to one prototype's
// events, measures what the idle subscribers cost the server, then adds
// feedback at R events/s and measures each event's delivery: from its
// occurredAt, stamped in the committing transaction, to its receipt. With
// replicas the writes go to a second server process over the same
// PostgreSQL database, so events reach the subscribers by NOTIFY.
func fanout(ctx context.Context, o *options, replicas bool) (*report, error) {
	t, err := openTarget(ctx, o, 4)
	if err != nil {
		return nil, err
	}
	defer t.db.Close()
	targets, err := writeTargets(ctx, t)
	if err != nil {
		return nil, err
	}
	target := targets[0]
	proto := t.protos[0]
	for _, p := range t.protos {
		if p.id == target.prototype {
			proto = p
		}
	}

	subSrv, err := o.startServer(ctx)
	if err != nil {
		return nil, err
	}
	defer subSrv.stop()
	writeSrv := subSrv
	if replicas {
		if o.url != "" {
			return nil, errors.New("replicas starts its two servers itself: leave out --url")
		}
		if writeSrv, err = o.spawnServer(ctx); err != nil {
			return nil, err
		}
		defer writeSrv.stop()
	}
	r := &report{
		Params: map[string]any{"k": o.subscribers, "r": o.rate, "events": o.events, "replicas": replicas},
		Columns: []string{"subscribers", "connect s", "events", "complete", "p50 ms", "p99 ms", "max ms",
			"first p50 ms", "spread p50 ms", "rss/sub KiB", "settled rss/sub KiB", "heap+stacks/sub KiB", "goroutines/sub"},
	}
	r.Columns = append(r.Columns, messageCPUColumns...)
	r.Columns = append(r.Columns, "msgs/write")
	if subSrv.Startup > 0 {
		r.Params["startup_ms"] = ms(subSrv.Startup)
	}

	api := &gqlClient{http: newHTTPClient(4), base: writeSrv.URL, token: t.st.Token}
	var latest struct {
		Node struct {
			Timeline struct{ Edges []struct{ Cursor string } }
		}
	}
	if err := api.do(ctx, latestCursorQuery, map[string]any{"id": proto.gid}, &latest); err != nil {
		return nil, fmt.Errorf("latest cursor: %w", err)
	}
	var after any
	if e := latest.Node.Timeline.Edges; len(e) > 0 {
		after = e[0].Cursor
	}

	// Events already there; those the writer adds come after.
	var startSeq int64
	if err := t.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events`).Scan(&startSeq); err != nil {
		return nil, err
	}

	// What the server holds before the subscribers come.
	subSrv.gc(ctx)
	before, err := memoryOf(ctx, subSrv)
	if err != nil {
		return nil, err
	}

	fmt.Fprintf(o.stderr, "connecting %d subscribers…\n", o.subscribers)
	connectStart, _ := subSrv.metrics(ctx)
	began := time.Now()
	readers, err := startReaders()
	if err != nil {
		return nil, err
	}
	subs, err := connectSubscribers(ctx, o, readers, subSrv.URL, t.st.Token, map[string]any{"p": proto.gid, "after": after})
	defer func() {
		readers.stop()
		for _, s := range subs {
			s.close()
		}
	}()
	if err != nil {
		return nil, err
	}
	if err := awaitSubscriptions(ctx, subSrv, o.subscribers); err != nil {
		return nil, err
	}
	connect := time.Since(began)
	time.Sleep(2 * time.Second) // let the last handshakes' garbage go
	subSrv.gc(ctx)
	idle, err := memoryOf(ctx, subSrv)
	if err != nil {
		return nil, err
	}
	settled, settling, err := settledRSS(ctx, subSrv, idle.rss)
	if err != nil {
		return nil, err
	}
	connectEnd, _ := subSrv.metrics(ctx)

	if o.hold > 0 {
		fmt.Fprintf(o.stderr, "holding %d idle subscribers for %s: profiles at %s/debug/pprof/\n", len(subs), o.hold, subSrv.AdminURL)
		time.Sleep(o.hold)
	}
	fmt.Fprintf(o.stderr, "writing %d events at %g/s through %s…\n", o.events, o.rate, writeSrv.URL)
	// Only the subscribers' server and this tool: PostgreSQL's share per
	// message is the writes', not the deliveries'.
	meter := cpuMeter{serverPID: subSrv.PID}
	cpuStart := meter.sample(ctx)
	writesStart, _ := subSrv.metrics(ctx)
	writeErrs := writeAtRate(ctx, o, api, target)
	// A write that timed out may still have committed: what counts is
	// what is in the table.
	var committed int
	if err := t.db.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE prototype_id = $1 AND kind = 'FEEDBACK_ADDED' AND seq > $2`,
		target.prototype, startSeq).Scan(&committed); err != nil {
		return nil, err
	}
	if committed == 0 {
		// Every subscriber would have "every event" of none.
		return nil, fmt.Errorf("no event was committed: %d of %d writes failed", writeErrs, o.events)
	}
	// Wait for the stragglers while deliveries go on: a slow delivery is
	// counted in the latencies, a lost one in complete.
	drainStart := time.Now()
	last, lastChange := int64(-1), time.Now()
	for ctx.Err() == nil && completeCount(subs, committed) < len(subs) &&
		time.Since(lastChange) < 10*time.Second && time.Since(drainStart) < 3*time.Minute {
		var got int64
		for _, s := range subs {
			got += s.received.Load()
		}
		if got != last {
			last, lastChange = got, time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	cpu := meter.sample(ctx).since(cpuStart)
	writesEnd, _ := subSrv.metrics(ctx)
	var all []time.Duration
	var dropped, messages int64
	var readErr error
	perEvent := map[int64]eventReceipts{}
	for _, s := range subs {
		s.mu.Lock()
		all = append(all, s.latencies...)
		for i, seq := range s.seqs {
			perEvent[seq] = perEvent[seq].add(s.latencies[i])
		}
		if readErr == nil {
			readErr = s.err
		}
		s.mu.Unlock()
		dropped += s.failures.Load()
		messages += s.received.Load()
	}
	lat := summarize(all)
	first, spread := receiptsByEvent(perEvent)
	k := float64(o.subscribers)
	row := result{
		"subscribers": k, "connect s": connect.Seconds(), "events": float64(committed),
		"complete": float64(completeCount(subs, committed)),
		"p50 ms":   ms(lat.p50), "p99 ms": ms(lat.p99), "max ms": ms(lat.maxi),
		"first p50 ms": ms(first.p50), "spread p50 ms": ms(spread.p50),
		"rss/sub KiB":         float64(idle.rss-before.rss) / k / 1024,
		"settled rss/sub KiB": float64(settled-before.rss) / k / 1024,
		"heap+stacks/sub KiB": float64(idle.heap-before.heap) / k / 1024,
		"goroutines/sub":      float64(idle.goroutines-before.goroutines) / k,
	}
	cpu.addPerMessage(row, messages)
	if per, ok := messagesPerWrite(writesStart, writesEnd); ok {
		row["msgs/write"] = per
	}
	r.add(row)
	r.note("complete: subscribers that received every one of the %d events committed, in order, once (waiting while deliveries go on, up to 3 minutes after the last write); latency is from the event's occurredAt (stamped in its transaction) to its receipt by the subscriber", committed)
	r.note("first: an event's first receipt by any subscriber, what the server took from the commit to its first write (numbering, NOTIFY, the tailer's read); spread: from an event's first receipt to its last, the fan-out itself; medians over the events (max: first %.1f ms, spread %.1f ms)", ms(first.maxi), ms(spread.maxi))
	r.note("server RSS %d → %d MiB, heap in use %d → %d MiB, goroutines %d → %d, with %d idle subscribers",
		before.rss>>20, idle.rss>>20, before.heap>>20, idle.heap>>20, before.goroutines, idle.goroutines, o.subscribers)
	r.note("rss/sub is read 2 s after the last subscription opened, after a GC; settled rss/sub once RSS stopped falling while the runtime returned freed pages to the OS (lowest %d MiB, over %.0f s of readings once a second, %v at most)",
		settled>>20, settling.Seconds(), settleWait)
	r.note("%s; %d messages, server %.2f s, tool %.2f s", messageCPUNote, messages, cpu.server.Seconds(), cpu.self.Seconds())
	r.note("msgs/write: events per write to a subscriber's socket in the event phase (the server's protoloop_websocket_event_writes_total; - for a server without it): above 1 when writers find several events waiting, as they do once delivery falls behind, and each message then costs both processes less")
	const catchUps = "protoloop_broker_catchups_total"
	if _, ok := connectStart[catchUps]; ok {
		// From the latest cursor every subscription should start live; a
		// catch-up each leaves its read's garbage in the memory measured.
		r.note("catch-ups while the subscribers connected: %.0f of %d subscriptions", connectEnd[catchUps]-connectStart[catchUps], o.subscribers)
	}
	if writeErrs > 0 {
		r.note("%d writes failed", writeErrs)
	}
	if dropped > 0 {
		r.note("%d subscriptions failed or were closed by the server", dropped)
	}
	if readErr != nil {
		r.note("a subscriber stopped reading: %v", readErr)
	}
	return r, nil
}

// messagesPerWrite is how many events the server's websocket writes
// carried on average between two readings of its metrics: one, unless a
// connection's writer found several waiting, as it does when delivery
// falls behind, which makes the CPU per message smaller. False when the
// server does not count its writes.
func messagesPerWrite(start, end map[string]float64) (float64, bool) {
	const events, writes = "protoloop_websocket_events_total", "protoloop_websocket_event_writes_total"
	if _, ok := start[writes]; !ok {
		return 0, false
	}
	n := end[writes] - start[writes]
	if n <= 0 {
		return 0, false
	}
	return (end[events] - start[events]) / n, true
}

// settleWait bounds how long settledRSS waits for RSS to stop falling.
const settleWait = 15 * time.Second

// settledRSS polls the server's RSS, from rss, once a second until it
// has not fallen for five readings in a row, for settleWait at most.
// After a burst of connections the Go runtime's scavenger returns freed
// pages to the OS over seconds: a reading right after it says more about
// the burst than about what idle subscribers hold. It returns the lowest
// RSS read and how long it waited.
func settledRSS(ctx context.Context, p *serverProc, rss int64) (int64, time.Duration, error) {
	began := time.Now()
	lowest, still := rss, 0
	for still < 5 && time.Since(began) < settleWait {
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(time.Second):
		}
		m, err := memoryOf(ctx, p)
		if err != nil {
			return 0, 0, err
		}
		if m.rss < lowest {
			lowest, still = m.rss, 0
		} else {
			still++
		}
	}
	return lowest, time.Since(began), nil
}

type memorySample struct {
	rss, heap  int64
	goroutines int64
}

func memoryOf(ctx context.Context, p *serverProc) (memorySample, error) {
	var m memorySample
	mt, err := p.metrics(ctx)
	if err != nil {
		return m, err
	}
	m.heap = int64(mt["go_memstats_heap_inuse_bytes"] + mt["go_memstats_stack_inuse_bytes"])
	m.goroutines = int64(mt["go_goroutines"])
	m.rss = int64(mt["process_resident_memory_bytes"]) // Linux only, like /proc
	if p.PID != 0 {
		if r, err := rss(p.PID); err == nil {
			m.rss = r
		}
	}
	return m, nil
}

// awaitSubscriptions waits until the server reports n subscriptions
// open: graphql-transport-ws does not acknowledge a subscribe.
func awaitSubscriptions(ctx context.Context, p *serverProc, n int) error {
	deadline := time.Now().Add(time.Minute)
	for {
		m, err := p.metrics(ctx)
		if err != nil {
			return err
		}
		if int(m["protoloop_subscriptions_active"]) >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %v of %d subscriptions open after a minute", m["protoloop_subscriptions_active"], n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeAtRate leaves o.events feedback at o.rate a second, each write on
// its own goroutine so that a slow one does not delay the next, and
// returns how many failed.
func writeAtRate(ctx context.Context, o *options, api *gqlClient, w writeTarget) int {
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
	defer tick.Stop()
	var (
		wg     sync.WaitGroup
		failed atomic.Int64
	)
	for i := range o.events {
		if i > 0 {
			select {
			case <-ctx.Done():
				return int(failed.Load()) + o.events - i
			case <-tick.C:
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := api.do(ctx, leaveFeedbackMutation, map[string]any{"in": map[string]any{
				"iterationID": w.gid, "kind": "BUG", "body": fmt.Sprintf("Fanout event %d", i),
			}}, nil)
			if err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(failed.Load())
}

func completeCount(subs []*subscriber, events int) int {
	n := 0
	for _, s := range subs {
		if s.received.Load() == int64(events) && s.failures.Load() == 0 {
			n++
		}
	}
	return n
}

// subscriber is one websocket with one graphql-transport-ws subscription:
// the bench's own minimal client. gorilla dials it; from then on the
// subscriber writes its frames itself, and its server's frames are read
// from the socket as they come by the subscribers' readers (see
// subscriberReaders).
type subscriber struct {
	sock      socket
	writeMu   sync.Mutex
	frames    frameReader
	acked     chan struct{} // closed on connection_ack, for start
	ackRead   bool          // the reader's own view of it
	readEnd   chan struct{} // closed once the socket is no longer read
	received  atomic.Int64  // events, in order and each once
	failures  atomic.Int64  // errors, out-of-order events, early ends
	mu        sync.Mutex
	last      int64
	latencies []time.Duration
	seqs      []int64 // of the events of latencies
	err       error   // what ended the subscriber's reading, if it was not its socket's end
	slot      pollSlot
}

// socket is a subscriber's connection once dialled.
type socket interface {
	Write(b []byte) (int, error)
	Close() error
}

func (s *subscriber) close() { _ = s.sock.Close() }

// send writes a message of the protocol.
func (s *subscriber) send(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.write(appendClientFrame(nil, opText, data))
}

func (s *subscriber) write(frame []byte) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	n, err := s.sock.Write(frame)
	if err == nil && n < len(frame) {
		err = fmt.Errorf("websocket: wrote %d of a frame's %d bytes", n, len(frame))
	}
	return err
}

// connectSubscribers opens o.subscribers subscriptions, dialers at a time,
// each read by readers.
func connectSubscribers(ctx context.Context, o *options, readers *subscriberReaders, base, token string, vars map[string]any) ([]*subscriber, error) {
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/graphql"
	dialer := websocket.Dialer{
		HandshakeTimeout: 30 * time.Second,
		Subprotocols:     []string{"graphql-transport-ws"},
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
	}
	subs := make([]*subscriber, o.subscribers)
	var (
		next     atomic.Int64
		firstErr error
		errMu    sync.Mutex
		wg       sync.WaitGroup
	)
	bar := newProgress(o.stderr, "subscribers", o.subscribers)
	var done atomic.Int64
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(subs) || ctx.Err() != nil {
					return
				}
				s, err := subscribe(ctx, &dialer, readers, wsURL, token, vars)
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("subscriber %d: %w", i+1, err)
					}
					errMu.Unlock()
					return
				}
				subs[i] = s
				if n := done.Add(1); n%100 == 0 || int(n) == len(subs) {
					errMu.Lock()
					bar.set(int(n))
					errMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	var out []*subscriber
	for _, s := range subs {
		if s != nil {
			out = append(out, s)
		}
	}
	return out, firstErr
}

func subscribe(ctx context.Context, d *websocket.Dialer, readers *subscriberReaders, url, token string, vars map[string]any) (*subscriber, error) {
	conn, resp, err := d.DialContext(ctx, url, http.Header{})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: %w (HTTP %s)", err, resp.Status)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	// The server says nothing before connection_init, so gorilla, which
	// read the handshake's response, holds none of its frames: they are
	// all read from the socket.
	s := &subscriber{acked: make(chan struct{}), readEnd: make(chan struct{})}
	if err := readers.add(s, conn); err != nil {
		conn.Close()
		if s.sock != nil {
			readers.drop(s)
		}
		return nil, err
	}
	if err := s.start(ctx, token, vars); err != nil {
		readers.drop(s)
		return nil, err
	}
	return s, nil
}

// start initialises the connection, waits for its acknowledgement and
// subscribes.
func (s *subscriber) start(ctx context.Context, token string, vars map[string]any) error {
	if err := s.send(map[string]any{"type": "connection_init", "payload": map[string]any{"token": token}}); err != nil {
		return err
	}
	select {
	case <-s.acked:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.readEnd:
		s.mu.Lock()
		defer s.mu.Unlock()
		return fmt.Errorf("no connection_ack: the connection ended (%v)", s.err)
	case <-time.After(30 * time.Second):
		return errors.New("no connection_ack in 30 s")
	}
	return s.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": fanoutSubscription, "variables": vars}})
}

// consume handles what one read of the subscriber's socket returned:
// data, read just now, and the read's error. It reports whether the
// subscriber reads on. A socket's end or error ends it quietly, as the
// events it then misses count against it; a stream it cannot read
// counts as a failure.
func (s *subscriber) consume(data []byte, err error) bool {
	if len(data) > 0 {
		if rerr := s.receive(data, time.Now()); rerr != nil {
			s.failures.Add(1)
			s.mu.Lock()
			s.err = rerr
			s.mu.Unlock()
			err = rerr
		}
	}
	if err != nil {
		close(s.readEnd)
		return false
	}
	return true
}

// errServerClosed is the server's close frame.
var errServerClosed = errors.New("the server closed the websocket")

// receive handles bytes read from the subscriber's socket at now: each
// frame they complete. It answers pings (gorilla would have), and fails
// on anything but a text frame, a ping or a pong.
func (s *subscriber) receive(data []byte, now time.Time) error {
	return s.frames.feed(data, func(opcode byte, payload []byte) error {
		switch opcode {
		case opText:
			return s.message(payload, now)
		case opPing:
			return s.write(appendClientFrame(nil, opPong, payload))
		case opPong:
			return nil
		case opClose:
			return errServerClosed
		}
		return fmt.Errorf("websocket: unexpected opcode %#x", opcode)
	})
}

// message handles one message of the protocol, received at now: the
// acknowledgement first, then events, checked in order and once, and
// timed from their occurredAt; pings are answered. The clients share the
// server's two cores in a run on one machine, so each picks the event's
// seq and occurredAt out of the message without decoding all of it (see
// readMessage).
func (s *subscriber) message(data []byte, now time.Time) error {
	typ, seq, at, ok := readMessage(data)
	if !s.ackRead {
		if !ok || typ != "connection_ack" {
			return fmt.Errorf("%q instead of connection_ack", data)
		}
		s.ackRead = true
		close(s.acked)
		return nil
	}
	if !ok {
		s.failures.Add(1)
		return nil
	}
	switch typ {
	case "next":
		s.mu.Lock()
		if seq <= s.last {
			s.failures.Add(1) // repeated or out of order
		} else {
			s.last = seq
			s.latencies = append(s.latencies, now.Sub(at))
			s.seqs = append(s.seqs, seq)
			s.received.Add(1)
		}
		s.mu.Unlock()
	case "ping":
		return s.send(map[string]string{"type": "pong"})
	case "pong":
	default: // error, complete: the subscription is over
		s.failures.Add(1)
	}
	return nil
}

// readMessage reads a server message: its type and, for an event, its seq and
// occurredAt. Messages shaped as the fan-out subscription's events are
// read by looking for their keys; anything else is decoded.
func readMessage(data []byte) (typ string, seq int64, at time.Time, ok bool) {
	if seq, at, ok = exactEvent(data); ok {
		return "next", seq, at, true
	}
	if typ, seq, at, ok = quickEvent(data); ok {
		return typ, seq, at, true
	}
	var m struct {
		Type    string `json:"type"`
		Payload struct {
			Data struct {
				PrototypeEvents struct {
					Seq        int64     `json:"seq"`
					OccurredAt time.Time `json:"occurredAt"`
				} `json:"prototypeEvents"`
			} `json:"data"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return "", 0, time.Time{}, false
	}
	e := m.Payload.Data.PrototypeEvents
	return m.Type, e.Seq, e.OccurredAt, true
}

// The parts of an event message as the server writes the fan-out
// subscription's (fanoutSubscription, operation id "1"), around its seq
// and its occurredAt.
const (
	eventHead   = `{"id":"1","type":"next","payload":{"data":{"prototypeEvents":{"seq":`
	eventMiddle = `,"kind":"FEEDBACK_ADDED","occurredAt":"`
	eventTail   = `"}}}}`
)

// exactEvent reads an event message shaped exactly as the server writes
// them, comparing its fixed parts rather than searching the message for
// keys: 10,000 readers share the server's cores, and the searches cost
// them ten times what reading the time does. Anything else (another
// order of keys, spaces, escapes) is left to quickEvent.
func exactEvent(data []byte) (seq int64, at time.Time, ok bool) {
	rest, found := bytes.CutPrefix(data, []byte(eventHead))
	if !found {
		return 0, time.Time{}, false
	}
	digits := 0
	for digits < len(rest) && digits < 18 && '0' <= rest[digits] && rest[digits] <= '9' {
		seq = seq*10 + int64(rest[digits]-'0')
		digits++
	}
	if digits == 0 {
		return 0, time.Time{}, false
	}
	if rest, found = bytes.CutPrefix(rest[digits:], []byte(eventMiddle)); !found {
		return 0, time.Time{}, false
	}
	stamp, found := bytes.CutSuffix(rest, []byte(eventTail))
	if !found || bytes.IndexByte(stamp, '"') >= 0 || bytes.IndexByte(stamp, '\\') >= 0 {
		return 0, time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, string(stamp))
	if err != nil {
		return 0, time.Time{}, false
	}
	return seq, at, true
}

// quickEvent reads a "next" message carrying one event, and nothing
// else: no errors, no escapes in its strings.
func quickEvent(data []byte) (typ string, seq int64, at time.Time, ok bool) {
	if !bytes.Contains(data, []byte(`"type":"next"`)) || bytes.Contains(data, []byte(`"errors"`)) ||
		bytes.IndexByte(data, '\\') >= 0 || bytes.Count(data, []byte(`"seq":`)) != 1 {
		return "", 0, time.Time{}, false
	}
	value := func(key string) []byte {
		i := bytes.Index(data, []byte(key))
		if i < 0 {
			return nil
		}
		v := data[i+len(key):]
		if j := bytes.IndexAny(v, ",}"); j >= 0 {
			return v[:j]
		}
		return nil
	}
	n, err := strconv.ParseInt(string(value(`"seq":`)), 10, 64)
	if err != nil {
		return "", 0, time.Time{}, false
	}
	quoted := value(`"occurredAt":`)
	if len(quoted) < 2 || quoted[0] != '"' || quoted[len(quoted)-1] != '"' {
		return "", 0, time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(quoted[1:len(quoted)-1]))
	if err != nil {
		return "", 0, time.Time{}, false
	}
	return "next", n, t, true
}

// runStartup times starts of the server, migrations already applied.
func runStartup(ctx context.Context, o *options) (*report, error) {
	if o.url != "" {
		return nil, errors.New("startup starts the server itself: leave out --url")
	}
	// The first start applies any pending migrations; it is not timed.
	p, err := o.spawnServer(ctx)
	if err != nil {
		return nil, err
	}
	p.stop()
	var times []time.Duration
	for range o.runs {
		p, err := o.spawnServer(ctx)
		if err != nil {
			return nil, err
		}
		times = append(times, p.Startup)
		p.stop()
	}
	lat := summarize(times)
	r := &report{
		Params:  map[string]any{"runs": o.runs},
		Columns: []string{"scenario", "runs", "median ms", "max ms"},
	}
	r.add(result{"scenario": "exec → /readyz 200", "runs": float64(len(times)), "median ms": ms(lat.p50), "max ms": ms(lat.maxi)})
	r.note("from starting `protoloop serve` on PostgreSQL, migrations applied, to its /readyz answering 200 (target ≤ 300 ms)")
	return r, nil
}

// eventReceipts are the earliest and latest latencies of one event's
// receipts.
type eventReceipts struct {
	first, last time.Duration
	n           int
}

func (e eventReceipts) add(d time.Duration) eventReceipts {
	if e.n == 0 || d < e.first {
		e.first = d
	}
	e.last = max(e.last, d)
	e.n++
	return e
}

// receiptsByEvent summarizes, over the events, when the first subscriber
// received each and how long its fan-out took from then to the last: a
// p99 that grows with the first is the server's pipeline before the
// writes (or the host), one that grows with the spread is the writes.
func receiptsByEvent(events map[int64]eventReceipts) (first, spread latencies) {
	var firsts, spreads []time.Duration
	for _, e := range events {
		firsts = append(firsts, e.first)
		spreads = append(spreads, e.last-e.first)
	}
	return summarize(firsts), summarize(spreads)
}

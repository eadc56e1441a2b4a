package broker

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/protoloop/protoloop/ent/schema/gid"
)

// Channel is the PostgreSQL notification channel of committed events:
// every process LISTENs on it.
const Channel = "protoloop_events"

// The notifications on Channel are hints, never the data (payloads are
// limited to 8,000 bytes, and the table is the truth): "<schema>:<seq>",
// sent by NumberSQL once it has numbered events up to seq, lets a process
// ignore commits to another schema of the same database (channels are
// per database) and skip positions it has read already, its own ones
// especially.

// NotifyDeliveriesSQL is what a transaction that queued webhook
// deliveries runs: its payload, "<schema>:0:deliveries", tells the other
// processes to wake their delivery workers (Options.OnDeliveries); the
// position 0 wakes no tailer. PostgreSQL delivers it once the transaction
// has committed, and never if it rolls back.
const NotifyDeliveriesSQL = `SELECT pg_notify('` + Channel + `', current_schema() || ':0' || '` + deliveriesFlag + `')`

const deliveriesFlag = ":deliveries"

// IdentityChannel is the PostgreSQL notification channel of committed
// changes to what bearer tokens resolve to (revocations, memberships,
// tester participations…), heard on the same LISTEN connection as
// Channel: see Options.OnIdentityChanged.
const IdentityChannel = "protoloop_identities"

// NotifyIdentitiesSQL is what a transaction that changed identities runs,
// with one parameter, IdentityPayload's. PostgreSQL delivers the
// notification when the transaction commits, and never if it rolls back.
const NotifyIdentitiesSQL = `SELECT pg_notify('` + IdentityChannel + `', current_schema() || ':' || $1)`

// maxIdentityIDs is how many IDs one identity notification names at most
// (payloads are limited to 8,000 bytes); a change that touches more says
// "*".
const maxIdentityIDs = 300

// IdentityPayload is the parameter of NotifyIdentitiesSQL: the origin,
// which tells the announcing process its own notifications apart (see
// Options.IdentityOrigin), and the IDs changed in decimal, separated by
// commas; none, or too many, is "*" (anything may have changed).
func IdentityPayload(origin string, changed []gid.ID) string {
	b := append(make([]byte, 0, len(origin)+1+len(changed)*20), origin...)
	b = append(b, ':')
	if len(changed) == 0 || len(changed) > maxIdentityIDs {
		return string(append(b, '*'))
	}
	for i, id := range changed {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return string(b)
}

// parseIdentityPayload reads an identity notification of schema: its
// origin and the IDs it names, none for any; ok is false if it is another
// schema's.
func parseIdentityPayload(schema, payload string) (origin string, changed []gid.ID, ok bool) {
	s, rest, found := strings.Cut(payload, ":")
	if !found {
		return "", nil, true // unreadable: take it as "anything changed"
	}
	if schema != "" && s != schema {
		return "", nil, false
	}
	origin, ids, found := strings.Cut(rest, ":")
	if !found {
		return "", nil, true
	}
	if ids == "*" {
		return origin, nil, true
	}
	for _, f := range strings.Split(ids, ",") {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return origin, nil, true
		}
		changed = append(changed, gid.ID(n))
	}
	return origin, changed, true
}

// ApplicationName is the application_name of the LISTEN connection, which
// tells it apart in pg_stat_activity, unless Options.PostgresURL sets one.
const ApplicationName = "protoloop-listen"

// Reconnection delays of the LISTEN connection: the first retry is quick
// (a restart of PostgreSQL, a terminated backend), later ones back off to
// maxReconnect so that a database that is down is not hammered. Every
// reconnection is followed by a read of the table, which is what makes
// the notifications lost meanwhile harmless.
const (
	minReconnect = 100 * time.Millisecond
	maxReconnect = 5 * time.Second
)

// listen holds the process's LISTEN connection until ctx is done, waking
// the tailer for every notification of a commit it has not seen, and
// after every reconnection.
func (b *Broker) listen(ctx context.Context) {
	schema := b.currentSchema(ctx)
	// link tracks, for Options.OnListening, whether the connection is up
	// as pq last reported it (from its own goroutine) and whether this
	// loop has asked for its channels: it listens when both hold, which
	// may happen in either order (pq lets Listen return before it reports
	// the first connection).
	var link struct {
		sync.Mutex
		up, listened bool
		events       int // what pq has reported so far, for ping's heard
	}
	report := func(change func()) {
		link.Lock()
		defer link.Unlock()
		was := link.up && link.listened
		change()
		if now := link.up && link.listened; now != was {
			b.listening(now)
		}
	}
	dialer := &listenDialer{}
	l := pq.NewDialListener(dialer, listenDSN(b.opts.PostgresURL), minReconnect, maxReconnect,
		func(ev pq.ListenerEventType, err error) {
			// A reconnection has listened again by the time it is reported.
			report(func() {
				link.up = ev == pq.ListenerEventConnected || ev == pq.ListenerEventReconnected
				link.events++
			})
			switch ev {
			case pq.ListenerEventDisconnected, pq.ListenerEventConnectionAttemptFailed:
				if ctx.Err() == nil {
					b.log.WarnContext(ctx, "broker: LISTEN connection lost; reconnecting", "event", ev.String(), "err", err)
				}
			case pq.ListenerEventReconnected:
				b.log.InfoContext(ctx, "broker: LISTEN connection back")
			}
		})
	// Closing the listener unblocks Listen, and ends the Notify channel.
	stop := context.AfterFunc(ctx, func() { _ = l.Close() })
	defer stop()

	var pinger sync.WaitGroup
	defer pinger.Wait()
	pinger.Add(1)
	go func() {
		defer pinger.Done()
		b.ping(ctx, l, dialer, linkState{
			deaf: func() (events int) {
				report(func() { link.up, events = false, link.events })
				return events
			},
			heard: func(since int) {
				// Unless pq reported a change meanwhile, which is then
				// the state to keep.
				report(func() {
					if link.events == since {
						link.up = true
					}
				})
			},
		})
	}()

	err := l.Listen(Channel)
	if err == nil && b.opts.OnIdentityChanged != nil {
		err = l.Listen(IdentityChannel)
	}
	if err != nil {
		if ctx.Err() == nil {
			b.log.ErrorContext(ctx, "broker: LISTEN; other processes' events come with the poll only", "err", err)
		}
		_ = l.Close()
	} else {
		// Commits made before LISTEN took effect were not notified.
		b.Wake()
		report(func() { link.listened = true })
	}
	defer b.listening(false)
	for n := range l.Notify {
		// nil means the connection was re-established: notifications may
		// have been lost meanwhile (deliveries are then found by the
		// workers' polls; identities were reloaded: see OnListening).
		if n == nil {
			b.Wake()
			continue
		}
		if n.Channel == IdentityChannel {
			// This process applied its own announcements when they
			// committed: hearing them again would only repeat the work.
			origin, changed, ok := parseIdentityPayload(schema, n.Extra)
			if ok && (origin == "" || origin != b.opts.IdentityOrigin) {
				b.opts.OnIdentityChanged(changed)
			}
			continue
		}
		payload, deliveries := strings.CutSuffix(n.Extra, deliveriesFlag)
		if b.unseen(schema, payload) {
			b.Wake()
		}
		if deliveries && b.opts.OnDeliveries != nil && (schema == "" || strings.HasPrefix(payload, schema+":")) {
			b.opts.OnDeliveries()
		}
	}
}

// linkState is how ping tells listen what it found.
type linkState struct {
	// deaf says the connection did not answer a ping in time: what it
	// has not said yet cannot be relied on. It returns how many events
	// pq had reported then, for heard.
	deaf func() (events int)
	// heard says it answered after all: it can be relied on again,
	// unless pq reported another event since deaf's count.
	heard func(since int)
}

// ping pings the LISTEN connection every Options.Ping, so that one that
// died without a word (a dropped NAT mapping, a host gone) is noticed
// rather than when TCP gives up (some 15 minutes on Linux, while a ping
// waits). A ping unanswered for Options.Ping makes the connection deaf
// (Options.OnListening(false): the identity cache stops being trusted),
// within twice Options.Ping of its last answer; one still unanswered two
// Options.Ping later is taken for dead and cut, and lib/pq reconnects.
// A connection that is merely slow (a starved database) is trusted
// again once it answers, without a reconnection and the tailer's read of
// the table that follows every one. TCP keepalive would not do: it
// probes only a connection with nothing outstanding, and the pings keep
// this one busy.
//
// Not from listen's loop: a ping waits for its answer, which comes after
// the notifications ahead of it, which only that loop reads.
func (b *Broker) ping(ctx context.Context, l *pq.Listener, dialer *listenDialer, link linkState) {
	t := time.NewTicker(b.opts.Ping)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var err error
		answered := make(chan struct{})
		go func() {
			defer close(answered)
			err = l.Ping() // when it fails, the listener reconnects by itself
		}()
		late := time.NewTimer(b.opts.Ping)
		select {
		case <-answered:
			late.Stop()
			continue
		case <-late.C:
			b.log.WarnContext(ctx, "broker: LISTEN connection did not answer a ping; not trusted until it does", "within", b.opts.Ping)
			since := link.deaf()
			late.Reset(2 * b.opts.Ping)
			select {
			case <-answered:
				late.Stop()
				if err == nil {
					b.log.InfoContext(ctx, "broker: LISTEN connection answered its ping late")
					link.heard(since)
				}
				continue
			case <-late.C:
				b.log.WarnContext(ctx, "broker: LISTEN connection did not answer a ping; reconnecting", "within", 3*b.opts.Ping)
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
		// The pending ping holds the listener's lock, which closing it
		// needs (on ctx's end) and a reconnection takes: cut the
		// connection to end the ping.
		dialer.cut()
		<-answered
	}
}

// listenDialer dials the LISTEN connection for lib/pq and keeps it, so
// that ping can cut it.
type listenDialer struct {
	net  net.Dialer
	mu   sync.Mutex
	conn net.Conn // the last one dialled: the listener's current one
}

var _ pq.DialerContext = (*listenDialer)(nil)

// Dial implements pq.Dialer.
func (d *listenDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialTimeout implements pq.Dialer.
func (d *listenDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

// DialContext implements pq.DialerContext.
func (d *listenDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.net.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.conn = c
	d.mu.Unlock()
	return c, nil
}

// cut closes the listener's connection, if it has one.
func (d *listenDialer) cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		_ = d.conn.Close()
	}
}

// listening tells Options.OnListening whether the LISTEN connection is up.
func (b *Broker) listening(up bool) {
	if b.opts.OnListening != nil {
		b.opts.OnListening(up)
	}
}

// unseen reports whether a notification's payload may announce events
// the tailer has not read: it names this schema (or cannot be read) and
// a position past the tailer's.
func (b *Broker) unseen(schema, payload string) bool {
	s, seq, ok := strings.Cut(payload, ":")
	if !ok || schema == "" {
		return true
	}
	if s != schema {
		return false
	}
	n, err := strconv.ParseInt(seq, 10, 64)
	if err == nil {
		b.hear(n)
	}
	return err != nil || n > b.seen.Load()
}

// currentSchema returns the schema the events table is read from, as
// the notifications name it, or "" if it cannot tell (then every
// notification wakes the tailer).
func (b *Broker) currentSchema(ctx context.Context) string {
	rows, err := b.client.QueryContext(ctx, "SELECT current_schema()")
	if err != nil {
		b.log.WarnContext(ctx, "broker: read the current schema", "err", err)
		return ""
	}
	defer rows.Close()
	var schema string
	if rows.Next() {
		if err := rows.Scan(&schema); err != nil {
			b.log.WarnContext(ctx, "broker: read the current schema", "err", err)
			return ""
		}
	}
	return schema
}

// listenDSN names the LISTEN connection ApplicationName, in a postgres://
// URL or a key=value connection string, unless dsn names it already.
func listenDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		if q.Get("application_name") == "" {
			q.Set("application_name", ApplicationName)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	if strings.Contains(dsn, "application_name=") {
		return dsn
	}
	return fmt.Sprintf("%s application_name=%s", dsn, ApplicationName)
}

// Package webhooks delivers a workspace's events to its webhooks.
//
// Deliveries are rows, queued by the mutation that records their event,
// in its transaction (graph/webhook.go), so none is lost to a crash or a
// restart. A Worker in every server process claims the due ones, POSTs
// them, and records the outcome:
//
//   - Claiming moves a delivery's next_attempt_at past a lease, in a
//     short transaction; on PostgreSQL with FOR UPDATE SKIP LOCKED, so
//     that the workers of several replicas share the queue without
//     waiting on each other or sending a delivery twice at once. A worker
//     that dies mid-send leaves the delivery to be retried when its lease
//     runs out. SQLite has one process, whose writes run one at a time.
//   - Attempts run in a pool of Concurrency slots; a slot claims more as
//     soon as it is free, and a webhook has one attempt in flight per
//     worker at most, so that a hanging receiver holds up only itself.
//   - A failed attempt (a network error, a timeout, an answer other than
//     2xx) is retried with exponential backoff and jitter, up to
//     MaxAttempts, after which the delivery is FAILED. Every failed
//     attempt counts against its webhook; DisableAfter of them in a row
//     disable it, with the last error kept for its owners to read.
//   - The worker is woken when a commit queued deliveries (Wake): by the
//     Transactioner in its own process, and through the broker's LISTEN
//     connection for commits of other replicas (NotifyDeliveriesSQL in
//     server/broker). It polls every PollInterval besides, for retries
//     that come due and wake-ups that were lost.
//   - Deliveries that are done, DELIVERED or FAILED, are deleted after
//     Retention.
package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/webhook"
	"github.com/protoloop/protoloop/ent/webhookdelivery"
	"github.com/protoloop/protoloop/graph"
)

// The headers of a delivery.
const (
	HeaderSignature = "Protoloop-Signature" // sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">
	HeaderTimestamp = "Protoloop-Timestamp" // Unix seconds when the attempt was signed
	HeaderDelivery  = "Protoloop-Delivery"  // the delivery's ID: new for a redelivery
	HeaderEvent     = "Protoloop-Event"     // the event kind, or PING
)

// Defaults for the Options left zero.
const (
	DefaultPollInterval = 5 * time.Second
	DefaultTimeout      = 10 * time.Second
	DefaultMaxAttempts  = 8
	DefaultDisableAfter = 20
	DefaultMinBackoff   = 10 * time.Second
	DefaultMaxBackoff   = time.Hour
	DefaultConcurrency  = 4
	DefaultRetention    = 30 * 24 * time.Hour
)

const (
	// maxResponseBytes is how much of an answer is read (and thrown away)
	// before the connection is given up; receivers have nothing to say.
	maxResponseBytes = 64 << 10
	maxRedirects     = 3
	maxErrorChars    = 500
)

// Options configure a Worker.
type Options struct {
	Logger *slog.Logger
	// PollInterval is how often the worker looks for due deliveries when
	// nothing wakes it.
	PollInterval time.Duration
	// Timeout bounds one attempt, connecting and reading the answer.
	Timeout time.Duration
	// MaxAttempts is how often a delivery is tried before it is FAILED.
	MaxAttempts int
	// DisableAfter is how many failed attempts in a row disable a webhook.
	DisableAfter int
	// MinBackoff and MaxBackoff bound the wait before a retry: it doubles
	// with each attempt from MinBackoff, and is jittered.
	MinBackoff, MaxBackoff time.Duration
	// Concurrency is how many deliveries are sent at once, to different
	// webhooks: each has at most one attempt in flight per worker.
	Concurrency int
	// Retention is how long DELIVERED and FAILED deliveries are kept
	// before the worker deletes them; a tenth of it (at least the poll
	// interval, at most an hour) passes between two clean-ups.
	Retention time.Duration
	// DenyPrivate refuses to connect to loopback, private, link-local and
	// other non-public addresses, checked on the address actually dialled
	// (so a DNS name that resolves to one is refused too). Off by default:
	// self-hosters and tests deliver to their own machines. Turn it on
	// where workspace owners are not trusted with the server's network.
	DenyPrivate bool
}

func (o *Options) fill() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.PollInterval, DefaultPollInterval)
	def(&o.Timeout, DefaultTimeout)
	def(&o.MinBackoff, DefaultMinBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	def(&o.Retention, DefaultRetention)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.DisableAfter <= 0 {
		o.DisableAfter = DefaultDisableAfter
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
}

// Worker sends due webhook deliveries. Run it once per server process.
type Worker struct {
	client  *ent.Client
	dialect string
	opts    Options
	log     *slog.Logger
	http    *http.Client
	wake    chan struct{}
	lease   time.Duration
	// changes runs the changes that record an event (see failed).
	changes *graph.Transactioner
}

// New returns a worker over client, whose database speaks dialectName.
// client should be the worker's own, over the server's pool. The events
// the worker records (a webhook disabled) go to events once committed (the
// broker); nil leaves them for the broker's poll.
func New(client *ent.Client, dialectName string, events graph.Publisher, opts Options) *Worker {
	opts.fill()
	w := &Worker{
		client:  client,
		dialect: dialectName,
		opts:    opts,
		log:     opts.Logger,
		http:    newHTTPClient(opts),
		wake:    make(chan struct{}, 1),
		// Long enough for an attempt and its bookkeeping, so that another
		// worker retries only a delivery whose worker is gone.
		lease: 2*opts.Timeout + 30*time.Second,
	}
	w.changes = graph.NewTransactioner(client, dialectName, events, opts.Logger).WakeOnDeliveries(w.Wake)
	return w
}

// Wake tells the worker there are new deliveries. It never blocks;
// wake-ups coalesce.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then lets the attempts in flight
// finish (each within Timeout) and returns.
//
// Attempts run in a pool of Concurrency slots, and a slot that frees up
// claims more work at once: a receiver that takes its whole Timeout to
// answer holds one slot, not the others. A webhook has at most one
// attempt in flight per worker, so that a slow or hanging receiver with a
// backlog cannot take every slot either: the other webhooks' deliveries
// keep flowing through the free ones.
func (w *Worker) Run(ctx context.Context) error {
	var (
		inflight sync.WaitGroup
		// finished carries each attempt's outcome back; buffered for
		// every slot, so that no attempt waits on a Run that returned.
		finished = make(chan finishedAttempt, w.opts.Concurrency)
		busy     = make(map[gid.ID]bool, w.opts.Concurrency) // webhooks with an attempt in flight
		timer    = time.NewTimer(0)
		// retry is the soonest retry scheduled and not yet looked for.
		retry     time.Time
		nextPrune time.Time
		// looking: the queue may hold due deliveries this worker could
		// claim; it is looked at while a slot is free.
		looking bool
	)
	defer inflight.Wait()
	defer timer.Stop()
	for {
		if looking && len(busy) < w.opts.Concurrency {
			now := time.Now()
			if now.After(nextPrune) {
				if err := w.prune(ctx); err != nil && ctx.Err() == nil {
					w.log.Error("prune webhook deliveries", "err", err)
				}
				nextPrune = now.Add(min(max(w.opts.Retention/10, w.opts.PollInterval), time.Hour))
			}
			due, more, err := w.claim(ctx, w.opts.Concurrency-len(busy), busy)
			if err != nil && ctx.Err() == nil {
				w.log.Error("webhook deliveries", "err", err)
			}
			for _, d := range due {
				busy[d.WebhookID] = true
				inflight.Go(func() {
					// An attempt under way finishes even when the server is
					// stopping: its outcome is recorded, not left to the lease.
					again, err := w.attempt(context.WithoutCancel(ctx), d)
					if err != nil {
						w.log.Error("record webhook delivery", "delivery", d.ID, "err", err)
					}
					finished <- finishedAttempt{hook: d.WebhookID, retry: again}
				})
			}
			if !retry.After(now) {
				retry = time.Time{} // due by now, so claimed or its webhook busy
			}
			// With more, the loop claims again while a slot is free: each
			// such claim takes at least one delivery, so this ends.
			looking = err == nil && more
		}
		if !looking {
			next := time.Now().Add(w.opts.PollInterval)
			if !retry.IsZero() && retry.Before(next) {
				next = retry
			}
			timer.Reset(max(time.Until(next), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
			looking = true
		case <-timer.C:
			looking = true
		case f := <-finished:
			delete(busy, f.hook)
			if !f.retry.IsZero() && (retry.IsZero() || f.retry.Before(retry)) {
				retry = f.retry
			}
			// The free slot takes whatever is due, the next delivery of
			// the same webhook included, at once.
			looking = true
		}
	}
}

// finishedAttempt is what an attempt tells Run when it is done: its
// webhook, and when its delivery is due again (zero: not to be retried).
type finishedAttempt struct {
	hook  gid.ID
	retry time.Time
}

// prune deletes the deliveries that are done and older than Retention.
func (w *Worker) prune(ctx context.Context) error {
	n, err := w.client.WebhookDelivery.Delete().
		Where(
			webhookdelivery.StatusIn(webhookdelivery.StatusDELIVERED, webhookdelivery.StatusFAILED),
			webhookdelivery.UpdatedAtLT(time.Now().Add(-w.opts.Retention)),
		).
		Exec(system(ctx))
	if n > 0 {
		w.log.Debug("pruned webhook deliveries", "deleted", n)
	}
	return err
}

// system lifts the privacy policies: the worker acts for no caller.
func system(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// claim takes up to limit due deliveries of enabled webhooks, oldest due
// first, at most one per webhook and none of the webhooks in busy (those
// with an attempt in flight here), and leases them to this worker. more
// says whether there may be more due for webhooks not busy: the query
// found as many as it asked for.
func (w *Worker) claim(ctx context.Context, limit int, busy map[gid.ID]bool) (due []*ent.WebhookDelivery, more bool, err error) {
	ctx = system(ctx)
	tx, err := w.client.Tx(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("claim deliveries: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	now := time.Now()
	q := tx.WebhookDelivery.Query().
		Where(
			webhookdelivery.StatusEQ(webhookdelivery.StatusPENDING),
			webhookdelivery.NextAttemptAtLTE(now),
			webhookdelivery.WebhookIDNotIn(slices.Collect(maps.Keys(busy))...),
			webhookdelivery.HasWebhookWith(webhook.Enabled(true)),
		).
		Order(ent.Asc(webhookdelivery.FieldNextAttemptAt)).
		Limit(limit)
	if w.dialect == dialect.Postgres {
		q = q.ForUpdate(entsql.WithLockAction(entsql.SkipLocked))
	}
	found, err := q.All(ctx)
	if err != nil || len(found) == 0 {
		return nil, false, err
	}
	// A webhook's later deliveries wait for its first: they stay due,
	// unleased, for the next claim after its attempt.
	seen := make(map[gid.ID]bool, len(found))
	ids := make([]gid.ID, 0, len(found))
	for _, d := range found {
		if !seen[d.WebhookID] {
			seen[d.WebhookID] = true
			due = append(due, d)
			ids = append(ids, d.ID)
		}
	}
	err = tx.WebhookDelivery.Update().
		Where(webhookdelivery.IDIn(ids...)).
		SetNextAttemptAt(now.Add(w.lease)).
		Exec(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lease deliveries: %w", err)
	}
	hooks, err := tx.Webhook.Query().
		Where(webhook.IDIn(slices.Collect(maps.Keys(seen))...)).
		Select(webhook.FieldID, webhook.FieldURL, webhook.FieldSecret).
		All(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("load webhooks: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("claim deliveries: %w", err)
	}
	byID := make(map[gid.ID]*ent.Webhook, len(hooks))
	for _, h := range hooks {
		byID[h.ID] = h
	}
	for _, d := range due {
		d.Edges.Webhook = byID[d.WebhookID]
	}
	return due, len(found) == limit, nil
}

// Sign returns the Protoloop-Signature value of body sent at timestamp
// (Unix seconds) with secret: "sha256=" and the hex HMAC-SHA256 of
// "<timestamp>.<body>". Receivers compute the same and compare in
// constant time, and refuse timestamps too far from their clock.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// attempt sends one delivery and records what came of it. It returns
// when the delivery is due again, if it is to be retried.
func (w *Worker) attempt(ctx context.Context, d *ent.WebhookDelivery) (time.Time, error) {
	h := d.Edges.Webhook
	if h == nil {
		return time.Time{}, nil // deleted since it was claimed, with its deliveries
	}
	status, sendErr := w.send(ctx, h, d)
	now := time.Now()
	if sendErr == nil {
		return time.Time{}, w.succeeded(ctx, d, status, now)
	}
	return w.failed(ctx, d, status, sendErr, now)
}

// send POSTs a delivery and returns the answer's status; an error for
// anything but a 2xx answer.
func (w *Worker) send(ctx context.Context, h *ent.Webhook, d *ent.WebhookDelivery) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	body := []byte(d.Body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("bad webhook URL: %w", err)
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "protoloop-webhooks/1")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(h.Secret, ts, body))
	req.Header.Set(HeaderDelivery, d.ID.String())
	req.Header.Set(HeaderEvent, d.Kind)
	resp, err := w.http.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode/100 == 3 {
			return resp.StatusCode, fmt.Errorf("HTTP %s: redirect to %s not followed", resp.Status, loc)
		}
		return resp.StatusCode, fmt.Errorf("HTTP %s", resp.Status)
	}
	return resp.StatusCode, nil
}

func (w *Worker) succeeded(ctx context.Context, d *ent.WebhookDelivery, status int, now time.Time) error {
	ctx = system(ctx)
	tx, err := w.client.Tx(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	err = tx.WebhookDelivery.UpdateOneID(d.ID).
		SetStatus(webhookdelivery.StatusDELIVERED).
		AddAttempts(1).
		SetLastAttemptAt(now).
		SetDeliveredAt(now).
		SetResponseStatus(status).
		ClearLastError().
		Exec(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("mark delivered: %w", err)
	}
	err = tx.Webhook.UpdateOneID(d.WebhookID).SetFailureCount(0).SetLastSuccessAt(now).Exec(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("note webhook success: %w", err)
	}
	return tx.Commit()
}

// failed records a failed attempt, against the delivery and its webhook,
// and disables the webhook after DisableAfter failures in a row, with an
// event for its owners' timeline (hence w.changes: the event is written
// in the same transaction, and published once it commits).
func (w *Worker) failed(ctx context.Context, d *ent.WebhookDelivery, status int, sendErr error, now time.Time) (time.Time, error) {
	msg := sendErr.Error()
	if len(msg) > maxErrorChars {
		msg = strings.ToValidUTF8(msg[:maxErrorChars], "") // not half a character
	}
	var (
		retry    time.Time
		disabled *ent.Webhook
	)
	err := w.changes.Run(ctx, func(ctx context.Context) error {
		tx := ent.TxFromContext(ctx)
		attempts := d.Attempts + 1
		upd := tx.WebhookDelivery.UpdateOneID(d.ID).
			SetAttempts(attempts).
			SetLastAttemptAt(now).
			SetLastError(msg)
		if status != 0 {
			upd.SetResponseStatus(status)
		} else {
			upd.ClearResponseStatus()
		}
		if attempts >= w.opts.MaxAttempts {
			upd.SetStatus(webhookdelivery.StatusFAILED)
		} else {
			retry = now.Add(w.backoff(attempts))
			upd.SetNextAttemptAt(retry)
		}
		if err := upd.Exec(ctx); err != nil {
			if ent.IsNotFound(err) {
				return errGone
			}
			return fmt.Errorf("record failed attempt: %w", err)
		}
		h, err := tx.Webhook.UpdateOneID(d.WebhookID).
			AddFailureCount(1).
			SetLastError(msg).
			SetLastErrorAt(now).
			Save(ctx)
		switch {
		case ent.IsNotFound(err):
			return errGone
		case err != nil:
			return fmt.Errorf("note webhook failure: %w", err)
		}
		if h.Enabled && h.FailureCount >= w.opts.DisableAfter {
			if h, err = tx.Webhook.UpdateOne(h).SetEnabled(false).SetDisabledAt(now).Save(ctx); err != nil {
				return fmt.Errorf("disable webhook: %w", err)
			}
			graph.RecordWebhookDisabled(ctx, h)
			disabled = h
		}
		return nil
	})
	switch {
	case errors.Is(err, errGone):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, err
	}
	if disabled != nil {
		w.log.Warn("webhook disabled after repeated failures", "webhook", disabled.ID, "failures", disabled.FailureCount, "err", msg)
	}
	return retry, nil
}

// errGone ends the recording of a failed attempt whose delivery or
// webhook has been deleted meanwhile: there is nothing left to record.
var errGone = errors.New("delivery or webhook deleted")

// backoff is the wait before retrying after the given number of
// attempts: MinBackoff doubled for each attempt after the first, at most
// MaxBackoff, then between half of that and all of it, at random, so
// that deliveries that failed together do not come back together.
func (w *Worker) backoff(attempts int) time.Duration {
	d := w.opts.MinBackoff
	for i := 1; i < attempts && d < w.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.opts.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// errPrivate is the error of a connection DenyPrivate refused.
var errPrivate = errors.New("address is not public: webhooks to private networks are turned off on this server")

func newHTTPClient(opts Options) *http.Client {
	dialer := &net.Dialer{Timeout: opts.Timeout}
	proxy := http.ProxyFromEnvironment
	if opts.DenyPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !public(ip) {
				return fmt.Errorf("%s: %w", host, errPrivate)
			}
			return nil
		}
		// A proxy would dial for us, past the check.
		proxy = nil
	}
	return &http.Client{
		Timeout: opts.Timeout,
		Transport: &http.Transport{
			Proxy:                 proxy,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   opts.Timeout,
			ResponseHeaderTimeout: opts.Timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       time.Minute,
		},
		// Redirects are followed only to the same host, and only those that
		// keep the method and body (307, 308): a webhook's URL is the place
		// its owner chose, not wherever it points on.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects || req.URL.Host != via[0].URL.Host || req.Method != http.MethodPost {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = &net.IPNet{IP: net.IPv4(100, 64, 0, 0), Mask: net.CIDRMask(10, 32)}

// public reports whether ip is an address on the public internet.
func public(ip net.IP) bool {
	return !(ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || cgnat.Contains(ip) ||
		ip.To4() != nil && ip.To4()[0] == 0)
}

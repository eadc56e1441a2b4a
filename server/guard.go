package server

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/protoloop/protoloop/ent/schema"
	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/graph"
)

// DefaultRequestTimeout bounds a query or mutation, from the request's
// arrival (over HTTP) or the operation's start (over a websocket) to its
// answer, when Config.RequestTimeout is zero.
const DefaultRequestTimeout = 30 * time.Second

// unavailableRetryAfter is what Retry-After says when the database is
// unavailable: soon, since the server reconnects by itself.
const unavailableRetryAfter = 1

// guard prepares a request for the limits applied to its operations: it
// notes the client's IP address, bounds a request that is not a stream
// by the request timeout, and lets an operation refused for its caller's
// rate or for the database's state set the HTTP status (429, 503) and
// Retry-After of its response. Websockets and SSE streams live longer
// than any request: their operations are bounded one by one (see
// operationGuard).
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), clientIPKey{}, s.clientIP(r))
		if isStream(r) {
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		h := &httpHint{}
		ctx = context.WithValue(ctx, httpHintKey{}, h)
		next.ServeHTTP(&hintWriter{ResponseWriter: w, hint: h}, r.WithContext(ctx))
	})
}

// isStream reports whether r opens a websocket or an SSE stream.
func isStream(r *http.Request) bool {
	return websocket.IsWebSocketUpgrade(r) || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

type clientIPKey struct{}

// ipKey is the rate limits' key for a client address: the address, or for
// IPv6 its /64, which one subscriber usually holds whole (a key per
// address would give them 2^64 buckets).
func ipKey(ip netip.Addr) string {
	if ip.Is6() && !ip.Is4In6() {
		return "ip:" + netip.PrefixFrom(ip, 64).Masked().String()
	}
	return "ip:" + ip.Unmap().String()
}

// clientIPFrom returns the client IP address guard noted in ctx.
func clientIPFrom(ctx context.Context) netip.Addr {
	ip, _ := ctx.Value(clientIPKey{}).(netip.Addr)
	return ip
}

// clientIP returns the address a request came from: the peer's, unless
// the peer is a trusted proxy (Config.TrustedProxies), in which case the
// right-most address of X-Forwarded-For that is not one. Anyone can send
// X-Forwarded-For, so it is believed only as far as proxies we run wrote it.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		a, _ := netip.ParseAddr(host)
		return a.Unmap()
	}
	ip := peer.Addr().Unmap()
	if !s.trusted(ip) {
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return ip // a hop we cannot read: stop at the last one we could
		}
		ip = hop.Unmap()
		if !s.trusted(ip) {
			return ip
		}
	}
	return ip
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// httpHint carries, from an operation to the HTTP response around it, the
// status that says the whole request was refused and when to retry.
type httpHint struct {
	mu         sync.Mutex
	status     int
	retryAfter int // seconds; 0 for none
}

type httpHintKey struct{}

func (h *httpHint) set(status, retryAfter int) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.status == 0 {
		h.status, h.retryAfter = status, retryAfter
	}
}

func (h *httpHint) get() (status, retryAfter int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status, h.retryAfter
}

// hintWriter answers with its hint's status and Retry-After instead of
// 200. Statuses other than 200 were chosen by a transport on purpose and
// are left alone.
type hintWriter struct {
	http.ResponseWriter
	hint  *httpHint
	wrote bool
}

func (w *hintWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		if hs, retry := w.hint.get(); hs != 0 && status == http.StatusOK {
			status = hs
			if retry > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(retry))
			}
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *hintWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's own writer.
func (w *hintWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// operationGuard is the gqlgen extension that applies the rate limits to
// mutations before they start (and so before their transaction begins),
// bounds every query and mutation by the request timeout, on every
// transport, and records how logIns went for the failure backoff.
type operationGuard struct {
	timeout time.Duration
	now     func() time.Time

	feedback, feedbackIP, redeem, logIn *bucketLimiter
	failures                            *failureBackoff
	admitMu                             sync.Mutex // one admission at a time: all or nothing
}

var (
	_ graphql.HandlerExtension     = (*operationGuard)(nil)
	_ graphql.OperationInterceptor = (*operationGuard)(nil)
)

func newOperationGuard(timeout time.Duration, limits RateLimits) *operationGuard {
	return &operationGuard{
		timeout:    timeout,
		now:        time.Now,
		feedback:   newBucketLimiter(limits.Feedback),
		feedbackIP: newBucketLimiter(limits.GuestFeedbackPerIP),
		redeem:     newBucketLimiter(limits.Redeem),
		logIn:      newBucketLimiter(limits.LogIn),
		failures:   newFailureBackoff(limits.LogInBackoff, limits.LogInFreeFailures),
	}
}

// ExtensionName implements graphql.HandlerExtension.
func (*operationGuard) ExtensionName() string { return "OperationGuard" }

// Validate implements graphql.HandlerExtension.
func (*operationGuard) Validate(graphql.ExecutableSchema) error { return nil }

// feedbackWrites are the mutations Config.RateLimits.Feedback counts.
var feedbackWrites = map[string]bool{
	"leaveFeedback": true, "editFeedback": true, "retractFeedback": true,
	"addComment": true, "vote": true, "unvote": true,
	"startTrial": true, "endTrial": true,
}

// InterceptOperation implements graphql.OperationInterceptor. It runs
// once per operation, before any response interceptor (the
// transactioner's among them); the response handler it returns may be
// called again for more responses, and answers nil when there are none.
func (g *operationGuard) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	opCtx := graphql.GetOperationContext(ctx)
	op := opCtx.Operation
	if op == nil || op.Operation == ast.Subscription {
		return next(ctx)
	}
	hint, _ := ctx.Value(httpHintKey{}).(*httpHint)
	var fields []graphql.CollectedField
	if op.Operation == ast.Mutation {
		fields = graphql.CollectFields(opCtx, op.SelectionSet, []string{"Mutation"})
		if wait := g.admit(ctx, opCtx, fields); wait > 0 {
			retry := int(math.Ceil(wait.Seconds()))
			hint.set(http.StatusTooManyRequests, retry)
			return graphql.OneShot(rateLimited(retry))
		}
	}
	respond := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		ctx, cancel := context.WithTimeout(ctx, g.timeout)
		defer cancel()
		resp := respond(ctx)
		if resp == nil {
			return nil
		}
		g.noteLogIns(ctx, opCtx, fields, resp)
		for _, e := range resp.Errors {
			switch e.Extensions["code"] {
			case string(graph.CodeUnavailable):
				hint.set(http.StatusServiceUnavailable, unavailableRetryAfter)
			case string(graph.CodeTimeout):
				hint.set(http.StatusServiceUnavailable, 0)
			}
		}
		return resp
	}
}

// admit takes what the mutation's rate-limited fields cost from their
// callers' buckets, and returns how long to wait when one has too little.
// Every field counts: a mutation that aliases leaveFeedback fifty times
// costs fifty. It is all or nothing: a refused mutation does nothing, so
// it spends nothing either, not even the part of its cost that one bucket
// could have paid.
func (g *operationGuard) admit(ctx context.Context, opCtx *graphql.OperationContext, fields []graphql.CollectedField) time.Duration {
	now := g.now()
	id := viewer.FromContext(ctx)
	ip := ipKey(clientIPFrom(ctx))
	caller := ip
	if id != nil && id.TokenID != 0 {
		caller = "token:" + id.TokenID.String()
	}
	guest := id == nil || id.IsGuest()

	var (
		wait    time.Duration
		charges []charge
	)
	add := func(l *bucketLimiter, key string) {
		if l == nil {
			return
		}
		for i := range charges {
			if charges[i].l == l && charges[i].key == key {
				charges[i].n++
				return
			}
		}
		charges = append(charges, charge{l: l, key: key, n: 1})
	}
	for _, f := range fields {
		switch {
		case feedbackWrites[f.Name]:
			add(g.feedback, caller)
			if guest {
				add(g.feedbackIP, ip)
			}
		case f.Name == "redeemInvite":
			if guest {
				add(g.redeem, ip)
			} else {
				add(g.redeem, caller)
			}
		case f.Name == "signUp":
			add(g.logIn, ip)
		case f.Name == "logIn":
			add(g.logIn, ip)
			wait = max(wait, g.failures.wait(ip, now))
			if email := logInEmail(opCtx, f); email != "" {
				wait = max(wait, g.failures.wait(email, now))
			}
		}
	}
	if wait > 0 || len(charges) == 0 {
		return wait
	}
	// Taken one bucket after the other and given back if one has too
	// little; under admitMu, so that no other mutation sees what is given
	// back as spent.
	g.admitMu.Lock()
	defer g.admitMu.Unlock()
	taken, refused := charges[:0:0], false
	for _, c := range charges {
		if ok, w := c.l.take(c.key, c.n, now); ok {
			taken = append(taken, c)
		} else {
			refused, wait = true, max(wait, w, time.Second)
		}
	}
	if refused {
		for _, c := range taken {
			c.l.give(c.key, c.n)
		}
	}
	return wait
}

// charge is what a mutation costs one bucket: n operations from l's
// bucket for key.
type charge struct {
	l   *bucketLimiter
	key string
	n   int
}

// noteLogIns counts the logIns of a mutation that failed for a wrong
// email or password against their email and IP address, and clears the
// email's count when one succeeded.
func (g *operationGuard) noteLogIns(ctx context.Context, opCtx *graphql.OperationContext, fields []graphql.CollectedField, resp *graphql.Response) {
	if g.failures == nil {
		return
	}
	now := g.now()
	ip := ipKey(clientIPFrom(ctx))
	for _, f := range fields {
		if f.Name != "logIn" {
			continue
		}
		email := logInEmail(opCtx, f)
		switch failedWith(resp, f.Alias) {
		case string(graph.CodeUnauthenticated):
			g.failures.fail(ip, ipFailureFactor, now)
			if email != "" {
				g.failures.fail(email, 1, now)
			}
		case "":
			if len(resp.Errors) == 0 && email != "" {
				g.failures.reset(email)
			}
		}
	}
}

// logInEmail returns the backoff key of the email a logIn field names,
// or "".
func logInEmail(opCtx *graphql.OperationContext, f graphql.CollectedField) string {
	in, _ := f.ArgumentMap(opCtx.Variables)["input"].(map[string]any)
	email, _ := in["email"].(string)
	if email == "" {
		return ""
	}
	return "email:" + schema.NormalizeEmail(email)
}

// failedWith returns the code of the error at the root field alias, or "".
func failedWith(resp *graphql.Response, alias string) string {
	for _, e := range resp.Errors {
		if len(e.Path) > 0 && e.Path[0] == ast.PathName(alias) {
			code, _ := e.Extensions["code"].(string)
			return code
		}
	}
	return ""
}

// rateLimited answers an operation refused for its caller's rate.
func rateLimited(retryAfter int) *graphql.Response {
	e := gqlerror.Errorf("too many requests: try again in %s", seconds(retryAfter))
	e.Extensions = map[string]any{"code": string(graph.CodeRateLimited), "retryAfter": retryAfter}
	return &graphql.Response{Errors: gqlerror.List{e}, Data: []byte("null")}
}

func seconds(n int) string {
	if n == 1 {
		return "1 second"
	}
	return fmt.Sprintf("%d seconds", n)
}

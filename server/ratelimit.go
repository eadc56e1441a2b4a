package server

import (
	"math"
	"sync"
	"time"
)

// RateLimits bound how fast one caller may do the few things an anonymous
// or guest caller on the open internet can do in bulk: leave feedback,
// redeem invites, log in. Each limit is a number of operations per minute,
// in a token bucket that holds as many, so a burst up to the limit passes
// and then one more every 60/limit seconds. Zero turns a limit off.
//
// A refused operation gets RATE_LIMITED with extensions.retryAfter (whole
// seconds), and over HTTP a 429 with a Retry-After header.
//
// The counts are in this process's memory: with R replicas a caller whose
// requests are spread over all of them gets up to R times each limit (the
// README's "With several replicas" says what to do about it).
type RateLimits struct {
	// Feedback limits each bearer token's feedback writes: leaveFeedback,
	// editFeedback, retractFeedback, addComment, vote, unvote, startTrial
	// and endTrial.
	Feedback int
	// GuestFeedbackPerIP limits the same writes of guests (and anonymous
	// callers) per client IP address, summed over their tokens: a guest
	// token costs nothing to get while an invite lasts.
	GuestFeedbackPerIP int
	// Redeem limits redeemInvite per client IP address, or per token for a
	// signed-in user.
	Redeem int
	// LogIn limits logIn and signUp, which each cost an argon2 hash, per
	// client IP address.
	LogIn int
	// LogInBackoff is the first delay after too many failed logIns for
	// one email or from one IP address: after LogInFreeFailures failures
	// in a row (for an IP address, four times as many), logIn for it is
	// refused for LogInBackoff, doubling with every further failure up to
	// MaxLogInBackoff. A successful logIn clears its email's count; counts
	// are forgotten after loginForget without a failure. Zero turns the
	// backoff off.
	LogInBackoff      time.Duration
	LogInFreeFailures int
}

// DefaultRateLimits are limits no person using protoloop, however busy,
// comes near, while a script hammering the API does at once.
func DefaultRateLimits() RateLimits {
	return RateLimits{
		Feedback:           60,
		GuestFeedbackPerIP: 600, // a room of testers behind one NAT
		Redeem:             60,
		LogIn:              30,
		LogInBackoff:       time.Second,
		LogInFreeFailures:  5,
	}
}

const (
	// MaxLogInBackoff caps the delay after failed logIns, so that someone
	// who forgot their password and kept trying is not locked out for long.
	MaxLogInBackoff = 15 * time.Minute
	// loginForget is how long failed logIns are remembered.
	loginForget = time.Hour
	// ipFailureFactor is how many more failures an IP address gets than
	// an email before its backoff starts: many people may share it.
	ipFailureFactor = 4
	// maxRateKeys caps the keys each limiter remembers, however many
	// addresses and tokens an attack comes from; past it, a random one is
	// forgotten (its caller gets a fresh bucket).
	maxRateKeys = 100_000
	// sweepEvery is how often a limiter forgets the keys it no longer
	// needs: full buckets and expired failure counts.
	sweepEvery = time.Minute
)

// bucketLimiter is an in-memory token bucket per key. Memory stays bounded:
// a bucket that has refilled is as good as none and is dropped at the next
// sweep, and there are never more than maxRateKeys.
type bucketLimiter struct {
	perSecond float64
	burst     float64

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

// newBucketLimiter returns a limiter of perMinute operations per key, or
// nil, which allows everything, for perMinute <= 0.
func newBucketLimiter(perMinute int) *bucketLimiter {
	if perMinute <= 0 {
		return nil
	}
	return &bucketLimiter{
		perSecond: float64(perMinute) / 60,
		burst:     float64(perMinute),
		buckets:   map[string]*bucket{},
	}
}

// take takes n operations from key's bucket, all of them or none, or
// reports how long until n are available. A bucket holds at most its
// burst: more are never available, and wait is then the time the whole
// bucket takes to refill (by then, a request within the limit passes).
func (l *bucketLimiter) take(key string, n int, now time.Time) (ok bool, wait time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, found := l.buckets[key]
	if !found {
		if len(l.buckets) >= maxRateKeys {
			for k := range l.buckets {
				delete(l.buckets, k)
				break
			}
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.perSecond)
	b.at = now
	if want := float64(n); b.tokens >= want {
		b.tokens -= want
		return true, 0
	}
	if float64(n) > l.burst {
		return false, time.Duration(l.burst / l.perSecond * float64(time.Second))
	}
	return false, time.Duration((float64(n) - b.tokens) / l.perSecond * float64(time.Second))
}

// give puts back n operations take took from key's bucket.
func (l *bucketLimiter) give(key string, n int) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[key]; b != nil {
		b.tokens = math.Min(l.burst, b.tokens+float64(n))
	}
}

// sweep drops the buckets that have refilled. Call with l.mu held.
func (l *bucketLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < sweepEvery {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.perSecond >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// failureBackoff counts failures per key and, past a number of free ones,
// holds the key off for a delay that doubles with every failure.
type failureBackoff struct {
	base time.Duration
	free int

	mu        sync.Mutex
	keys      map[string]*failures
	lastSweep time.Time
}

type failures struct {
	n     int
	last  time.Time
	until time.Time // refused until then
}

// newFailureBackoff returns a backoff, or nil, which never holds off, for
// base <= 0.
func newFailureBackoff(base time.Duration, free int) *failureBackoff {
	if base <= 0 {
		return nil
	}
	return &failureBackoff{base: base, free: max(free, 0), keys: map[string]*failures{}}
}

// wait returns how long key is still held off.
func (b *failureBackoff) wait(key string, now time.Time) time.Duration {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.keys[key]
	if f == nil || !now.Before(f.until) {
		return 0
	}
	return f.until.Sub(now)
}

// fail counts a failure of key, freeFactor times as tolerant as the
// backoff's free failures say.
func (b *failureBackoff) fail(key string, freeFactor int, now time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweep(now)
	f := b.keys[key]
	if f == nil {
		if len(b.keys) >= maxRateKeys {
			for k := range b.keys {
				delete(b.keys, k)
				break
			}
		}
		f = &failures{}
		b.keys[key] = f
	}
	f.n++
	f.last = now
	if over := f.n - b.free*freeFactor; over > 0 {
		delay := b.base
		for i := 1; i < over && delay < MaxLogInBackoff; i++ {
			delay *= 2 // doubled step by step: a shift by over-1 overflows
		}
		f.until = now.Add(min(delay, MaxLogInBackoff))
	}
}

// reset forgets key's failures.
func (b *failureBackoff) reset(key string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.keys, key)
}

// sweep forgets failures older than loginForget. Call with b.mu held.
func (b *failureBackoff) sweep(now time.Time) {
	if now.Sub(b.lastSweep) < sweepEvery {
		return
	}
	b.lastSweep = now
	for k, f := range b.keys {
		if now.Sub(f.last) > loginForget && !now.Before(f.until) {
			delete(b.keys, k)
		}
	}
}

package server

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestBucketRefillsAtItsRate(t *testing.T) {
	l := newBucketLimiter(6) // one every 10 seconds
	now := time.Unix(1_700_000_000, 0)
	for i := range 6 {
		if ok, _ := l.take("k", 1, now); !ok {
			t.Fatalf("take %d of a full bucket refused", i+1)
		}
	}
	ok, wait := l.take("k", 1, now)
	if ok || wait != 10*time.Second {
		t.Fatalf("empty bucket: ok %v, wait %v, want refused for 10s", ok, wait)
	}
	if ok, _ := l.take("k", 1, now.Add(9*time.Second)); ok {
		t.Fatal("taken before a token refilled")
	}
	if ok, _ := l.take("k", 1, now.Add(10*time.Second)); !ok {
		t.Fatal("refused once a token refilled")
	}
	if ok, _ := l.take("other", 1, now); !ok {
		t.Fatal("another key shares the bucket")
	}
	if ok, _ := (*bucketLimiter)(nil).take("k", 1, now); !ok {
		t.Fatal("no limit refused")
	}
}

func TestLimitersForgetIdleKeys(t *testing.T) {
	l := newBucketLimiter(60)
	b := newFailureBackoff(time.Second, 1)
	now := time.Unix(1_700_000_000, 0)
	for i := range 1000 {
		l.take(fmt.Sprint(i), 1, now)
		b.fail(fmt.Sprint(i), 1, now)
	}
	// A bucket is full again a minute later, and failures are forgotten
	// after loginForget: the next sweep drops them all.
	later := now.Add(loginForget + sweepEvery + time.Second)
	l.take("new", 1, later)
	b.fail("new", 1, later)
	if n := len(l.buckets); n != 1 {
		t.Errorf("%d buckets after the sweep, want 1", n)
	}
	if n := len(b.keys); n != 1 {
		t.Errorf("%d failure counts after the sweep, want 1", n)
	}
}

func TestLimitersHoldAtMostMaxRateKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a limiter")
	}
	l := newBucketLimiter(60)
	now := time.Unix(1_700_000_000, 0)
	for i := range maxRateKeys + 500 {
		l.take(fmt.Sprint(i), 1, now) // all busy: nothing to sweep
	}
	if n := len(l.buckets); n > maxRateKeys {
		t.Errorf("%d buckets, want at most %d", n, maxRateKeys)
	}
}

func TestBackoffDoublesUpToItsCap(t *testing.T) {
	b := newFailureBackoff(time.Second, 2)
	now := time.Unix(1_700_000_000, 0)
	var waits []time.Duration
	for range 16 {
		b.fail("k", 1, now)
		waits = append(waits, b.wait("k", now))
	}
	want := []time.Duration{0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900}
	for i, w := range want {
		if waits[i] != w*time.Second {
			t.Fatalf("waits %v, want %v seconds", waits, want)
		}
	}
	b.reset("k")
	if w := b.wait("k", now); w != 0 {
		t.Errorf("wait %v after a reset", w)
	}
}

// However long the first delay and however many the failures, the
// backoff stays at its cap: doubling never overflows into the past.
func TestBackoffOfALongBaseStaysAtItsCap(t *testing.T) {
	b := newFailureBackoff(30*time.Second, 0)
	now := time.Unix(1_700_000_000, 0)
	for i := range 100 {
		b.fail("k", 1, now)
		if w := b.wait("k", now); w != MaxLogInBackoff && i > 5 {
			t.Fatalf("after %d failures the wait is %v, want %v", i+1, w, MaxLogInBackoff)
		}
	}
}

func TestIPv6ClientsAreCountedByTheir64(t *testing.T) {
	a, b := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff::9")
	other := netip.MustParseAddr("2001:db8:1:3::1")
	if ipKey(a) != ipKey(b) || ipKey(a) == ipKey(other) {
		t.Errorf("keys %s, %s and %s: want the first two alike, the third apart", ipKey(a), ipKey(b), ipKey(other))
	}
	if v4, mapped := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("::ffff:192.0.2.7"); ipKey(v4) != ipKey(mapped) || ipKey(v4) != "ip:192.0.2.7" {
		t.Errorf("keys %s and %s for one IPv4 address", ipKey(v4), ipKey(mapped))
	}
}

package webhooks

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSignMatchesARecipeWrittenOut(t *testing.T) {
	// HMAC-SHA256("whsec_test", "1700000000.{}"), computed with
	// printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test
	const want = "sha256=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
	got := Sign("whsec_test", 1700000000, []byte("{}"))
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
	if Sign("whsec_test", 1700000001, []byte("{}")) == got || Sign("whsec_other", 1700000000, []byte("{}")) == got {
		t.Error("the signature does not depend on the timestamp and the secret")
	}
}

func TestBackoffDoublesWithJitterUpToTheMaximum(t *testing.T) {
	w := New(nil, "sqlite3", nil, Options{MinBackoff: time.Second, MaxBackoff: time.Minute})
	for attempts, base := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 7: time.Minute, 40: time.Minute} {
		for range 50 {
			if d := w.backoff(attempts); d < base/2 || d > base {
				t.Fatalf("backoff(%d) = %s, want %s to %s", attempts, d, base/2, base)
			}
		}
	}
}

func TestPublicAddresses(t *testing.T) {
	for _, tc := range []struct {
		ip     string
		public bool
	}{
		{"93.184.216.34", true},
		{"2606:2800:220:1:248:1893:25c8:1946", true},
		{"127.0.0.1", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"100.64.0.1", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"fd00::1", false},
		{"fe80::1", false},
		{"::ffff:127.0.0.1", false},
	} {
		if got := public(net.ParseIP(tc.ip)); got != tc.public {
			t.Errorf("public(%s) = %v, want %v", tc.ip, got, tc.public)
		}
	}
}

func TestRedirectsAreFollowedOnlyOnTheSameHost(t *testing.T) {
	final := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	}))
	defer final.Close()
	var same *httptest.Server
	same = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, same.URL+"/here", http.StatusPermanentRedirect)
		case "/away":
			http.Redirect(w, r, final.URL+"/", http.StatusTemporaryRedirect)
		case "/here":
			if r.Method != http.MethodPost {
				w.WriteHeader(http.StatusMethodNotAllowed)
			}
		}
	}))
	defer same.Close()
	c := newHTTPClient(Options{Timeout: 5 * time.Second})
	post := func(url string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader("{}"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(same.URL + "/moved"); got != http.StatusOK {
		t.Errorf("a 308 on the same host ended in %d, want it followed to 200", got)
	}
	if got := post(same.URL + "/away"); got != http.StatusTemporaryRedirect {
		t.Errorf("a 307 to another host ended in %d, want it not followed", got)
	}
}

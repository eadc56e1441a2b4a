package main

import (
	"flag"
	"io"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/protoloop/protoloop/server"
)

// serveConfig parses serve's timeout and limit flags as the command line
// gives them.
func serveConfig(t *testing.T, args ...string) (server.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o serveOptions
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		return server.Config{}, err
	}
	return o.config(nil)
}

func TestServeHasRateLimitsUnlessToldOtherwise(t *testing.T) {
	cfg, err := serveConfig(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimits == nil || *cfg.RateLimits != server.DefaultRateLimits() {
		t.Errorf("default rate limits %+v, want %+v", cfg.RateLimits, server.DefaultRateLimits())
	}
	if cfg.RequestTimeout != server.DefaultRequestTimeout {
		t.Errorf("request timeout %v, want %v", cfg.RequestTimeout, server.DefaultRequestTimeout)
	}

	cfg, err = serveConfig(t, "--rate-feedback", "0", "--rate-login", "5", "--login-backoff", "0", "--request-timeout", "2s")
	if err != nil {
		t.Fatal(err)
	}
	want := server.DefaultRateLimits()
	want.Feedback, want.LogIn, want.LogInBackoff = 0, 5, 0
	if *cfg.RateLimits != want || cfg.RequestTimeout != 2*time.Second {
		t.Errorf("limits %+v and timeout %v, want %+v and 2s", *cfg.RateLimits, cfg.RequestTimeout, want)
	}
}

func TestTrustedProxiesAreAddressesOrCIDRs(t *testing.T) {
	cfg, err := serveConfig(t, "--trusted-proxy", "10.0.0.7, 192.168.0.0/16,::1")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.7/32"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("::1/128"),
	}
	if !slices.Equal(cfg.TrustedProxies, want) {
		t.Errorf("trusted proxies %v, want %v", cfg.TrustedProxies, want)
	}
	for _, bad := range []string{"proxy.internal", "10.0.0.0/33"} {
		if _, err := serveConfig(t, "--trusted-proxy", bad); err == nil {
			t.Errorf("--trusted-proxy %s accepted", bad)
		}
	}
	if _, err := serveConfig(t, "--request-timeout", "0s"); err == nil {
		t.Error("--request-timeout 0s accepted")
	}
}

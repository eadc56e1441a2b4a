package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/protoloop/protoloop/server/servertest"
)

func TestServeAdminAddrServesMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr servertest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0",
			"--admin-addr", "127.0.0.1:0", "--log-format", "json"},
			func(string) string { return "" }, &servertest.Buffer{}, &stderr)
	}()

	var metricsURL string
	for deadline := time.Now().Add(30 * time.Second); metricsURL == ""; {
		for line := range strings.Lines(stderr.String()) {
			var entry struct{ Msg, Metrics string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "serving admin endpoints" {
				metricsURL = entry.Metrics
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not say where its admin endpoints are:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "protoloop_sql_statements_total") {
		t.Errorf("GET %s: %s\n%.300s", metricsURL, resp.Status, body)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d, want 0:\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop after its context was cancelled")
	}
	if _, err := http.Get(metricsURL); err == nil {
		t.Error("the admin listener is still up after serve returned")
	}
}

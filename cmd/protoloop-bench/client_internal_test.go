package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestClientReportsEveryFailedResponse runs gqlClient.do as the load
// loops do (out nil, the cheap check) and as seed does (out decoded)
// against a server answering each way a request can fail, and once as it
// should. A response whose "data" starts the body is only checked for
// success, so each failure must still be one.
func TestClientReportsEveryFailedResponse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		length  int // Content-Length if not 0
		body    string
		wantErr string // "" for success
	}{
		{"errors without data are an error", 200, 0,
			`{"errors":[{"message":"not allowed","extensions":{"code":"FORBIDDEN"}}],"data":null}`, "not allowed (FORBIDDEN)"},
		{"errors with partial data are an error", 200, 0,
			`{"errors":[{"message":"internal error","path":["workspace","prototypes"],"extensions":{"code":"INTERNAL"}}],"data":{"workspace":{"id":"W1","prototypes":null}}}`,
			"internal error (INTERNAL)"},
		{"an error without a code is its message", 200, 0, `{"errors":[{"message":"boom"}],"data":null}`, "boom"},
		{"a status other than 200 is an error even with data", 502, 0, `{"data":{"workspace":{"id":"W1"}}}`, "HTTP 502 Bad Gateway without errors"},
		{"a status other than 200 is an error without JSON", 503, 0, `upstream unavailable`, "HTTP 503 Service Unavailable: upstream unavailable"},
		{"a truncated body is an error", 200, 0, `{"data":{"workspace":{"id":"W1","prototypes":{"edges":[{"node":{"id":"P`, "HTTP 200 OK"},
		{"a body cut short of its Content-Length is an error", 200, 1000, `{"data":{"workspace":{"id":"W1"}}}`, "unexpected EOF"},
		{"null data without errors is an error", 200, 0, `{"data":null}`, "no data"},
		{"data without errors is a success", 200, 0, `{"data":{"workspace":{"id":"W1","prototypes":{"edges":[]}}},"extensions":{"cost":1}}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if tc.length > 0 {
					w.Header().Set("Content-Length", strconv.Itoa(tc.length))
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c := &gqlClient{http: srv.Client(), base: srv.URL}
			for _, out := range []any{nil, &json.RawMessage{}} {
				err := c.do(context.Background(), dashboardQuery, map[string]any{"slug": "w"}, out)
				switch {
				case tc.wantErr == "" && err != nil:
					t.Errorf("out %T: %v, want no error", out, err)
				case tc.wantErr != "" && err == nil:
					t.Errorf("out %T: no error, want %q", out, tc.wantErr)
				case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
					t.Errorf("out %T: %v, want %q", out, err, tc.wantErr)
				}
			}
		})
	}
}

// BenchmarkCheckResponse checks a dashboard-sized response (~300 KB) as
// the load loops do (cheap) and decoded as callers that need the data do.
func BenchmarkCheckResponse(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"data":{"workspace":{"id":"V29ya3NwYWNlOjE","name":"Bench","prototypes":{"edges":[`)
	for p := range 20 {
		if p > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"node":{"id":"UHJvdG90eXBlOjE%d","title":"Prototype %d","status":"TESTING","iterations":{"edges":[`, p, p)
		for i := range 5 {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"node":{"id":"SXRlcmF0aW9uOjE%d","number":%d,"title":"Iteration %d","feedback":{"edges":[`, i, i+1, i)
			for f := range 10 {
				if f > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, `{"node":{"id":"RmVlZGJhY2s6MTIzNDU2Nzg5%d","kind":"IDEA","body":%s,"rating":%d,"author":{"displayName":"Tester %d"}}}`,
					f, strconv.Quote("Let me copy last week's shift instead of typing it again: it takes ten minutes every Monday."), 1+f%5, f)
			}
			sb.WriteString(`]}}}`)
		}
		sb.WriteString(`]}}}`)
	}
	sb.WriteString(`]}}}}`)
	body := []byte(sb.String())
	if err := json.Unmarshal(body, new(any)); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		out  func() any
	}{
		{"cheap", func() any { return nil }},
		{"decoded", func() any { return &json.RawMessage{} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := checkResponse(200, "200 OK", body, bc.out()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

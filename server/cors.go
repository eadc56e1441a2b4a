package server

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/protoloop/protoloop/graph"
)

// corsMaxAge is how long browsers may cache a preflight's answer
// (Chromium caps it at 2 hours).
const corsMaxAge = 2 * 60 * 60

// corsHeaders are the request headers pages of allowed origins may send.
var corsHeaders = []string{"Authorization", "Content-Type", "Accept"}

// cors applies the origin policy of originAllowed (Config.AllowedOrigins)
// to plain HTTP requests, as the websocket transport does to handshakes:
// pages of allowed origins get CORS headers and their preflights are
// answered; requests from pages of other origins are refused with 403
// before they run, and their preflights fail, so browsers neither send
// nor show them. Requests without an Origin are not a browser's and pass.
func (s *Server) cors(next http.Handler) http.Handler {
	allowHeaders := strings.Join(corsHeaders, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if !s.originAllowed(r) {
			writeError(w, http.StatusForbidden, graph.CodeForbidden,
				fmt.Sprintf("requests from origin %q are not allowed", origin))
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		// Retry-After tells a rate-limited page when to try again.
		h.Set("Access-Control-Expose-Headers", "Retry-After")
		if !preflight {
			next.ServeHTTP(w, r)
			return
		}
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", allowHeaders)
		h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
		w.WriteHeader(http.StatusNoContent)
	})
}

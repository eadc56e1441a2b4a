package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/protoloop/protoloop/ent/schema/viewer"
	"github.com/protoloop/protoloop/graph"
)

// authenticate puts the caller's identity in the request context, from an
// `Authorization: Bearer <token>` header. A request without the header
// goes on anonymously: what an anonymous caller may do is for the privacy
// policies to say, and signUp and logIn need no token. A header that is
// there but wrong is refused outright rather than treated as anonymous, so
// that a client with a stale token learns it at once instead of seeing
// its data vanish.
//
// Websocket connections, when they come, carry the token in their
// connection_init payload instead and authenticate there.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers := r.Header.Values("Authorization")
		if len(headers) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		token, ok := bearerToken(headers)
		if !ok {
			unauthenticated(w, "invalid_request", `malformed Authorization header: send "Bearer <token>"`)
			return
		}
		ctx := r.Context()
		id, err := s.identities.Authenticate(ctx, s.db.Client, token)
		switch {
		case errors.Is(err, graph.ErrInvalidToken):
			unauthenticated(w, "invalid_token", "invalid, expired or revoked token: log in again")
		case err != nil && s.writeDatabaseError(ctx, w, err, "authenticate", "check the token"):
		case err != nil:
			s.log.ErrorContext(ctx, "authenticate", "err", err)
			writeError(w, http.StatusServiceUnavailable, graph.CodeInternal, "could not check the token; try again")
		default:
			s.tokens.Touch(id.TokenID)
			next.ServeHTTP(w, r.WithContext(viewer.NewContext(ctx, id)))
		}
	})
}

// bearerToken returns the token of a single "Bearer <token>" header. The
// scheme is case-insensitive (RFC 9110, section 11.1).
func bearerToken(headers []string) (string, bool) {
	if len(headers) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(headers[0], " ")
	token = strings.TrimLeft(token, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

// unauthenticated answers 401 with the RFC 6750 challenge, whose error
// attribute tells a malformed request from a bad token.
func unauthenticated(w http.ResponseWriter, reason, message string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="protoloop", error="`+reason+`"`)
	writeError(w, http.StatusUnauthorized, graph.CodeUnauthenticated, message)
}

// tokenUseFlushInterval is how often the tokens used since the last flush
// get their lastUsedAt written, in one statement for all of them.
const tokenUseFlushInterval = 30 * time.Second

// recordTokenUse flushes the token-use tracker every
// tokenUseFlushInterval until ctx is done. Serve flushes once more after
// the last request has finished.
func (s *Server) recordTokenUse(ctx context.Context) {
	tick := time.NewTicker(tokenUseFlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.flushTokenUse(ctx)
		}
	}
}

// flushTokenUse writes the token use noted so far. A failure is logged
// and retried with the next flush: lastUsedAt is advisory, and no request
// should fail over it.
func (s *Server) flushTokenUse(ctx context.Context) {
	if _, err := s.tokens.Flush(ctx); err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "record token use", "err", err)
	}
}

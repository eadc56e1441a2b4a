package server

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/protoloop/protoloop/graph"
)

// errorResponse is a GraphQL response carrying one error, for requests the
// server refuses before gqlgen sees them: clients then read every failure
// from the same place, errors[].extensions.code.
type errorResponse struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// writeError sends status with a GraphQL-shaped error body.
func writeError(w http.ResponseWriter, status int, code graph.Code, message string) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // messages quote things like "Bearer <token>"
	// Strings and a map of strings always encode.
	_ = enc.Encode(errorResponse{Errors: []errorEntry{{
		Message:    message,
		Extensions: map[string]any{"code": string(code)},
	}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body.Bytes())
}

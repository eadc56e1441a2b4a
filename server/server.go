// Package server is protoloop's HTTP server: the GraphQL transports,
// authentication, health checks and graceful shutdown.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"

	"github.com/protoloop/protoloop/server/storage"
)

// Config configures a Server.
type Config struct {
	Logger *slog.Logger
}

// Server serves protoloop's API over HTTP.
type Server struct {
	db  *storage.DB
	cfg Config
}

// New returns a server for db.
func New(db *storage.DB, cfg Config) *Server { return &Server{db: db, cfg: cfg} }

// Handler returns the server's routes: / (GraphiQL), /graphql, /healthz, /readyz.
func (s *Server) Handler() http.Handler { return http.NotFoundHandler() }

// Serve serves on ln until ctx is done, then shuts down gracefully,
// finishing requests in flight.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return errors.New("server: not implemented yet")
}

package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/protoloop/protoloop/ent"
	"github.com/protoloop/protoloop/ent/privacy"
	"github.com/protoloop/protoloop/ent/schema/gid"
	"github.com/protoloop/protoloop/ent/schema/rule"
	"github.com/protoloop/protoloop/server/storage"
)

// Code classifies an error for clients; it is sent as extensions.code.
type Code string

// The error codes of protoloop's API.
const (
	CodeBadUserInput    Code = "BAD_USER_INPUT"
	CodeUnauthenticated Code = "UNAUTHENTICATED"
	CodeForbidden       Code = "FORBIDDEN"
	CodeNotFound        Code = "NOT_FOUND"
	CodeConflict        Code = "CONFLICT"
	CodeRateLimited     Code = "RATE_LIMITED"
	CodeTimeout         Code = "TIMEOUT"
	CodeUnavailable     Code = "UNAVAILABLE"
	CodeInternal        Code = "INTERNAL"
)

// Messages of the errors that are the server's circumstances, not the
// request's fault: the same request may well succeed later.
const (
	msgTimeout     = "the request took too long and was stopped"
	msgUnavailable = "the database is unavailable; try again shortly"
)

// Error is an error meant for the client: its message is shown as is.
// Anything that is not an *Error (or one of the ent and privacy errors
// ErrorPresenter knows) is logged and shown as "internal error".
type Error struct {
	Code    Code
	Message string
	Field   string // the input field at fault, for BAD_USER_INPUT
}

func (e *Error) Error() string { return e.Message }

func badInput(field, format string, args ...any) error {
	return &Error{Code: CodeBadUserInput, Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(what string) error {
	return &Error{Code: CodeNotFound, Message: what + " not found"}
}

func conflict(format string, args ...any) error {
	return &Error{Code: CodeConflict, Message: fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) error {
	return &Error{Code: CodeForbidden, Message: fmt.Sprintf(format, args...)}
}

// ErrorPresenter turns every error a resolver returns into what the client
// sees: a message and extensions.code, never a driver, SQL or constraint
// text. Errors it does not know are logged with their detail and shown as
// INTERNAL.
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var (
			appErr *Error
			valErr *ent.ValidationError
			gErr   *gqlerror.Error
		)
		switch {
		case errors.As(err, &appErr):
			present(gqlErr, appErr.Code, appErr.Message, appErr.Field)
		case errors.As(err, &valErr):
			field := lowerCamel(valErr.Name)
			present(gqlErr, CodeBadUserInput, fmt.Sprintf("%s: %v", field, errors.Unwrap(valErr)), field)
		case errors.Is(err, gid.ErrInvalid):
			present(gqlErr, CodeBadUserInput, err.Error(), "")
		case errors.Is(err, rule.ErrUnauthenticated):
			present(gqlErr, CodeUnauthenticated, "authentication required: send a valid bearer token", "")
		case errors.Is(err, rule.ErrForbidden):
			present(gqlErr, CodeForbidden, rule.ErrForbidden.Error(), "")
		case ent.IsNotFound(err), errors.Is(err, privacy.Deny):
			// A denial without a reason means the object is in a workspace the
			// caller cannot see: say no more than for one that does not exist.
			present(gqlErr, CodeNotFound, "not found", "")
		case ent.IsConstraintError(err):
			log.WarnContext(ctx, "constraint violation", "err", err, "path", gqlErr.Path.String())
			present(gqlErr, CodeConflict, "conflicts with existing data", "")
		case storage.IsTimeout(err) || errors.Is(ctx.Err(), context.DeadlineExceeded):
			log.WarnContext(ctx, "operation timed out", "err", err, "path", gqlErr.Path.String())
			present(gqlErr, CodeTimeout, msgTimeout, "")
		case storage.IsUnavailable(err):
			log.WarnContext(ctx, "database unavailable", "err", err, "path", gqlErr.Path.String())
			present(gqlErr, CodeUnavailable, msgUnavailable, "")
		case errors.Is(err, context.Canceled):
			// The caller went away (a subscription completed, a request was
			// abandoned): nobody will read this, and the server did no wrong.
			log.DebugContext(ctx, "operation canceled", "path", gqlErr.Path.String())
			present(gqlErr, CodeInternal, "canceled", "")
		case errors.As(err, &gErr) && gErr.Extensions["code"] != nil:
			// Parse and validation errors from gqlgen already carry a code.
		case errors.As(err, &gErr) && gErr.Err == nil:
			// gqlgen's own messages (an argument of the wrong type, say) are
			// about the request, not the server.
			present(gqlErr, CodeBadUserInput, gqlErr.Message, "")
		default:
			log.ErrorContext(ctx, "internal error", "err", err, "path", gqlErr.Path.String())
			present(gqlErr, CodeInternal, "internal error", "")
		}
		return gqlErr
	}
}

func present(e *gqlerror.Error, code Code, message, field string) {
	e.Message = message
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions["code"] = string(code)
	if field != "" {
		e.Extensions["field"] = field
	}
}

// RecoverFunc turns a panic in a resolver into an INTERNAL error for the
// client and a log line with the stack for the operator.
func RecoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", p, "stack", string(debug.Stack()))
		return &Error{Code: CodeInternal, Message: "internal error"}
	}
}

// lowerCamel turns ent's snake_case field names into the API's camelCase.
func lowerCamel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

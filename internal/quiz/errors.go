// Package quiz is the domain of Quizcast: quizzes and their questions, live
// sessions and their rules, answers and scoring, and the error vocabulary
// every layer speaks. It imports no infrastructure.
package quiz

import (
	"context"
	"errors"
	"fmt"
)

// Code is a machine-readable error code of the client contract.
type Code string

// The codes of the client contract (api/openapi.yaml Error, docs/protocol.md).
const (
	CodeInvalidJSON     Code = "invalid_json"
	CodeUnauthorized    Code = "unauthorized"
	CodeForbidden       Code = "forbidden"
	CodeNotFound        Code = "not_found"
	CodeConflict        Code = "conflict"
	CodeTooLarge        Code = "payload_too_large"
	CodeValidation      Code = "validation_failed"
	CodeRateLimited     Code = "rate_limited"
	CodeInternal        Code = "internal"
	CodeUnavailable     Code = "unavailable"
	CodeNotOpen         Code = "not_open"
	CodeClosed          Code = "closed"
	CodeAlreadyAnswered Code = "already_answered"
	CodeInvalidChoice   Code = "invalid_choice"
	CodeInvalidMessage  Code = "invalid_message"
	// CodeUnsupportedMediaType answers a body that is not application/json
	// (415).
	CodeUnsupportedMediaType Code = "unsupported_media_type"
)

// Error is an error the client is meant to see: a code, a human message and,
// for validation, the offending fields.
type Error struct {
	Code    Code
	Message string
	Fields  map[string]string
	// RetryAfter, in seconds, for rate_limited and unavailable.
	RetryAfter int
}

func (e *Error) Error() string {
	if len(e.Fields) > 0 {
		return fmt.Sprintf("%s: %s %v", e.Code, e.Message, e.Fields)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Is makes errors.Is(err, ErrNotFound) true for any *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) {
		return t.Code == e.Code
	}
	return false
}

// Sentinel errors; wrap them with %w and add context, or build a richer one
// with Errorf / Invalid.
var (
	ErrUnauthorized    = &Error{Code: CodeUnauthorized, Message: "authentication required"}
	ErrForbidden       = &Error{Code: CodeForbidden, Message: "not allowed"}
	ErrNotFound        = &Error{Code: CodeNotFound, Message: "not found"}
	ErrConflict        = &Error{Code: CodeConflict, Message: "conflict"}
	ErrUnavailable     = &Error{Code: CodeUnavailable, Message: "temporarily unavailable, retry later", RetryAfter: 1}
	ErrNotOpen         = &Error{Code: CodeNotOpen, Message: "the question is not open yet"}
	ErrClosed          = &Error{Code: CodeClosed, Message: "the question is closed"}
	ErrAlreadyAnswered = &Error{Code: CodeAlreadyAnswered, Message: "already answered with different choices"}
	ErrInvalidChoice   = &Error{Code: CodeInvalidChoice, Message: "invalid choice for this question"}
)

// Errorf builds a client error with a specific message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid builds a validation error with per-field messages.
func Invalid(fields map[string]string) *Error {
	return &Error{Code: CodeValidation, Message: "the request is not valid", Fields: fields}
}

// AsError returns the client error inside err, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// Describe turns any error into the client's view of it: a contract error
// as it is, a cancelled or timed-out context as unavailable, anything else
// as internal (its text is for logs only, never for the client).
func Describe(err error) *Error {
	if e, ok := AsError(err); ok {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return ErrUnavailable
	}
	return &Error{Code: CodeInternal, Message: "internal error"}
}

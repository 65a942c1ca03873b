package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/metrics"
	"github.com/quizcast/quizcast/internal/quiz"
)

// MaxBodyBytes is the largest request body accepted (§1).
const MaxBodyBytes = 1 << 20

const requestIDHeader = "X-Request-ID"

type requestIDKey struct{}

// RequestID returns the id of the request being served.
func RequestID(c *gin.Context) string {
	if v, ok := c.Request.Context().Value(requestIDKey{}).(string); ok {
		return v
	}
	return ""
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// requestID echoes X-Request-ID (or makes one) on every response and puts it
// into the request's context for logs and error bodies.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(requestIDHeader)
		if id == "" || len(id) > 128 {
			id = newRequestID()
		}
		c.Header(requestIDHeader, id)
		c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), requestIDKey{}, id))
		c.Next()
	}
}

// recoverer turns a panic into a 500 in the contract's shape; the stack goes
// to the log, never to the client.
func recoverer(log *slog.Logger) gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, rec any) {
		if err, ok := rec.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(rec)
		}
		log.ErrorContext(c.Request.Context(), "panic", "panic", rec, "path", c.FullPath())
		WriteError(c, &quiz.Error{Code: quiz.CodeInternal, Message: "internal error"})
	})
}

// bodyLimit refuses bodies over MaxBodyBytes; the decoder maps the reader's
// error to 413.
func bodyLimit() gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > MaxBodyBytes {
			WriteError(c, &quiz.Error{Code: quiz.CodeTooLarge, Message: "the body is larger than 1 MiB"})
			return
		}
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes)
		}
		c.Next()
	}
}

// accessLog logs one JSON line per request with request, user and school ids
// and records the latency histogram.
func accessLog(log *slog.Logger, m *metrics.HTTP) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		elapsed := time.Since(start)
		if !c.IsWebsocket() || status >= 400 {
			// A socket's lifetime is in quizcast_ws_session_duration_seconds.
			m.Observe(c.Request.Method, route, status, elapsed)
		}
		attrs := []any{
			"request_id", RequestID(c), "method", c.Request.Method, "route", route,
			"status", status, "duration_ms", float64(elapsed.Microseconds()) / 1000, "ip", c.ClientIP(),
		}
		if id, ok := auth.FromContext(c.Request.Context()); ok {
			attrs = append(attrs, "user_id", id.UserID, "school_id", id.SchoolID)
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		if route == "/healthz" || route == "/metrics" || route == "/readyz" {
			level = slog.LevelDebug
		}
		log.Log(c.Request.Context(), level, "http", attrs...)
	}
}

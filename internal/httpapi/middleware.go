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
	"github.com/quizcast/quizcast/internal/logging"
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
// into the request's context for error bodies, and with the route into the
// context's log attributes (logging.Handler adds them to every line logged
// with the request's context, whichever package logs it). An id the client
// sends is echoed only if it is printable ASCII of at most 128 bytes.
func requestID(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(requestIDHeader)
		if !printableID(id) {
			id = newRequestID()
		}
		c.Header(requestIDHeader, id)
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		ctx := context.WithValue(c.Request.Context(), requestIDKey{}, id)
		ctx = logging.With(ctx, slog.String("request_id", id), slog.String("route", route))
		c.Request = c.Request.WithContext(ctx)
		c.Set(loggerKey, log)
		c.Next()
	}
}

func printableID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

const loggerKey = "quizcast.logger"

// requestLog is the node's logger for the request (its lines get the
// request's id and route from the context).
func requestLog(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(loggerKey); ok {
		return l.(*slog.Logger)
	}
	return slog.New(slog.DiscardHandler)
}

// recoverer turns a panic into a 500 in the contract's shape; the stack goes
// to the log, never to the client.
func recoverer(log *slog.Logger) gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, rec any) {
		if err, ok := rec.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(rec)
		}
		log.ErrorContext(c.Request.Context(), "panic", "panic", rec)
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
		// request_id and route come from the context (requestID).
		attrs := []any{
			"method", c.Request.Method,
			"status", status, "duration_ms", float64(elapsed.Microseconds()) / 1000, "ip", c.ClientIP(),
		}
		if id, ok := auth.FromContext(c.Request.Context()); ok {
			attrs = append(attrs, "user_id", id.UserID, "school_id", id.SchoolID)
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		if route == "/healthz" || route == "/readyz" {
			level = slog.LevelDebug
		}
		log.Log(c.Request.Context(), level, "http", attrs...)
	}
}

package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/quizcast/quizcast/internal/quiz"
)

// ErrorBody is the one error shape of the contract (§1).
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code      quiz.Code         `json:"code"`
	Message   string            `json:"message"`
	Fields    map[string]string `json:"fields,omitempty"`
	RequestID string            `json:"request_id"`
}

// CodeUpgradeRequired answers a request to the WebSocket endpoint that is
// not a WebSocket handshake (426). It is the REST API's own code: the
// client contract fixes only the codes of the refusals it lists.
const CodeUpgradeRequired quiz.Code = "upgrade_required"

// Status returns the HTTP status of a contract error code.
func Status(code quiz.Code) int {
	switch code {
	case quiz.CodeInvalidJSON, quiz.CodeInvalidMessage:
		return http.StatusBadRequest
	case quiz.CodeUnauthorized:
		return http.StatusUnauthorized
	case quiz.CodeForbidden:
		return http.StatusForbidden
	case quiz.CodeNotFound:
		return http.StatusNotFound
	case quiz.CodeConflict, quiz.CodeNotOpen, quiz.CodeClosed, quiz.CodeAlreadyAnswered:
		return http.StatusConflict
	case quiz.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case quiz.CodeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case quiz.CodeValidation, quiz.CodeInvalidChoice:
		return http.StatusUnprocessableEntity
	case quiz.CodeRateLimited:
		return http.StatusTooManyRequests
	case quiz.CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeUpgradeRequired:
		return http.StatusUpgradeRequired
	default:
		return http.StatusInternalServerError
	}
}

// WriteError writes err in the contract's shape and aborts the request.
// It is the one place where errors become responses.
func WriteError(c *gin.Context, err error) {
	e := quiz.Describe(err)
	status := Status(e.Code)
	if status >= 500 {
		requestLog(c).ErrorContext(c.Request.Context(), "request failed", "err", err, "status", status)
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	c.AbortWithStatusJSON(status, ErrorBody{Error: ErrorDetail{
		Code:      e.Code,
		Message:   e.Message,
		Fields:    e.Fields,
		RequestID: RequestID(c),
	}})
}

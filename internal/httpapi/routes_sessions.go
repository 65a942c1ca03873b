package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/live"
	"github.com/quizcast/quizcast/internal/protocol"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/realtime"
)

// Sessions is the live session service as the REST API uses it; the
// WebSocket commands go through the same service.
type Sessions interface {
	Create(ctx context.Context, id auth.Identity, quizID, classroomID string) (protocol.Snapshot, error)
	Get(ctx context.Context, id auth.Identity, sessionID string) (protocol.Snapshot, error)
	ListByClassroom(ctx context.Context, id auth.Identity, classroomID string, live bool, p quiz.Page) ([]protocol.Snapshot, *quiz.Cursor, error)
	Do(ctx context.Context, id auth.Identity, sessionID string, cmd live.Command, app quiz.App) (protocol.Snapshot, error)
	AnswerREST(ctx context.Context, id auth.Identity, sessionID, questionID string, choices []string) (protocol.AnswerAccepted, bool, error)
	Kick(ctx context.Context, id auth.Identity, sessionID, studentID string) error
}

// Sockets admits and serves the WebSocket of a session.
type Sockets interface {
	Admit(r *http.Request, sessionID string) (*realtime.Admission, error)
	// Serve upgrades and hands the socket to its own goroutines; closed
	// is called once the socket is gone, with the close code the server
	// sent (0: the upgrade failed).
	Serve(w http.ResponseWriter, r *http.Request, adm *realtime.Admission, closed func(code int))
}

// routesSessions registers §5 and the WebSocket endpoint of §6.
func (s *Server) routesSessions(v1 *gin.RouterGroup) {
	// The socket authenticates itself (bearer header or ticket).
	v1.GET("/sessions/:id/ws", s.sessionSocket)

	g := v1.Group("", s.requireAuth())
	g.POST("/sessions", s.createSession)
	g.GET("/sessions/:id", s.getSession)
	g.GET("/classrooms/:id/sessions", s.listClassroomSessions)
	g.POST("/sessions/:id/start", s.sessionCommand(live.CommandStart))
	g.POST("/sessions/:id/next", s.sessionCommand(live.CommandNext))
	g.POST("/sessions/:id/close", s.sessionCommand(live.CommandClose))
	g.POST("/sessions/:id/end", s.sessionCommand(live.CommandEnd))
	g.POST("/sessions/:id/answers", s.answer)
	g.DELETE("/sessions/:id/participants/:user_id", s.kick)
}

type createSessionRequest struct {
	QuizID      string `json:"quiz_id" validate:"required,uuid"`
	ClassroomID string `json:"classroom_id" validate:"required,uuid"`
}

func (s *Server) createSession(c *gin.Context) {
	id, ok := caller(c)
	var req createSessionRequest
	if !ok || !s.bind(c, &req) {
		return
	}
	snap, err := s.deps.Sessions.Create(c.Request.Context(), id, req.QuizID, req.ClassroomID)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, snap)
}

func (s *Server) getSession(c *gin.Context) {
	id, ok := caller(c)
	if !ok {
		return
	}
	snap, err := s.deps.Sessions.Get(c.Request.Context(), id, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, snap)
}

func (s *Server) listClassroomSessions(c *gin.Context) {
	id, ok := caller(c)
	if !ok {
		return
	}
	p, err := ParsePage(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	state := c.Query("state")
	if state != "" && state != "live" {
		WriteError(c, quiz.Invalid(map[string]string{"state": "must be live (or absent for all sessions)"}))
		return
	}
	items, next, err := s.deps.Sessions.ListByClassroom(c.Request.Context(), id, c.Param("id"), state == "live", p)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, NewList(items, next))
}

func (s *Server) sessionCommand(cmd live.Command) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := caller(c)
		if !ok {
			return
		}
		snap, err := s.deps.Sessions.Do(c.Request.Context(), id, c.Param("id"), cmd, quiz.AppWhiteboard)
		if err != nil {
			WriteError(c, err)
			return
		}
		c.JSON(http.StatusOK, snap)
	}
}

type answerRequest struct {
	QuestionID string   `json:"question_id" validate:"required,max=100"`
	Choices    []string `json:"choices" validate:"required,max=6,dive,required,max=100"`
}

func (s *Server) answer(c *gin.Context) {
	id, ok := caller(c)
	var req answerRequest
	if !ok || !s.bind(c, &req) {
		return
	}
	acc, created, err := s.deps.Sessions.AnswerREST(c.Request.Context(), id, c.Param("id"), req.QuestionID, req.Choices)
	if err != nil {
		WriteError(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, acc)
}

func (s *Server) kick(c *gin.Context) {
	id, ok := caller(c)
	if !ok {
		return
	}
	if err := s.deps.Sessions.Kick(c.Request.Context(), id, c.Param("id"), c.Param("user_id")); err != nil {
		WriteError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// sessionSocket checks the handshake, answering refusals in the contract's
// shape before any upgrade, then hands the request to the socket server.
// Handshakes are rate limited per client address before anything else and
// per user once the caller is known, across nodes (429 with Retry-After).
func (s *Server) sessionSocket(c *gin.Context) {
	if !isWebSocketUpgrade(c.Request) {
		// Checked first, so a plain GET never spends a ws ticket.
		c.Header("Upgrade", "websocket")
		WriteError(c, quiz.Errorf(CodeUpgradeRequired, "this endpoint speaks WebSocket only: send a WebSocket handshake (Upgrade: websocket)"))
		return
	}
	if s.deps.Limiter != nil {
		if err := s.deps.Limiter.HandshakeIP(c.Request.Context(), c.ClientIP()); err != nil {
			WriteError(c, err)
			return
		}
	}
	adm, err := s.deps.Sockets.Admit(c.Request, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	if s.deps.Limiter != nil {
		if err := s.deps.Limiter.HandshakeUser(c.Request.Context(), adm.UserID()); err != nil {
			WriteError(c, err)
			return
		}
	}
	c.Abort()
	// A hijacked connection keeps the deadlines the server's read and write
	// timeouts set on it; a socket lives longer and has its own keep-alive.
	rc := http.NewResponseController(c.Writer)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	start := time.Now()
	s.deps.Sockets.Serve(c.Writer, c.Request, adm, func(code int) { s.metrics.ObserveSocket(code, time.Since(start)) })
}

// isWebSocketUpgrade reports whether r is a WebSocket opening handshake
// (RFC 6455 §4.1: Connection includes "upgrade", Upgrade includes
// "websocket", both compared case-insensitively).
func isWebSocketUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/quiz"
)

// requireAuth authenticates the bearer token (signature, expiry and
// revocation, on every request) and counts the request against the user's
// rate limit. Every authenticated route group uses it.
func (s *Server) requireAuth() gin.HandlerFunc {
	return func(c *gin.Context) {
		token, ok := bearer(c.GetHeader("Authorization"))
		if !ok {
			c.Header("WWW-Authenticate", `Bearer realm="quizcast"`)
			WriteError(c, quiz.Errorf(quiz.CodeUnauthorized, "an Authorization: Bearer access token is required"))
			return
		}
		ctx := c.Request.Context()
		id, err := s.deps.Tokens.Verify(ctx, token)
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer realm="quizcast", error="invalid_token"`)
			WriteError(c, err)
			return
		}
		c.Request = c.Request.WithContext(auth.WithIdentity(ctx, id))
		if err := s.deps.Limiter.APIUser(ctx, id.UserID); err != nil {
			WriteError(c, err)
			return
		}
		c.Next()
	}
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// limitLoginIP counts login, register and refresh attempts per client
// address (X-Forwarded-For only from the configured trusted proxies).
func (s *Server) limitLoginIP() gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := s.deps.Limiter.LoginIP(c.Request.Context(), c.ClientIP()); err != nil {
			WriteError(c, err)
			return
		}
		c.Next()
	}
}

// caller returns the authenticated identity; without one (a route outside
// requireAuth) it answers 401 and returns false.
func caller(c *gin.Context) (auth.Identity, bool) {
	id, ok := auth.FromContext(c.Request.Context())
	if !ok {
		WriteError(c, quiz.ErrUnauthorized)
	}
	return id, ok
}

// userJSON is the contract's user.
type userJSON struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Email    string    `json:"email"`
	Role     quiz.Role `json:"role"`
	SchoolID string    `json:"school_id"`
}

func toUser(u quiz.User) userJSON {
	return userJSON{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role, SchoolID: u.SchoolID}
}

type schoolJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt quiz.Time `json:"created_at"`
}

type registerRequest struct {
	Name       string `json:"name" validate:"required,max=200" clean:"trim"`
	Email      string `json:"email" validate:"required,email,max=254"`
	Password   string `json:"password" validate:"required,min=8,max=128,new_password"`
	SchoolName string `json:"school_name" validate:"required,max=200" clean:"trim"`
}

type registerResponse struct {
	User   userJSON   `json:"user"`
	School schoolJSON `json:"school"`
}

var errRegistrationClosed = &quiz.Error{Code: quiz.CodeForbidden,
	Message: "registration is closed on this server; an operator creates schools"}

func (s *Server) register(c *gin.Context) {
	if s.deps.RegistrationClosed {
		WriteError(c, errRegistrationClosed)
		return
	}
	var req registerRequest
	if !s.bind(c, &req) {
		return
	}
	school, user, err := s.deps.Accounts.Register(c.Request.Context(), req.Name, req.Email, req.Password, req.SchoolName, c.ClientIP())
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, registerResponse{
		User:   toUser(user),
		School: schoolJSON{ID: school.ID, Name: school.Name, CreatedAt: quiz.Time(school.CreatedAt)},
	})
}

type loginRequest struct {
	Email    string `json:"email" validate:"required,email,max=254"`
	Password string `json:"password" validate:"required,max=128"`
}

// tokenResponse is a login's or a refresh's answer; expires_in is the
// access token's lifetime in seconds (as in OAuth 2.0).
type tokenResponse struct {
	AccessToken  string   `json:"access_token"`
	RefreshToken string   `json:"refresh_token"`
	TokenType    string   `json:"token_type"`
	ExpiresIn    int      `json:"expires_in"`
	User         userJSON `json:"user"`
}

func toTokens(p auth.Pair) tokenResponse {
	return tokenResponse{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, TokenType: "Bearer",
		ExpiresIn: int(p.ExpiresIn.Seconds()), User: toUser(p.User)}
}

func (s *Server) login(c *gin.Context) {
	var req loginRequest
	if !s.bind(c, &req) {
		return
	}
	pair, err := s.deps.Accounts.Login(c.Request.Context(), req.Email, req.Password, c.ClientIP())
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, toTokens(pair))
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token" validate:"required,max=256"`
}

func (s *Server) refresh(c *gin.Context) {
	var req refreshRequest
	if !s.bind(c, &req) {
		return
	}
	pair, err := s.deps.Accounts.Refresh(c.Request.Context(), req.RefreshToken)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, toTokens(pair))
}

// logoutRequest is optional: the login revoked is the bearer token's,
// which covers every refresh token of it.
type logoutRequest struct {
	RefreshToken string `json:"refresh_token" validate:"max=256"`
}

func (s *Server) logout(c *gin.Context) {
	id, ok := caller(c)
	if !ok {
		return
	}
	// The body is optional; one that is sent must be valid.
	var req logoutRequest
	if c.Request.ContentLength != 0 && !s.bind(c, &req) {
		return
	}
	if err := s.deps.Accounts.Logout(c.Request.Context(), id); err != nil {
		WriteError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) me(c *gin.Context) {
	id, ok := caller(c)
	if !ok {
		return
	}
	u, err := s.deps.Accounts.Me(c.Request.Context(), id)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, toUser(u))
}

type ticketResponse struct {
	Ticket    string `json:"ticket"`
	ExpiresIn int    `json:"expires_in"`
}

func (s *Server) wsTicket(c *gin.Context) {
	id, ok := caller(c)
	if !ok {
		return
	}
	ticket, ttl, err := s.deps.Tokens.IssueTicket(c.Request.Context(), id)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, ticketResponse{Ticket: ticket, ExpiresIn: int(ttl.Seconds())})
}

type teacherRequest struct {
	Name     string `json:"name" validate:"required,max=200" clean:"trim"`
	Email    string `json:"email" validate:"required,email,max=254"`
	Password string `json:"password" validate:"required,min=8,max=128,new_password"`
}

func (s *Server) createTeacher(c *gin.Context) {
	id, ok := caller(c)
	if !ok {
		return
	}
	var req teacherRequest
	if !s.bind(c, &req) {
		return
	}
	u, err := s.deps.Authoring.CreateTeacher(c.Request.Context(), id, req.Name, req.Email, req.Password)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusCreated, toUser(u))
}

// Package httpapi is the REST face of Quizcast: the Gin router, thin
// handlers (bind and validate, one service call, JSON or the error), the
// middleware and the one mapping from errors to the contract's shape.
package httpapi

import (
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quizcast/quizcast/internal/admin"
	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/authoring"
	"github.com/quizcast/quizcast/internal/health"
	"github.com/quizcast/quizcast/internal/logging"
	"github.com/quizcast/quizcast/internal/metrics"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/ratelimit"
	"github.com/quizcast/quizcast/internal/webapp"
)

// Config is what the router needs besides its services.
type Config struct {
	TrustedProxies []string
	// AllowedOrigins are the browser origins whose apps may call the REST
	// API (CORS, §1); the same list guards WebSocket handshakes.
	AllowedOrigins []string
	// BodyTypes are the routes whose body is not JSON (415 otherwise).
	BodyTypes BodyTypes
}

// Deps are the services the handlers call. Each part of the API adds the
// interfaces it needs here.
type Deps struct {
	Log      *slog.Logger
	Registry *prometheus.Registry
	Health   *health.Checker
	// Draining is set when the node is shutting down: /readyz answers 503.
	Draining *atomic.Bool

	// Tokens verifies access tokens (requireAuth) and issues ws-tickets.
	Tokens *auth.Tokens
	// Limiter holds the rate limits shared by every node.
	Limiter *ratelimit.Limiter
	// Accounts registers, logs in and out, rotates refresh tokens.
	Accounts *auth.Service
	// Authoring manages teachers, classrooms, rosters and quizzes.
	Authoring *authoring.Service
	// Sessions runs live sessions (REST side of §5).
	Sessions Sessions
	// Sockets serves the session WebSockets (§6).
	Sockets Sockets
	// Reports serves §7; nil leaves the report routes out.
	Reports Reports
	// Web serves the reference web client under /app/ (§11); nil leaves
	// it out.
	Web *webapp.Handler
	// Admin serves §10 (school administration and privacy) and records
	// report views in the audit log.
	Admin *admin.Service
	// Resets redeems password reset codes.
	Resets *auth.Resets
	// RegistrationClosed makes POST /auth/register answer 403
	// (REGISTRATION=closed).
	RegistrationClosed bool
}

// Server holds the handlers' dependencies.
type Server struct {
	cfg      Config
	deps     Deps
	validate *Validator
	metrics  *metrics.HTTP
}

// New builds the router with every route of the contract.
func New(cfg Config, deps Deps) (*gin.Engine, error) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	if err := r.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, err
	}
	m := metrics.NewHTTP(deps.Registry)
	s := &Server{cfg: cfg, deps: deps, validate: NewValidator(), metrics: m}
	log := logging.Wrap(deps.Log)
	r.Use(requestID(log), accessLog(log, m), recoverer(log), securityHeaders(), cors(cfg.AllowedOrigins), bodyLimit(),
		contentType(bodyTypes(cfg.BodyTypes)), pathIDs())
	r.NoRoute(func(c *gin.Context) {
		WriteError(c, quiz.Errorf(quiz.CodeNotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		// The contract has no code of its own for 405; the shape is the same.
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, ErrorBody{Error: ErrorDetail{
			Code:      quiz.CodeNotFound,
			Message:   "method " + c.Request.Method + " not allowed on " + c.Request.URL.Path,
			RequestID: RequestID(c),
		}})
	})

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.ready)

	if deps.Web != nil {
		s.routesWeb(r)
	}

	v1 := r.Group("/api/v1")
	s.routesAuth(v1)
	s.routesAuthoring(v1)
	s.routesSessions(v1)
	s.routesReports(v1)
	s.routesAdmin(v1)
	for _, route := range r.Routes() {
		m.InitRoute(route.Path)
	}
	return r, nil
}

func (s *Server) ready(c *gin.Context) {
	res := s.deps.Health.Run(c.Request.Context())
	if s.deps.Draining != nil && s.deps.Draining.Load() {
		res.Failed = append(res.Failed, "draining")
		res.Checks["node"] = "draining"
	}
	if len(res.Failed) == 0 {
		c.JSON(http.StatusOK, res)
		return
	}
	e := &quiz.Error{Code: quiz.CodeUnavailable, Message: "not ready: " + strings.Join(res.Failed, ", "), Fields: res.Checks, RetryAfter: 1}
	WriteError(c, e)
}

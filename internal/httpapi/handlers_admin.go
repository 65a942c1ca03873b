package httpapi

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/quizcast/quizcast/internal/admin"
	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/quiz"
)

// adminCaller is the caller of an administrative request with its request
// id (kept in the audit log); without one it answers 401.
func adminCaller(c *gin.Context) (admin.Caller, bool) {
	id, ok := caller(c)
	return admin.Caller{Identity: id, RequestID: RequestID(c)}, ok
}

// adminUserJSON is the contract's user plus active (§10).
type adminUserJSON struct {
	userJSON
	Active bool `json:"active"`
}

func toAdminUser(u quiz.User) adminUserJSON {
	return adminUserJSON{userJSON: toUser(u), Active: u.Active}
}

func (s *Server) listUsers(c *gin.Context) {
	f := quiz.UserFilter{Role: quiz.Role(c.Query("role")), Query: c.Query("q")}
	switch f.Role {
	case "", quiz.RoleAdmin, quiz.RoleTeacher, quiz.RoleStudent:
	default:
		WriteError(c, quiz.Invalid(map[string]string{"role": "must be admin, teacher or student"}))
		return
	}
	if len(f.Query) > 200 || strings.ContainsRune(f.Query, 0) {
		WriteError(c, quiz.Invalid(map[string]string{"q": "must be at most 200 characters of text"}))
		return
	}
	servePage(c, func(ctx context.Context, id auth.Identity, p quiz.Page) ([]quiz.User, *quiz.Cursor, error) {
		return s.deps.Admin.Users(ctx, admin.Caller{Identity: id, RequestID: RequestID(c)}, f, p)
	}, toAdminUser)
}

type updateUserRequest struct {
	Name   *string `json:"name" validate:"omitempty,min=1,max=200"`
	Active *bool   `json:"active"`
}

func (s *Server) updateUser(c *gin.Context) {
	who, ok := adminCaller(c)
	var req updateUserRequest
	if !ok || !s.bind(c, &req) {
		return
	}
	if req.Name != nil && strings.TrimSpace(*req.Name) == "" {
		WriteError(c, quiz.Invalid(map[string]string{"name": "must not be blank"}))
		return
	}
	u, err := s.deps.Admin.UpdateUser(c.Request.Context(), who, c.Param("id"), quiz.UserChange{Name: req.Name, Active: req.Active})
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, toAdminUser(u))
}

type resetCodeResponse struct {
	ResetCode string `json:"reset_code"`
	ExpiresIn int    `json:"expires_in"`
}

func (s *Server) issueReset(c *gin.Context) {
	who, ok := adminCaller(c)
	if !ok {
		return
	}
	code, ttl, err := s.deps.Admin.IssueReset(c.Request.Context(), who, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resetCodeResponse{ResetCode: code, ExpiresIn: int(ttl.Seconds())})
}

type redeemResetRequest struct {
	Email       string `json:"email" validate:"required,email,max=254"`
	ResetCode   string `json:"reset_code" validate:"required,max=256"`
	NewPassword string `json:"new_password" validate:"required,min=8,max=128"`
}

func (s *Server) redeemReset(c *gin.Context) {
	var req redeemResetRequest
	if !s.bind(c, &req) {
		return
	}
	if err := s.deps.Resets.Redeem(c.Request.Context(), req.Email, req.ResetCode, req.NewPassword, c.ClientIP(), RequestID(c)); err != nil {
		WriteError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

var errNotCSV = &quiz.Error{Code: quiz.CodeUnsupportedMediaType, Message: "the roster import takes Content-Type: text/csv"}

type rowErrorJSON struct {
	Row     int    `json:"row"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

type importResponse struct {
	Created   int            `json:"created"`
	Enrolled  int            `json:"enrolled"`
	Unchanged int            `json:"unchanged"`
	Errors    []rowErrorJSON `json:"errors"`
}

// importRoster takes a text/csv body, read as a stream under the body
// limit (MaxBodyBytes): the one request body of the API that is not JSON.
func (s *Server) importRoster(c *gin.Context) {
	who, ok := adminCaller(c)
	if !ok {
		return
	}
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || !strings.EqualFold(mt, "text/csv") {
		WriteError(c, errNotCSV)
		return
	}
	res, err := s.deps.Admin.ImportRoster(c.Request.Context(), who, c.Param("id"), c.Request.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		err = &quiz.Error{Code: quiz.CodeTooLarge, Message: "the body is larger than 1 MiB"}
	}
	if err != nil {
		WriteError(c, err)
		return
	}
	out := importResponse{Created: res.Created, Enrolled: res.Enrolled, Unchanged: res.Unchanged, Errors: []rowErrorJSON{}}
	for _, e := range res.Errors {
		out.Errors = append(out.Errors, rowErrorJSON{Row: e.Row, Field: e.Field, Message: e.Message})
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) exportStudent(c *gin.Context) {
	who, ok := adminCaller(c)
	if !ok {
		return
	}
	if f, set := c.GetQuery("format"); set && f != "json" {
		WriteError(c, quiz.Invalid(map[string]string{"format": "the export is offered as JSON only"}))
		return
	}
	doc, err := s.deps.Admin.Export(c.Request.Context(), who, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/json; charset=utf-8", doc)
}

func (s *Server) eraseStudent(c *gin.Context) {
	who, ok := adminCaller(c)
	if !ok {
		return
	}
	if err := s.deps.Admin.Erase(c.Request.Context(), who, c.Param("id")); err != nil {
		WriteError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type auditJSON struct {
	ID          string           `json:"id"`
	At          quiz.Time        `json:"at"`
	ActorID     *string          `json:"actor_id"`
	Action      quiz.AuditAction `json:"action"`
	SubjectType string           `json:"subject_type"`
	SubjectID   *string          `json:"subject_id"`
	RequestID   string           `json:"request_id"`
}

func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toAudit(e quiz.AuditEntry) auditJSON {
	return auditJSON{ID: e.ID, At: quiz.Time(e.At), ActorID: orNull(e.ActorID), Action: e.Action,
		SubjectType: e.SubjectType, SubjectID: orNull(e.SubjectID), RequestID: e.RequestID}
}

// parseAuditFilter reads ?actor_id=&subject_id=&from=&to=.
func parseAuditFilter(c *gin.Context) (quiz.AuditFilter, error) {
	var f quiz.AuditFilter
	fields := map[string]string{}
	for name, dst := range map[string]*string{"actor_id": &f.ActorID, "subject_id": &f.SubjectID} {
		if v := c.Query(name); v != "" {
			if uuid.Validate(v) != nil {
				fields[name] = "must be an id"
				continue
			}
			*dst = v
		}
	}
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := c.Query(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				fields[name] = "must be an RFC 3339 time"
				continue
			}
			*dst = t
		}
	}
	if len(fields) > 0 {
		return f, quiz.Invalid(fields)
	}
	return f, nil
}

func (s *Server) auditLog(c *gin.Context) {
	f, err := parseAuditFilter(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	servePage(c, func(ctx context.Context, id auth.Identity, p quiz.Page) ([]quiz.AuditEntry, *quiz.Cursor, error) {
		return s.deps.Admin.AuditLog(ctx, admin.Caller{Identity: id, RequestID: RequestID(c)}, f, p)
	}, toAudit)
}

// auditReport records a report served to the caller (report.viewed,
// report.exported); a failure to record fails the request, so that no
// student's report leaves unrecorded.
func (s *Server) auditReport(c *gin.Context, aboutStudent bool, subjectID string, csv bool) error {
	if s.deps.Admin == nil {
		return nil
	}
	who, ok := adminCaller(c)
	if !ok {
		return quiz.ErrUnauthorized
	}
	return s.deps.Admin.ReportServed(c.Request.Context(), who, aboutStudent, subjectID, csv)
}

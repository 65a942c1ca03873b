// Package admin is school administration and the privacy duties toward
// students (docs/privacy.md): the admin's user list and account changes,
// password reset codes, roster import from CSV, export and erasure of a
// student, the audit log and the retention of session data.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/policy"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/reports"
)

// Store is what administration needs from the database.
type Store interface {
	User(ctx context.Context, schoolID, userID string) (quiz.User, error)
	Users(ctx context.Context, schoolID string, f quiz.UserFilter, p quiz.Page) ([]quiz.User, *quiz.Cursor, error)
	UpdateUser(ctx context.Context, schoolID, userID string, ch quiz.UserChange, tokenTTL time.Duration) (before, after quiz.User, logins []string, err error)
	UsersByEmail(ctx context.Context, emails []string) ([]quiz.User, error)
	ImportRoster(ctx context.Context, schoolID, classroomID string, rows []quiz.RosterRow) (quiz.RosterResult, error)
	Export(ctx context.Context, schoolID, studentID string) (json.RawMessage, error)
	Erase(ctx context.Context, schoolID, studentID, actorID, requestID string) ([]string, error)
	Record(ctx context.Context, e quiz.AuditEntry) error
	AuditLog(ctx context.Context, schoolID string, f quiz.AuditFilter, p quiz.Page) ([]quiz.AuditEntry, *quiz.Cursor, error)
	Teaches(ctx context.Context, schoolID, teacherID, studentID string) (bool, error)
}

// Refresher refreshes a report view (reports.Refresher fits).
type Refresher interface {
	Refresh(ctx context.Context, view string) error
}

// Caller is the authenticated caller of an administrative operation with
// the id of its request (kept in the audit log).
type Caller struct {
	auth.Identity
	RequestID string
}

// Service runs the administrative operations.
type Service struct {
	store     Store
	policy    *policy.Policy
	tokens    *auth.Tokens
	resets    *auth.Resets
	rdb       redis.UniversalClient
	refresher Refresher
	views     []string
	log       *slog.Logger
}

// Config wires a Service.
type Config struct {
	Store  Store
	Policy *policy.Policy
	Tokens *auth.Tokens
	Resets *auth.Resets
	// Redis holds the session histories and report cache that erasure
	// clears.
	Redis redis.UniversalClient
	// Refresher and Views: the report views refreshed after an erasure, so
	// reports drop the student at once.
	Refresher Refresher
	Views     []string
	Log       *slog.Logger
}

// New returns the administration service.
func New(c Config) *Service {
	return &Service{store: c.Store, policy: c.Policy, tokens: c.Tokens, resets: c.Resets, rdb: c.Redis,
		refresher: c.Refresher, views: c.Views, log: c.Log}
}

func (s *Service) record(ctx context.Context, c Caller, action quiz.AuditAction, subjectType, subjectID string) error {
	return s.store.Record(ctx, quiz.AuditEntry{SchoolID: c.SchoolID, ActorID: c.UserID, Action: action,
		SubjectType: subjectType, SubjectID: subjectID, RequestID: c.RequestID})
}

// Users lists the school's users (admins only).
func (s *Service) Users(ctx context.Context, c Caller, f quiz.UserFilter, p quiz.Page) ([]quiz.User, *quiz.Cursor, error) {
	if err := policy.Admin(c.Identity); err != nil {
		return nil, nil, err
	}
	return s.store.Users(ctx, c.SchoolID, f, p)
}

var errSelfDeactivation = &quiz.Error{Code: quiz.CodeConflict, Message: "an admin cannot deactivate their own account"}

// UpdateUser renames and (de)activates a user of the school. Deactivation
// revokes every login of the user on every node (sockets close with 4401).
func (s *Service) UpdateUser(ctx context.Context, c Caller, userID string, ch quiz.UserChange) (quiz.User, error) {
	if err := policy.Admin(c.Identity); err != nil {
		return quiz.User{}, err
	}
	if ch.Active != nil && !*ch.Active && userID == c.UserID {
		return quiz.User{}, errSelfDeactivation
	}
	before, after, logins, err := s.store.UpdateUser(ctx, c.SchoolID, userID, ch, s.tokens.TTL())
	if err != nil {
		return quiz.User{}, err
	}
	if err := s.tokens.RevokeAll(ctx, logins); err != nil {
		return quiz.User{}, err
	}
	if before.Name != after.Name {
		if err := s.record(ctx, c, quiz.AuditUserRenamed, quiz.SubjectUser, userID); err != nil {
			return quiz.User{}, err
		}
	}
	switch {
	case before.Active && !after.Active:
		err = s.record(ctx, c, quiz.AuditUserDeactivated, quiz.SubjectUser, userID)
	case !before.Active && after.Active:
		err = s.record(ctx, c, quiz.AuditUserReactivated, quiz.SubjectUser, userID)
	}
	return after, err
}

var errTeacherReset = &quiz.Error{Code: quiz.CodeForbidden, Message: "teachers may reset the passwords of the students of their classrooms only"}

// IssueReset returns a single-use password reset code for a user of the
// school: admins for anyone, teachers for the students of their
// classrooms.
func (s *Service) IssueReset(ctx context.Context, c Caller, userID string) (string, time.Duration, error) {
	if err := policy.Teacher(c.Identity); err != nil {
		return "", 0, err
	}
	u, err := s.store.User(ctx, c.SchoolID, userID)
	if err != nil {
		return "", 0, err
	}
	if c.Role != quiz.RoleAdmin {
		if u.Role != quiz.RoleStudent {
			return "", 0, errTeacherReset
		}
		ok, err := s.store.Teaches(ctx, c.SchoolID, c.UserID, userID)
		if err != nil {
			return "", 0, err
		}
		if !ok {
			return "", 0, errTeacherReset
		}
	}
	code, ttl, err := s.resets.Issue(ctx, u, c.UserID)
	if err != nil {
		return "", 0, err
	}
	if err := s.record(ctx, c, quiz.AuditPasswordResetIssued, quiz.SubjectUser, userID); err != nil {
		return "", 0, err
	}
	return code, ttl, nil
}

// ImportRoster enrols the students of a roster CSV in a classroom the
// caller manages: new emails get accounts (a password hashed only for
// them), existing students of the school are enrolled; bad rows are
// reported by row number and the others applied.
func (s *Service) ImportRoster(ctx context.Context, c Caller, classroomID string, body io.Reader) (quiz.RosterResult, error) {
	if _, err := s.policy.Classroom(ctx, c.Identity, classroomID, policy.Manage); err != nil {
		return quiz.RosterResult{}, err
	}
	parsed, err := ParseRoster(body)
	if err != nil {
		return quiz.RosterResult{}, err
	}
	emails := make([]string, len(parsed.Rows))
	for i, r := range parsed.Rows {
		emails[i] = r.Email
	}
	existing, err := s.store.UsersByEmail(ctx, emails)
	if err != nil {
		return quiz.RosterResult{}, err
	}
	known := make(map[string]bool, len(existing))
	for _, u := range existing {
		known[u.Email] = true
	}
	rows := make([]quiz.RosterRow, len(parsed.Rows))
	var toHash []string
	var at []int
	for i, r := range parsed.Rows {
		rows[i] = quiz.RosterRow{Row: r.Row, Name: r.Name, Email: r.Email}
		switch {
		case known[r.Email]:
		case r.HasPassword:
			toHash, at = append(toHash, r.Password), append(at, i)
		default:
			rows[i].PasswordHash = auth.NoPassword
		}
	}
	hashes, err := auth.HashPasswords(ctx, toHash)
	if err != nil {
		return quiz.RosterResult{}, err
	}
	for k, i := range at {
		rows[i].PasswordHash = hashes[k]
	}
	res, err := s.store.ImportRoster(ctx, c.SchoolID, classroomID, rows)
	if err != nil {
		return quiz.RosterResult{}, err
	}
	res.Errors = append(res.Errors, parsed.Errors...)
	slices.SortStableFunc(res.Errors, func(a, b quiz.RowError) int { return a.Row - b.Row })
	if err := s.record(ctx, c, quiz.AuditRosterImported, quiz.SubjectClassroom, classroomID); err != nil {
		return quiz.RosterResult{}, err
	}
	return res, nil
}

// student returns the user if it is a student of the caller's school.
func (s *Service) student(ctx context.Context, c Caller, studentID string) (quiz.User, error) {
	u, err := s.store.User(ctx, c.SchoolID, studentID)
	if err != nil {
		return quiz.User{}, err
	}
	if u.Role != quiz.RoleStudent {
		return quiz.User{}, fmt.Errorf("user %s is not a student: %w", studentID, quiz.ErrNotFound)
	}
	return u, nil
}

// Export returns everything stored about a student of the school.
func (s *Service) Export(ctx context.Context, c Caller, studentID string) (json.RawMessage, error) {
	if err := policy.Admin(c.Identity); err != nil {
		return nil, err
	}
	if _, err := s.student(ctx, c, studentID); err != nil {
		return nil, err
	}
	// Recorded first, so the export shows its own entry.
	if err := s.record(ctx, c, quiz.AuditStudentExported, quiz.SubjectUser, studentID); err != nil {
		return nil, err
	}
	return s.store.Export(ctx, c.SchoolID, studentID)
}

// Erase deletes a student and every field that identifies them; their
// answers stay as anonymous rows. Logins are revoked on every node first
// (sockets close with 4401), then the database is erased in one
// transaction, then the Redis copies naming the student (session
// histories, cached reports) are deleted and the report views refreshed.
func (s *Service) Erase(ctx context.Context, c Caller, studentID string) error {
	if err := policy.Admin(c.Identity); err != nil {
		return err
	}
	if _, err := s.student(ctx, c, studentID); err != nil {
		return err
	}
	if err := s.resets.RevokeUser(ctx, c.SchoolID, studentID); err != nil {
		return err
	}
	sessions, err := s.store.Erase(ctx, c.SchoolID, studentID, c.UserID, c.RequestID)
	if err != nil {
		return err
	}
	// The database is the truth and is erased; what follows removes
	// copies, and a failure is logged, not undone.
	ctx = context.WithoutCancel(ctx)
	if err := ForgetSessions(ctx, s.rdb, sessions, false); err != nil {
		s.log.WarnContext(ctx, "erasure: clearing session histories failed", "err", err)
	}
	if err := FlushReportCache(ctx, s.rdb); err != nil {
		s.log.WarnContext(ctx, "erasure: clearing the report cache failed", "err", err)
	}
	s.refreshViews(ctx)
	return nil
}

func (s *Service) refreshViews(ctx context.Context) {
	if s.refresher == nil {
		return
	}
	for _, v := range s.views {
		if err := s.refresher.Refresh(ctx, v); err != nil {
			s.log.WarnContext(ctx, "refreshing a report view failed", "view", v, "err", err)
		}
	}
}

// AuditLog lists the school's audit log, newest first (admins only).
func (s *Service) AuditLog(ctx context.Context, c Caller, f quiz.AuditFilter, p quiz.Page) ([]quiz.AuditEntry, *quiz.Cursor, error) {
	if err := policy.Admin(c.Identity); err != nil {
		return nil, nil, err
	}
	return s.store.AuditLog(ctx, c.SchoolID, f, p)
}

// ReportServed records a report answer in the audit log: report.exported
// for any CSV download, report.viewed for a student's report served to
// someone other than that student. subjectID is the report's subject.
func (s *Service) ReportServed(ctx context.Context, c Caller, aboutStudent bool, subjectID string, csv bool) error {
	if csv {
		if err := s.record(ctx, c, quiz.AuditReportExported, quiz.SubjectReport, subjectID); err != nil {
			return err
		}
	}
	if aboutStudent && subjectID != c.UserID {
		return s.record(ctx, c, quiz.AuditReportViewed, quiz.SubjectReport, subjectID)
	}
	return nil
}

// ForgetSessions deletes the Redis keys of sessions (the key names of
// internal/realtime's broker and presence): their broadcast
// history (which names participants in leaderboards) and, when all is
// set, their presence and progress counters too.
func ForgetSessions(ctx context.Context, rdb redis.UniversalClient, sessions []string, all bool) error {
	if len(sessions) == 0 {
		return nil
	}
	var keys []string
	for _, id := range sessions {
		keys = append(keys, "qc:history:"+id)
		if all {
			keys = append(keys, "qc:participants:"+id, "qc:connected:"+id, "qc:progress-token:"+id)
			more, err := scanKeys(ctx, rdb, "qc:progress:"+id+":*")
			if err != nil {
				return err
			}
			keys = append(keys, more...)
		}
	}
	for chunk := range slices.Chunk(keys, 500) {
		if err := rdb.Del(ctx, chunk...).Err(); err != nil {
			return fmt.Errorf("delete session keys: %w", err)
		}
	}
	return nil
}

// FlushReportCache deletes every cached report answer (they may name
// students) and bumps the cache generation.
func FlushReportCache(ctx context.Context, rdb redis.UniversalClient) error {
	if err := rdb.Incr(ctx, reports.GenerationKey).Err(); err != nil {
		return fmt.Errorf("report cache generation: %w", err)
	}
	keys, err := scanKeys(ctx, rdb, "qc:reports:*")
	if err != nil {
		return err
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return k == reports.GenerationKey })
	for chunk := range slices.Chunk(keys, 500) {
		if err := rdb.Del(ctx, chunk...).Err(); err != nil {
			return fmt.Errorf("delete cached reports: %w", err)
		}
	}
	return nil
}

func scanKeys(ctx context.Context, rdb redis.UniversalClient, match string) ([]string, error) {
	var keys []string
	iter := rdb.Scan(ctx, 0, match, 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("scan %s: %w", match, err)
	}
	return keys, nil
}

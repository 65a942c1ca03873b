package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/quizcast/quizcast/internal/quiz"
)

// likePattern escapes q for a LIKE/ILIKE substring match.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(q) + "%"
}

const usersListSQL = `SELECT ` + userColumns + ` FROM users
WHERE school_id = $1 AND ($2 = '' OR role = $2)
  AND ($3 = '' OR name ILIKE $3 OR email ILIKE $3)
  AND (name, id) > ($4, $5::uuid)
ORDER BY name, id LIMIT $6`

// Users lists the users of the school in name order, filtered by role and
// by a case-insensitive substring of the name or the email.
func (s *Store) Users(ctx context.Context, schoolID string, f quiz.UserFilter, p quiz.Page) ([]quiz.User, *quiz.Cursor, error) {
	name, id := afterText(p)
	q := ""
	if f.Query != "" {
		q = likePattern(f.Query)
	}
	rows, err := s.pool.Query(ctx, usersListSQL, schoolID, string(f.Role), q, name, id, p.Limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("list users: %w", mapError(err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (quiz.User, error) { return scanUser(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("list users: %w", err)
	}
	list, next := page(list, p.Limit, func(u quiz.User) quiz.Cursor { return quiz.Cursor{Text: u.Name, ID: u.ID} })
	return list, next, nil
}

const (
	userForUpdateSQL = `SELECT ` + userColumns + ` FROM users WHERE school_id = $1 AND id = $2 FOR UPDATE`
	renameUserSQL    = `UPDATE users SET name = $3 WHERE school_id = $1 AND id = $2`
	deactivateSQL    = `UPDATE users SET deactivated_at = now() WHERE school_id = $1 AND id = $2 AND deactivated_at IS NULL`
	reactivateSQL    = `UPDATE users SET deactivated_at = NULL WHERE school_id = $1 AND id = $2`
)

// UpdateUser renames and (de)activates a user of the school in one
// transaction. Deactivation revokes every login; logins lists those whose
// access tokens may still be alive. before is the user as it was.
func (s *Store) UpdateUser(ctx context.Context, schoolID, userID string, ch quiz.UserChange, tokenTTL time.Duration) (before, after quiz.User, logins []string, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if before, err = scanUser(tx.QueryRow(ctx, userForUpdateSQL, schoolID, userID)); err != nil {
			return err
		}
		after = before
		if ch.Name != nil && *ch.Name != before.Name {
			if _, err := tx.Exec(ctx, renameUserSQL, schoolID, userID, *ch.Name); err != nil {
				return err
			}
			after.Name = *ch.Name
		}
		if ch.Active != nil && !*ch.Active {
			// Revoked even when already inactive: a retry after a failed
			// Redis write marks the logins again.
			if _, err := tx.Exec(ctx, deactivateSQL, schoolID, userID); err != nil {
				return err
			}
			if logins, err = revokeUserLogins(ctx, tx, schoolID, userID, tokenTTL); err != nil {
				return err
			}
			after.Active = false
		}
		if ch.Active != nil && *ch.Active && !before.Active {
			if _, err := tx.Exec(ctx, reactivateSQL, schoolID, userID); err != nil {
				return err
			}
			after.Active = true
		}
		return nil
	})
	if err != nil {
		return quiz.User{}, quiz.User{}, nil, fmt.Errorf("update user %s: %w", userID, err)
	}
	return before, after, logins, nil
}

const insertAuditSQL = `INSERT INTO audit_log (school_id, actor_id, action, subject_type, subject_id, request_id)
VALUES ($1, NULLIF($2, '')::uuid, $3, $4, NULLIF($5, '')::uuid, $6)`

// Record appends an entry to the audit log.
func (s *Store) Record(ctx context.Context, e quiz.AuditEntry) error {
	if _, err := s.pool.Exec(ctx, insertAuditSQL, e.SchoolID, e.ActorID, string(e.Action), e.SubjectType, e.SubjectID, e.RequestID); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, mapError(err))
	}
	return nil
}

const auditColumns = `id::text, at, school_id::text, coalesce(actor_id::text, ''), action, subject_type, coalesce(subject_id::text, ''), request_id`

func scanAudit(r pgx.Row) (quiz.AuditEntry, error) {
	var e quiz.AuditEntry
	err := r.Scan(&e.ID, &e.At, &e.SchoolID, &e.ActorID, &e.Action, &e.SubjectType, &e.SubjectID, &e.RequestID)
	return e, err
}

// Newest first; the cursor is the (at, id) of the last entry of a page.
const auditListSQL = `SELECT ` + auditColumns + ` FROM audit_log
WHERE school_id = $1 AND ($2 = '' OR actor_id = NULLIF($2, '')::uuid) AND ($3 = '' OR subject_id = NULLIF($3, '')::uuid)
  AND at >= $4 AND at < $5 AND (at, id) < ($6, $7::uuid)
ORDER BY at DESC, id DESC LIMIT $8`

var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// AuditLog lists the school's audit log, newest first.
func (s *Store) AuditLog(ctx context.Context, schoolID string, f quiz.AuditFilter, p quiz.Page) ([]quiz.AuditEntry, *quiz.Cursor, error) {
	from, to := f.From, f.To
	if to.IsZero() {
		to = farFuture
	}
	at, id := farFuture, "ffffffff-ffff-ffff-ffff-ffffffffffff"
	if p.After != nil {
		at, id = p.After.Time, p.After.ID
	}
	rows, err := s.pool.Query(ctx, auditListSQL, schoolID, f.ActorID, f.SubjectID, from, to, at, id, p.Limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("audit log: %w", mapError(err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (quiz.AuditEntry, error) { return scanAudit(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("audit log: %w", mapError(err))
	}
	list, next := page(list, p.Limit, func(e quiz.AuditEntry) quiz.Cursor { return timeCursor(e.At, e.ID) })
	return list, next, nil
}

const (
	importStudentsSQL = `INSERT INTO users (school_id, name, email, password_hash, role)
		SELECT $1, n, lower(e), h, 'student' FROM unnest($2::text[], $3::text[], $4::text[]) AS t(n, e, h)
		ON CONFLICT ((lower(email))) DO NOTHING
		RETURNING lower(email)`
	importEnrolSQL = `INSERT INTO enrolments (school_id, classroom_id, student_id)
		SELECT $1, $2, unnest($3::uuid[]) ON CONFLICT DO NOTHING
		RETURNING student_id::text`
)

// ImportRoster applies the valid rows of a roster import in one
// transaction: it creates the accounts of rows with a PasswordHash whose
// email is still free, and enrols every row's student. A row whose email
// belongs to an account that is not a student of the school becomes an
// error of that row; the other rows are applied.
func (s *Store) ImportRoster(ctx context.Context, schoolID, classroomID string, rows []quiz.RosterRow) (quiz.RosterResult, error) {
	var res quiz.RosterResult
	var names, emails, hashes, all []string
	for _, r := range rows {
		all = append(all, r.Email)
		if r.PasswordHash != "" {
			names, emails, hashes = append(names, r.Name), append(emails, r.Email), append(hashes, r.PasswordHash)
		}
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		created := map[string]bool{}
		if len(emails) > 0 {
			rs, err := tx.Query(ctx, importStudentsSQL, schoolID, names, emails, hashes)
			if err != nil {
				return fmt.Errorf("insert students: %w", err)
			}
			list, err := pgx.CollectRows(rs, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("insert students: %w", err)
			}
			for _, e := range list {
				created[e] = true
			}
		}
		byEmail, err := usersByEmailIn(ctx, tx, all)
		if err != nil {
			return err
		}
		var ids []string
		valid := make([]quiz.RosterRow, 0, len(rows))
		for _, r := range rows {
			u, ok := byEmail[r.Email]
			switch {
			case !ok:
				res.Errors = append(res.Errors, quiz.RowError{Row: r.Row, Field: "email", Message: "the account was removed while importing"})
			case u.SchoolID != schoolID || u.Role != quiz.RoleStudent:
				res.Errors = append(res.Errors, quiz.RowError{Row: r.Row, Field: "email", Message: "belongs to an account that cannot be enrolled here"})
			default:
				ids = append(ids, u.ID)
				valid = append(valid, r)
			}
		}
		enrolled := map[string]bool{}
		if len(ids) > 0 {
			rs, err := tx.Query(ctx, importEnrolSQL, schoolID, classroomID, ids)
			if err != nil {
				return fmt.Errorf("enrol: %w", err)
			}
			list, err := pgx.CollectRows(rs, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("enrol: %w", err)
			}
			for _, id := range list {
				enrolled[id] = true
			}
		}
		for _, r := range valid {
			switch {
			case created[r.Email]:
				res.Created++
			case enrolled[byEmail[r.Email].ID]:
				res.Enrolled++
			default:
				res.Unchanged++
			}
		}
		return nil
	})
	if err != nil {
		return quiz.RosterResult{}, fmt.Errorf("import roster: %w", err)
	}
	return res, nil
}

package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/quizcast/quizcast/internal/quiz"
)

const classroomColumns = `c.id, c.school_id, c.teacher_id, c.name, c.subject, c.grade, c.created_at`

// studentCountSQL is the roster size of the classroom c.
const studentCountSQL = `(SELECT count(*) FROM enrolments e WHERE e.classroom_id = c.id)`

func scanClassroom(row pgx.Row, withCount bool) (quiz.Classroom, error) {
	var c quiz.Classroom
	dst := []any{&c.ID, &c.SchoolID, &c.TeacherID, &c.Name, &c.Subject, &c.Grade, &c.CreatedAt}
	if withCount {
		dst = append(dst, &c.StudentCount)
	}
	if err := row.Scan(dst...); err != nil {
		return quiz.Classroom{}, mapError(err)
	}
	return c, nil
}

const insertClassroomSQL = `INSERT INTO classrooms AS c (school_id, teacher_id, name, subject, grade) VALUES ($1, $2, $3, $4, $5)
	RETURNING ` + classroomColumns

// CreateClassroom creates a classroom of c.SchoolID taught by c.TeacherID.
func (s *Store) CreateClassroom(ctx context.Context, c quiz.Classroom) (quiz.Classroom, error) {
	out, err := scanClassroom(s.pool.QueryRow(ctx, insertClassroomSQL, c.SchoolID, c.TeacherID, c.Name, c.Subject, c.Grade), false)
	if err != nil {
		return quiz.Classroom{}, fmt.Errorf("create classroom: %w", err)
	}
	return out, nil
}

const (
	classroomFactsSQL = `SELECT ` + classroomColumns + ` FROM classrooms c WHERE c.school_id = $1 AND c.id = $2`
	classroomSQL      = `SELECT ` + classroomColumns + `, ` + studentCountSQL + ` FROM classrooms c WHERE c.school_id = $1 AND c.id = $2`
)

// ClassroomFacts reads a classroom of the school without its student count
// (policy.Facts).
func (s *Store) ClassroomFacts(ctx context.Context, schoolID, classroomID string) (quiz.Classroom, error) {
	c, err := scanClassroom(s.pool.QueryRow(ctx, classroomFactsSQL, schoolID, classroomID), false)
	if err != nil {
		return quiz.Classroom{}, fmt.Errorf("classroom %s: %w", classroomID, err)
	}
	return c, nil
}

// Classroom reads a classroom of the school with its student count.
func (s *Store) Classroom(ctx context.Context, schoolID, classroomID string) (quiz.Classroom, error) {
	c, err := scanClassroom(s.pool.QueryRow(ctx, classroomSQL, schoolID, classroomID), true)
	if err != nil {
		return quiz.Classroom{}, fmt.Errorf("classroom %s: %w", classroomID, err)
	}
	return c, nil
}

// Three queries rather than one with optional parameters: each uses its
// index and gets a plan of its own.
const (
	listClassroomsSelect = `SELECT ` + classroomColumns + `, ` + studentCountSQL + ` FROM classrooms c `
	listClassroomsPage   = ` AND (c.created_at, c.id) > ($2, $3) ORDER BY c.created_at, c.id LIMIT $4`
	listSchoolSQL        = listClassroomsSelect + `WHERE c.school_id = $1` + listClassroomsPage
	listTeacherSQL       = listClassroomsSelect + `WHERE c.school_id = $1 AND c.teacher_id = $5` + listClassroomsPage
	listStudentSQL       = listClassroomsSelect + `JOIN enrolments e ON e.classroom_id = c.id AND e.student_id = $5
		WHERE c.school_id = $1` + listClassroomsPage
)

// Classrooms lists classrooms of the school in creation order.
func (s *Store) Classrooms(ctx context.Context, schoolID string, f quiz.ClassroomFilter, p quiz.Page) ([]quiz.Classroom, *quiz.Cursor, error) {
	t, id := afterTime(p)
	args := []any{schoolID, t, id, p.Limit + 1}
	sql := listSchoolSQL
	switch {
	case f.TeacherID != "":
		sql, args = listTeacherSQL, append(args, f.TeacherID)
	case f.StudentID != "":
		sql, args = listStudentSQL, append(args, f.StudentID)
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list classrooms: %w", mapError(err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (quiz.Classroom, error) { return scanClassroom(r, true) })
	if err != nil {
		return nil, nil, fmt.Errorf("list classrooms: %w", mapError(err))
	}
	list, next := page(list, p.Limit, func(c quiz.Classroom) quiz.Cursor { return timeCursor(c.CreatedAt, c.ID) })
	return list, next, nil
}

const enrolledSQL = `SELECT EXISTS (SELECT 1 FROM enrolments WHERE school_id = $1 AND classroom_id = $2 AND student_id = $3)`

// Enrolled reports whether the student is enrolled in the classroom
// (policy.Facts).
func (s *Store) Enrolled(ctx context.Context, schoolID, classroomID, studentID string) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, enrolledSQL, schoolID, classroomID, studentID).Scan(&ok); err != nil {
		return false, fmt.Errorf("enrolled: %w", mapError(err))
	}
	return ok, nil
}

const teachesSQL = `SELECT EXISTS (SELECT 1 FROM enrolments e JOIN classrooms c ON c.id = e.classroom_id
	WHERE e.school_id = $1 AND e.student_id = $3 AND c.teacher_id = $2)`

// Teaches reports whether the student is enrolled in a classroom of the
// teacher (policy.Facts).
func (s *Store) Teaches(ctx context.Context, schoolID, teacherID, studentID string) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, teachesSQL, schoolID, teacherID, studentID).Scan(&ok); err != nil {
		return false, fmt.Errorf("teaches: %w", mapError(err))
	}
	return ok, nil
}

const usersByEmailSQL = `SELECT ` + userColumns + ` FROM users WHERE lower(email) = ANY($1)`

// UsersByEmail returns the users (of any school) holding the given
// lower-case emails.
func (s *Store) UsersByEmail(ctx context.Context, emails []string) ([]quiz.User, error) {
	rows, err := s.pool.Query(ctx, usersByEmailSQL, emails)
	if err != nil {
		return nil, fmt.Errorf("users by email: %w", mapError(err))
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (quiz.User, error) { return scanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("users by email: %w", err)
	}
	return users, nil
}

// usersByEmailIn reads, in tx, the users holding the lower-case emails, by
// email.
func usersByEmailIn(ctx context.Context, tx pgx.Tx, emails []string) (map[string]quiz.User, error) {
	rows, err := tx.Query(ctx, usersByEmailSQL, emails)
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (quiz.User, error) { return scanUser(r) })
	if err != nil {
		return nil, err
	}
	byEmail := make(map[string]quiz.User, len(found))
	for _, u := range found {
		byEmail[u.Email] = u
	}
	return byEmail, nil
}

const (
	// A concurrent enrolment may create the same email first: DO NOTHING,
	// then the select below finds it.
	insertStudentsSQL = `INSERT INTO users (school_id, name, email, password_hash, role)
		SELECT $1, n, lower(e), h, 'student' FROM unnest($2::text[], $3::text[], $4::text[]) AS t(n, e, h)
		ON CONFLICT ((lower(email))) DO NOTHING`
	insertEnrolmentsSQL = `INSERT INTO enrolments (school_id, classroom_id, student_id)
		SELECT $1, $2, unnest($3::uuid[]) ON CONFLICT DO NOTHING`
)

// Enrol creates the accounts of new students and enrols every listed
// student in the classroom, in one transaction; enrolling twice is a no-op.
// It returns the students in the order given. An email held by an account
// that is not a student of the school refuses the whole request with a
// validation error on that item (students[i].email).
func (s *Store) Enrol(ctx context.Context, schoolID, classroomID string, list []quiz.Enrolment) ([]quiz.User, error) {
	var names, emails, hashes, all []string
	for _, e := range list {
		all = append(all, e.Email)
		if e.PasswordHash != "" {
			names, emails, hashes = append(names, e.Name), append(emails, e.Email), append(hashes, e.PasswordHash)
		}
	}
	out := make([]quiz.User, len(list))
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if len(emails) > 0 {
			if _, err := tx.Exec(ctx, insertStudentsSQL, schoolID, names, emails, hashes); err != nil {
				return fmt.Errorf("insert students: %w", err)
			}
		}
		byEmail, err := usersByEmailIn(ctx, tx, all)
		if err != nil {
			return err
		}
		fields := map[string]string{}
		ids := make([]string, 0, len(list))
		for i, e := range list {
			u, ok := byEmail[e.Email]
			switch {
			case !ok:
				fields["students["+strconv.Itoa(i)+"].password"] = "is required to create the account"
			case u.SchoolID != schoolID || u.Role != quiz.RoleStudent:
				fields["students["+strconv.Itoa(i)+"].email"] = "belongs to an account that cannot be enrolled here"
			default:
				out[i] = u
				ids = append(ids, u.ID)
			}
		}
		if len(fields) > 0 {
			return quiz.Invalid(fields)
		}
		_, err = tx.Exec(ctx, insertEnrolmentsSQL, schoolID, classroomID, ids)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	return out, nil
}

const rosterSQL = `SELECT u.id, u.school_id, u.name, u.email, u.role, u.created_at, u.deactivated_at IS NULL
	FROM enrolments e JOIN users u ON u.id = e.student_id
	WHERE e.school_id = $1 AND e.classroom_id = $2 AND (u.name, u.id) > ($3, $4)
	ORDER BY u.name, u.id LIMIT $5`

// Roster lists the students of the classroom in name order.
func (s *Store) Roster(ctx context.Context, schoolID, classroomID string, p quiz.Page) ([]quiz.User, *quiz.Cursor, error) {
	name, id := afterText(p)
	rows, err := s.pool.Query(ctx, rosterSQL, schoolID, classroomID, name, id, p.Limit+1)
	if err != nil {
		return nil, nil, fmt.Errorf("roster: %w", mapError(err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (quiz.User, error) { return scanUser(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("roster: %w", err)
	}
	list, next := page(list, p.Limit, func(u quiz.User) quiz.Cursor { return quiz.Cursor{Text: u.Name, ID: u.ID} })
	return list, next, nil
}

// unenrolSQL removes the enrolment and returns whether there was one and
// the classroom's sessions that are not over (whose sockets the student
// must lose).
const unenrolSQL = `
WITH d AS (
	DELETE FROM enrolments WHERE school_id = $1 AND classroom_id = $2 AND student_id = $3 RETURNING classroom_id
)
SELECT EXISTS (SELECT 1 FROM d),
	ARRAY(SELECT s.id::text FROM sessions s
		WHERE s.school_id = $1 AND s.classroom_id = $2 AND s.state <> 'ended' AND EXISTS (SELECT 1 FROM d))`

// Unenrol removes a student from the classroom and returns the ids of the
// classroom's sessions that are not over; one who is not enrolled is
// quiz.ErrNotFound.
func (s *Store) Unenrol(ctx context.Context, schoolID, classroomID, studentID string) ([]string, error) {
	var removed bool
	var live []string
	if err := s.pool.QueryRow(ctx, unenrolSQL, schoolID, classroomID, studentID).Scan(&removed, &live); err != nil {
		return nil, fmt.Errorf("unenrol: %w", mapError(err))
	}
	if !removed {
		return nil, fmt.Errorf("student %s is not enrolled: %w", studentID, quiz.ErrNotFound)
	}
	return live, nil
}

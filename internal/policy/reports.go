package policy

import (
	"slices"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/quiz"
)

// ReportFacts are the relations of a report's subject (a student, a
// classroom, a quiz or a session) to the caller, looked up in the caller's
// school.
type ReportFacts struct {
	// Name names the report in refusals ("performance", "engagement", ...).
	Name     string
	SchoolID string
	// StudentID is set for a student's performance report.
	StudentID string
	// TaughtByCaller: the student is enrolled in a classroom the caller
	// teaches.
	TaughtByCaller bool
	// Teachers own the subject: the classroom's teacher, the quiz's owner,
	// the session's teacher and its classroom's.
	Teachers []string
}

// ReportAccess decides on a report (§7): admins see their school; teachers
// see their classrooms, quizzes and sessions, and the students of the
// classrooms they teach; a student sees only their own performance. A
// subject the caller may not see is not found, whether of another school
// or of the caller's own (no status tells an existing id from a random one).
func ReportAccess(id auth.Identity, f ReportFacts) error {
	if id.UserID == "" || id.SchoolID == "" {
		return quiz.ErrUnauthorized
	}
	if f.SchoolID != id.SchoolID {
		return quiz.ErrNotFound
	}
	switch id.Role {
	case quiz.RoleAdmin:
		return nil
	case quiz.RoleTeacher:
		if f.StudentID != "" {
			if f.TaughtByCaller {
				return nil
			}
			return quiz.Errorf(quiz.CodeNotFound, "no such %s report", f.Name)
		}
		if slices.Contains(f.Teachers, id.UserID) {
			return nil
		}
		return quiz.Errorf(quiz.CodeNotFound, "no such %s report", f.Name)
	case quiz.RoleStudent:
		if f.StudentID != "" && f.StudentID == id.UserID {
			return nil
		}
		return quiz.Errorf(quiz.CodeNotFound, "no such %s report", f.Name)
	default:
		return quiz.ErrForbidden
	}
}

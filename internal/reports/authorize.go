package reports

import (
	"slices"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/quiz"
)

// Authorize is the one access decision of the reports (§7): admins see
// their school; teachers see their classrooms, their quizzes, the sessions
// they ran or that ran in their classrooms, and the students enrolled in a
// classroom they teach (bounded to the sessions of the classrooms they
// teach); a student sees only their own performance. A subject of another
// school is not found (404, never data); one of the caller's school that the
// caller may not see is forbidden (403).
//
// sub comes from Store.Subject, looked up in the caller's school.
func Authorize(id auth.Identity, sub *Subject) (Scope, error) {
	if id.UserID == "" || id.SchoolID == "" {
		return Scope{}, quiz.ErrUnauthorized
	}
	if sub == nil || sub.SchoolID != id.SchoolID {
		return Scope{}, quiz.ErrNotFound
	}
	scope := Scope{SchoolID: id.SchoolID, SubjectID: sub.ID}
	switch id.Role {
	case quiz.RoleAdmin:
		return scope, nil
	case quiz.RoleTeacher:
		if sub.Kind == KindPerformance {
			if sub.TaughtByCaller {
				scope.TeacherID = id.UserID
				return scope, nil
			}
			return Scope{}, quiz.Errorf(quiz.CodeForbidden, "this student is not in a classroom you teach")
		}
		if slices.Contains(sub.Teachers, id.UserID) {
			return scope, nil
		}
		return Scope{}, quiz.Errorf(quiz.CodeForbidden, "this %s report is not one of yours", sub.Kind)
	case quiz.RoleStudent:
		if sub.Kind == KindPerformance && sub.ID == id.UserID {
			return scope, nil
		}
		return Scope{}, quiz.Errorf(quiz.CodeForbidden, "students see only their own performance")
	default:
		return Scope{}, quiz.ErrForbidden
	}
}

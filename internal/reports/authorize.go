package reports

import (
	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/policy"
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
	if sub == nil {
		sub = &Subject{}
	}
	facts := policy.ReportFacts{Name: string(sub.Kind), SchoolID: sub.SchoolID, TaughtByCaller: sub.TaughtByCaller, Teachers: sub.Teachers}
	if sub.Kind == KindPerformance {
		facts.StudentID = sub.ID
	}
	if err := policy.ReportAccess(id, facts); err != nil {
		return Scope{}, err
	}
	scope := Scope{SchoolID: id.SchoolID, SubjectID: sub.ID}
	if id.Role == quiz.RoleTeacher && sub.Kind == KindPerformance {
		// A teacher sees a student only in the classrooms they teach.
		scope.TeacherID = id.UserID
	}
	return scope, nil
}

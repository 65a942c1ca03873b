package policy

import (
	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/quiz"
)

// SessionFacts are the caller's relations to a live session of their school.
type SessionFacts struct {
	TeacherID string
	Enrolled  bool // the caller is enrolled in the session's classroom
	Kicked    bool // the caller was removed from the session
}

// Session actions beyond View and Manage.
const (
	// Join opens a socket to the session (its teacher, or an enrolled
	// student who was not kicked; admins read snapshots but do not join).
	Join Action = iota + 100
)

var (
	errKicked       = &quiz.Error{Code: quiz.CodeForbidden, Message: "you were removed from this session"}
	errNotMember    = &quiz.Error{Code: quiz.CodeForbidden, Message: "not a member of this session"}
	errSessionOwner = &quiz.Error{Code: quiz.CodeForbidden, Message: "only the session's teacher may do this"}
)

// SessionAccess decides on a session of the caller's school: its teacher
// may do anything, an enrolled student who was not kicked may view and
// join, an admin may view.
func SessionAccess(id auth.Identity, f SessionFacts, a Action) error {
	if f.TeacherID == id.UserID {
		return nil
	}
	if a == Manage {
		return errSessionOwner
	}
	switch {
	case id.Role == quiz.RoleStudent && f.Enrolled && f.Kicked:
		return errKicked
	case id.Role == quiz.RoleStudent && f.Enrolled:
		return nil
	case id.Role == quiz.RoleAdmin && a == View:
		return nil
	default:
		return errNotMember
	}
}

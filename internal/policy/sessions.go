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
	errNoSession    = &quiz.Error{Code: quiz.CodeNotFound, Message: "no such session"}
)

// SessionAccess decides on a session of the caller's school: its teacher
// may do anything, an enrolled student who was not kicked may view and
// join, an admin may view. Over REST, a caller who may not see the session
// is answered as if it did not exist (404: no status tells another
// teacher's session from a random id); one who sees it but may not change
// it is forbidden. The WebSocket handshake (Join) keeps the contract's 403.
func SessionAccess(id auth.Identity, f SessionFacts, a Action) error {
	if f.TeacherID == id.UserID {
		return nil
	}
	member := id.Role == quiz.RoleStudent && f.Enrolled
	sees := (member && !f.Kicked) || id.Role == quiz.RoleAdmin
	switch {
	case a == Join && member && f.Kicked:
		return errKicked
	case a == Join && id.Role == quiz.RoleStudent && member:
		return nil
	case a == Join:
		return errNotMember
	case a == Manage && (sees || member):
		return errSessionOwner
	case a == View && sees:
		return nil
	case a == View && member: // kicked: they know it exists
		return errKicked
	default:
		return errNoSession
	}
}

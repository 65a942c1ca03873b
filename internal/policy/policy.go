// Package policy decides who may do what. It is the one place access rules
// live: admin = the whole school; teacher = the classrooms they teach, the
// students enrolled in them and the quizzes they own; student = themselves
// and the classrooms they are enrolled in.
//
// Answers follow one rule, on every REST endpoint and report alike: a
// resource the caller may not even see is quiz.ErrNotFound, whether of
// another school (whose facts are looked up within the caller's school) or
// of the caller's own (another teacher's session, quiz or report subject),
// so that no status difference reveals which ids exist; a role that may
// never use an endpoint, or an action on a resource the caller can see but
// not change, is quiz.ErrForbidden. The WebSocket handshake keeps the
// contract's 403 for a session the caller may not join.
package policy

import (
	"context"
	"fmt"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/quiz"
)

// Action is what the caller wants to do with a resource.
type Action int

// Actions.
const (
	// View reads a resource (and its reports).
	View Action = iota
	// Manage changes it: roster changes, edits, sessions.
	Manage
)

// Facts are the relations the policy looks up, all within one school (so a
// resource of another school is not found).
type Facts interface {
	// ClassroomFacts reads a classroom of the school.
	ClassroomFacts(ctx context.Context, schoolID, classroomID string) (quiz.Classroom, error)
	// Enrolled reports whether the student is enrolled in the classroom.
	Enrolled(ctx context.Context, schoolID, classroomID, studentID string) (bool, error)
	// Teaches reports whether the student is enrolled in a classroom the
	// teacher teaches.
	Teaches(ctx context.Context, schoolID, teacherID, studentID string) (bool, error)
	// QuizOwner returns the owner of a quiz of the school.
	QuizOwner(ctx context.Context, schoolID, quizID string) (string, error)
	// UserRole returns the role of a user of the school.
	UserRole(ctx context.Context, schoolID, userID string) (quiz.Role, error)
}

// Policy answers access questions, looking facts up as needed.
type Policy struct {
	facts Facts
}

// New returns a Policy over facts.
func New(facts Facts) *Policy { return &Policy{facts: facts} }

var (
	errTeachersOnly = &quiz.Error{Code: quiz.CodeForbidden, Message: "only teachers and admins may do this"}
	errAdminsOnly   = &quiz.Error{Code: quiz.CodeForbidden, Message: "only admins may do this"}
	errTeacherOfIt  = &quiz.Error{Code: quiz.CodeForbidden, Message: "only the classroom's teacher or an admin may do this"}
)

// Teacher allows teachers and admins (an admin is also a teacher).
func Teacher(id auth.Identity) error {
	if !id.Role.IsTeacher() {
		return errTeachersOnly
	}
	return nil
}

// Admin allows admins only.
func Admin(id auth.Identity) error {
	if id.Role != quiz.RoleAdmin {
		return errAdminsOnly
	}
	return nil
}

// ClassroomAccess decides on a classroom already read within the caller's
// school; enrolled says whether the caller is enrolled in it.
func ClassroomAccess(id auth.Identity, c quiz.Classroom, enrolled bool, a Action) error {
	switch {
	case c.SchoolID != id.SchoolID:
		return quiz.ErrNotFound
	case id.Role == quiz.RoleAdmin, id.Role == quiz.RoleTeacher && c.TeacherID == id.UserID:
		return nil
	case id.Role == quiz.RoleStudent && enrolled:
		if a == View {
			return nil
		}
		return errTeacherOfIt
	default:
		return quiz.ErrNotFound
	}
}

// QuizAccess decides on a quiz of the caller's school owned by ownerID.
// Students may not use quizzes directly (they see questions only in
// sessions); another teacher's quiz is not found.
func QuizAccess(id auth.Identity, ownerID string) error {
	if err := Teacher(id); err != nil {
		return err
	}
	if id.Role == quiz.RoleAdmin || ownerID == id.UserID {
		return nil
	}
	return quiz.ErrNotFound
}

// Classroom returns the classroom if the caller may act on it.
func (p *Policy) Classroom(ctx context.Context, id auth.Identity, classroomID string, a Action) (quiz.Classroom, error) {
	c, err := p.facts.ClassroomFacts(ctx, id.SchoolID, classroomID)
	if err != nil {
		return quiz.Classroom{}, fmt.Errorf("classroom %s: %w", classroomID, err)
	}
	enrolled := false
	if id.Role == quiz.RoleStudent {
		if enrolled, err = p.facts.Enrolled(ctx, id.SchoolID, classroomID, id.UserID); err != nil {
			return quiz.Classroom{}, err
		}
	}
	if err := ClassroomAccess(id, c, enrolled, a); err != nil {
		return quiz.Classroom{}, err
	}
	return c, nil
}

// Quiz allows the quiz's owner and the school's admins, for viewing and
// managing alike (the contract's "owner, admin").
func (p *Policy) Quiz(ctx context.Context, id auth.Identity, quizID string) error {
	if err := Teacher(id); err != nil {
		return err
	}
	owner, err := p.facts.QuizOwner(ctx, id.SchoolID, quizID)
	if err != nil {
		return fmt.Errorf("quiz %s: %w", quizID, err)
	}
	return QuizAccess(id, owner)
}

// Student allows seeing a student's data (performance, answers): the
// student themselves, the school's admins, and the teachers of a classroom
// the student is enrolled in. Anyone else, and any id that is not a student
// of the caller's school, is not found.
func (p *Policy) Student(ctx context.Context, id auth.Identity, studentID string) error {
	if id.Role == quiz.RoleStudent {
		if studentID == id.UserID {
			return nil
		}
		return quiz.ErrNotFound
	}
	role, err := p.facts.UserRole(ctx, id.SchoolID, studentID)
	if err != nil {
		return fmt.Errorf("student %s: %w", studentID, err)
	}
	if role != quiz.RoleStudent {
		return quiz.ErrNotFound
	}
	if id.Role == quiz.RoleAdmin {
		return nil
	}
	ok, err := p.facts.Teaches(ctx, id.SchoolID, id.UserID, studentID)
	if err != nil {
		return err
	}
	if !ok {
		return quiz.ErrNotFound
	}
	return nil
}

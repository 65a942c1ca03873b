// Package authoring is what a school sets up before a live session:
// teachers, classrooms and their rosters, quizzes and their versions. Each
// operation asks the policy first, then the store.
package authoring

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/policy"
	"github.com/quizcast/quizcast/internal/quiz"
)

// Store is what authoring needs from the database.
type Store interface {
	CreateUser(ctx context.Context, u quiz.User, passwordHash string) (quiz.User, error)
	UsersByEmail(ctx context.Context, emails []string) ([]quiz.User, error)

	CreateClassroom(ctx context.Context, c quiz.Classroom) (quiz.Classroom, error)
	Classroom(ctx context.Context, schoolID, classroomID string) (quiz.Classroom, error)
	Classrooms(ctx context.Context, schoolID string, f quiz.ClassroomFilter, p quiz.Page) ([]quiz.Classroom, *quiz.Cursor, error)
	Enrol(ctx context.Context, schoolID, classroomID string, list []quiz.Enrolment) ([]quiz.User, error)
	Roster(ctx context.Context, schoolID, classroomID string, p quiz.Page) ([]quiz.User, *quiz.Cursor, error)
	Unenrol(ctx context.Context, schoolID, classroomID, studentID string) (liveSessions []string, err error)

	CreateQuiz(ctx context.Context, q quiz.Quiz, actorID string) (quiz.Quiz, error)
	UpdateQuiz(ctx context.Context, q quiz.Quiz, actorID string) (quiz.Quiz, error)
	Quiz(ctx context.Context, schoolID, quizID string) (quiz.Quiz, error)
	Quizzes(ctx context.Context, schoolID, ownerID string, p quiz.Page) ([]quiz.QuizSummary, *quiz.Cursor, error)
	ArchiveQuiz(ctx context.Context, schoolID, quizID string) error
}

// Remover closes a student's sockets of sessions on every node once the
// student left their classroom.
type Remover interface {
	Removed(ctx context.Context, sessionIDs []string, studentID string)
}

// Service runs the authoring operations for an authenticated caller.
type Service struct {
	store   Store
	policy  *policy.Policy
	hasher  *auth.Hasher
	remover Remover
}

// New returns the authoring service.
// Passwords are hashed by hasher, the node's bounded bcrypt pool; remover
// closes the sockets of an unenrolled student.
func New(store Store, p *policy.Policy, hasher *auth.Hasher, remover Remover) *Service {
	return &Service{store: store, policy: p, hasher: hasher, remover: remover}
}

// CreateTeacher adds a teacher to the admin's school.
func (s *Service) CreateTeacher(ctx context.Context, id auth.Identity, name, email, password string) (quiz.User, error) {
	if err := policy.Admin(id); err != nil {
		return quiz.User{}, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return quiz.User{}, err
	}
	u := quiz.User{SchoolID: id.SchoolID, Name: name, Email: auth.NormalizeEmail(email), Role: quiz.RoleTeacher}
	u, err = s.store.CreateUser(ctx, u, hash)
	if errors.Is(err, quiz.ErrConflict) {
		return quiz.User{}, auth.ErrEmailTaken
	}
	return u, err
}

// CreateClassroom creates a classroom taught by the caller.
func (s *Service) CreateClassroom(ctx context.Context, id auth.Identity, c quiz.Classroom) (quiz.Classroom, error) {
	if err := policy.Teacher(id); err != nil {
		return quiz.Classroom{}, err
	}
	c.SchoolID, c.TeacherID = id.SchoolID, id.UserID
	return s.store.CreateClassroom(ctx, c)
}

// Classrooms lists what the caller sees: admins the whole school, teachers
// the classrooms they teach, students those they are enrolled in.
func (s *Service) Classrooms(ctx context.Context, id auth.Identity, p quiz.Page) ([]quiz.Classroom, *quiz.Cursor, error) {
	var f quiz.ClassroomFilter
	switch id.Role {
	case quiz.RoleAdmin:
	case quiz.RoleTeacher:
		f.TeacherID = id.UserID
	case quiz.RoleStudent:
		f.StudentID = id.UserID
	default:
		return nil, nil, quiz.ErrForbidden
	}
	return s.store.Classrooms(ctx, id.SchoolID, f, p)
}

// Classroom reads a classroom the caller may see, with its student count.
func (s *Service) Classroom(ctx context.Context, id auth.Identity, classroomID string) (quiz.Classroom, error) {
	if _, err := s.policy.Classroom(ctx, id, classroomID, policy.View); err != nil {
		return quiz.Classroom{}, err
	}
	return s.store.Classroom(ctx, id.SchoolID, classroomID)
}

// NewStudent is one entry of a bulk enrolment as the teacher wrote it.
type NewStudent struct {
	Name     string
	Email    string
	Password string
}

// Enrol enrols students in a classroom the caller manages, creating the
// accounts of emails not yet registered (their password is required) and
// enrolling existing students of the school (their password is ignored).
// It is idempotent per email.
func (s *Service) Enrol(ctx context.Context, id auth.Identity, classroomID string, students []NewStudent) ([]quiz.User, error) {
	if _, err := s.policy.Classroom(ctx, id, classroomID, policy.Manage); err != nil {
		return nil, err
	}
	emails := make([]string, len(students))
	for i, st := range students {
		emails[i] = auth.NormalizeEmail(st.Email)
	}
	existing, err := s.store.UsersByEmail(ctx, emails)
	if err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(existing))
	// Only students of the caller's school count as known: an email of
	// another school (or a teacher's) is answered as a new one would be
	// (its password is required), so no answer tells whether an email
	// exists elsewhere; the store then refuses it with the same message
	// for every account that cannot be enrolled here.
	for _, u := range existing {
		if u.SchoolID == id.SchoolID && u.Role == quiz.RoleStudent {
			known[u.Email] = true
		}
	}
	// One hash per new email, computed in parallel: bcrypt is the cost
	// of a bulk enrolment.
	hashes := map[string]string{}
	var todo []int
	fields := map[string]string{}
	for i, st := range students {
		if known[emails[i]] {
			continue
		}
		if _, dup := hashes[emails[i]]; dup {
			continue
		}
		if st.Password == "" {
			fields["students["+strconv.Itoa(i)+"].password"] = "is required to create the account"
			continue
		}
		hashes[emails[i]] = ""
		todo = append(todo, i)
	}
	if len(fields) > 0 {
		return nil, quiz.Invalid(fields)
	}
	passwords := make([]string, len(todo))
	for k, i := range todo {
		passwords[k] = students[i].Password
	}
	// The node's bcrypt pool bounds this request's share of the cores, and
	// refuses (503) beyond its queue before any hashing.
	computed, err := s.hasher.HashAll(ctx, passwords)
	if err != nil {
		return nil, fmt.Errorf("hash passwords: %w", err)
	}
	for k, i := range todo {
		hashes[emails[i]] = computed[k]
	}
	list := make([]quiz.Enrolment, len(students))
	for i, st := range students {
		list[i] = quiz.Enrolment{Name: st.Name, Email: emails[i], PasswordHash: hashes[emails[i]]}
	}
	return s.store.Enrol(ctx, id.SchoolID, classroomID, list)
}

// Roster lists the students of a classroom the caller manages.
func (s *Service) Roster(ctx context.Context, id auth.Identity, classroomID string, p quiz.Page) ([]quiz.User, *quiz.Cursor, error) {
	if _, err := s.policy.Classroom(ctx, id, classroomID, policy.Manage); err != nil {
		return nil, nil, err
	}
	return s.store.Roster(ctx, id.SchoolID, classroomID, p)
}

// Unenrol removes a student from a classroom the caller manages; their
// sockets of the classroom's sessions that are not over close with 4403 on
// every node (their answers are refused in SQL from the commit on).
func (s *Service) Unenrol(ctx context.Context, id auth.Identity, classroomID, studentID string) error {
	if _, err := s.policy.Classroom(ctx, id, classroomID, policy.Manage); err != nil {
		return err
	}
	live, err := s.store.Unenrol(ctx, id.SchoolID, classroomID, studentID)
	if err != nil {
		return err
	}
	if len(live) > 0 {
		s.remover.Removed(ctx, live, studentID)
	}
	return nil
}

// CreateQuiz stores version 1 of a quiz owned by the caller.
func (s *Service) CreateQuiz(ctx context.Context, id auth.Identity, q quiz.Quiz) (quiz.Quiz, error) {
	if err := policy.Teacher(id); err != nil {
		return quiz.Quiz{}, err
	}
	q.SchoolID, q.OwnerID = id.SchoolID, id.UserID
	return s.store.CreateQuiz(ctx, q, id.UserID)
}

// Quizzes lists the quizzes the caller may use: a teacher's own, all of
// the school for an admin. Archived quizzes are left out.
func (s *Service) Quizzes(ctx context.Context, id auth.Identity, p quiz.Page) ([]quiz.QuizSummary, *quiz.Cursor, error) {
	if err := policy.Teacher(id); err != nil {
		return nil, nil, err
	}
	owner := id.UserID
	if id.Role == quiz.RoleAdmin {
		owner = ""
	}
	return s.store.Quizzes(ctx, id.SchoolID, owner, p)
}

// Quiz reads the current version of a quiz, with its correct answers.
func (s *Service) Quiz(ctx context.Context, id auth.Identity, quizID string) (quiz.Quiz, error) {
	if err := s.policy.Quiz(ctx, id, quizID); err != nil {
		return quiz.Quiz{}, err
	}
	return s.store.Quiz(ctx, id.SchoolID, quizID)
}

// UpdateQuiz stores q as the next version of quiz q.ID.
func (s *Service) UpdateQuiz(ctx context.Context, id auth.Identity, q quiz.Quiz) (quiz.Quiz, error) {
	if err := s.policy.Quiz(ctx, id, q.ID); err != nil {
		return quiz.Quiz{}, err
	}
	q.SchoolID = id.SchoolID
	return s.store.UpdateQuiz(ctx, q, id.UserID)
}

// ArchiveQuiz archives a quiz: it leaves the lists, its versions stay for
// sessions and reports.
func (s *Service) ArchiveQuiz(ctx context.Context, id auth.Identity, quizID string) error {
	if err := s.policy.Quiz(ctx, id, quizID); err != nil {
		return err
	}
	return s.store.ArchiveQuiz(ctx, id.SchoolID, quizID)
}

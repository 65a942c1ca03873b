package quiz

import "time"

// School is a tenant: every other row belongs to one.
type School struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// User is an account of a school. Emails are unique across schools and
// stored lower-case.
type User struct {
	ID        string
	SchoolID  string
	Name      string
	Email     string
	Role      Role
	CreatedAt time.Time
	// Active is false once an admin deactivated the account: its logins
	// are refused.
	Active bool
}

// IsTeacher reports whether the role may teach: teachers and admins.
func (r Role) IsTeacher() bool { return r == RoleTeacher || r == RoleAdmin }

// Classroom is a class a teacher teaches and students are enrolled in.
type Classroom struct {
	ID        string
	SchoolID  string
	TeacherID string
	Name      string
	Subject   string
	Grade     string
	CreatedAt time.Time
	// StudentCount is filled where the classroom is read on its own.
	StudentCount int
}

// QuizSummary is a quiz as listed: its current version without questions.
type QuizSummary struct {
	ID            string
	OwnerID       string
	Version       int
	Title         string
	Description   string
	QuestionCount int
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// ClassroomFilter narrows a classroom list to a teacher's classrooms, to a
// student's, or (both empty) to none: the whole school.
type ClassroomFilter struct {
	TeacherID string
	StudentID string
}

// Enrolment is one student of a bulk enrolment. PasswordHash is set for an
// account to create, empty for an existing student.
type Enrolment struct {
	Name         string
	Email        string
	PasswordHash string
}

package quiz

import "time"

// Kind is the kind of a question.
type Kind string

// The question kinds of the contract.
const (
	KindSingle    Kind = "single"
	KindMulti     Kind = "multi"
	KindTrueFalse Kind = "true_false"
	KindPoll      Kind = "poll"
)

// Role is a user's role in a school.
type Role string

// The roles of the contract. An admin is also a teacher.
const (
	RoleAdmin   Role = "admin"
	RoleTeacher Role = "teacher"
	RoleStudent Role = "student"
)

// Option is one choice of a question; its id is stable within a version.
type Option struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// Question is one question of a quiz version. Correct holds option ids.
type Question struct {
	ID         string   `json:"id"`
	Index      int      `json:"index"`
	Text       string   `json:"text"`
	Kind       Kind     `json:"kind"`
	Options    []Option `json:"options"`
	Correct    []string `json:"correct"`
	TimeLimitS int      `json:"time_limit_s"`
	Points     int      `json:"points"`
}

// Quiz is one immutable version of a quiz.
type Quiz struct {
	ID          string
	SchoolID    string
	OwnerID     string
	Version     int
	Title       string
	Description string
	Questions   []Question
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ArchivedAt  *time.Time
}

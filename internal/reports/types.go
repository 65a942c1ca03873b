package reports

import "github.com/quizcast/quizcast/internal/quiz"

// The JSON answers of §7. Counts are integers, rates fractions in 0..1,
// durations integer milliseconds. A ratio whose denominator is zero (no
// answers, nobody enrolled) is null rather than a made-up 0.

// Person is the student a performance report is about.
type Person struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Classroom is the classroom an engagement report is about (§3's shape).
type Classroom struct {
	ID        string `json:"id"`
	SchoolID  string `json:"school_id"`
	Name      string `json:"name"`
	Subject   string `json:"subject"`
	Grade     string `json:"grade"`
	TeacherID string `json:"teacher_id"`
}

// QuizRef is the quiz an effectiveness report is about: its current title
// and version (the questions listed may come from older versions).
type QuizRef struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Version int    `json:"version"`
	OwnerID string `json:"owner_id"`
}

// SessionInfo is the session a session report is about, read live.
type SessionInfo struct {
	ID            string     `json:"id"`
	QuizID        string     `json:"quiz_id"`
	QuizVersion   int        `json:"quiz_version"`
	QuizTitle     string     `json:"quiz_title"`
	ClassroomID   string     `json:"classroom_id"`
	TeacherID     string     `json:"teacher_id"`
	State         string     `json:"state"`
	CreatedAt     quiz.Time  `json:"created_at"`
	StartedAt     *quiz.Time `json:"started_at,omitempty"`
	EndedAt       *quiz.Time `json:"ended_at,omitempty"`
	QuestionCount int        `json:"question_count"`
}

// Performance is GET /reports/students/{id}/performance.
type Performance struct {
	AsOf          quiz.Time            `json:"as_of"`
	Student       Person               `json:"student"`
	Answered      int64                `json:"answered"`
	Correct       int64                `json:"correct"`
	Accuracy      *float64             `json:"accuracy"`
	AvgResponseMS *int64               `json:"avg_response_ms"`
	Points        int64                `json:"points"`
	Sessions      []PerformanceSession `json:"sessions"`
	ByDay         []DayCount           `json:"by_day"`
	NextCursor    string               `json:"next_cursor,omitempty"`
}

// PerformanceSession is one session of a student's performance.
type PerformanceSession struct {
	SessionID string    `json:"session_id"`
	QuizTitle string    `json:"quiz_title"`
	StartedAt quiz.Time `json:"started_at"`
	Answered  int64     `json:"answered"`
	Correct   int64     `json:"correct"`
	Score     int64     `json:"score"`
	Rank      int       `json:"rank"`
}

// DayCount is one UTC day (of the sessions' start) of a performance report.
type DayCount struct {
	Day      string `json:"day"`
	Answered int64  `json:"answered"`
	Correct  int64  `json:"correct"`
}

// Engagement is GET /reports/classrooms/{id}/engagement.
type Engagement struct {
	AsOf              quiz.Time           `json:"as_of"`
	Classroom         Classroom           `json:"classroom"`
	Enrolled          int64               `json:"enrolled"`
	Sessions          []EngagementSession `json:"sessions"`
	ParticipationRate *float64            `json:"participation_rate"`
	CompletionRate    *float64            `json:"completion_rate"`
	NextCursor        string              `json:"next_cursor,omitempty"`
}

// EngagementSession is one session of a classroom's engagement.
type EngagementSession struct {
	SessionID         string    `json:"session_id"`
	QuizTitle         string    `json:"quiz_title"`
	StartedAt         quiz.Time `json:"started_at"`
	Participants      int64     `json:"participants"`
	ParticipationRate *float64  `json:"participation_rate"`
	CompletionRate    *float64  `json:"completion_rate"`
	AvgResponseMS     *int64    `json:"avg_response_ms"`
}

// Effectiveness is GET /reports/quizzes/{id}/effectiveness.
type Effectiveness struct {
	AsOf       quiz.Time      `json:"as_of"`
	Quiz       QuizRef        `json:"quiz"`
	Sessions   int64          `json:"sessions"`
	Questions  []QuestionStat `json:"questions"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// QuestionStat is the item analysis of one question over the sessions in
// range (or of one session).
type QuestionStat struct {
	QuestionID       string           `json:"question_id"`
	QuizVersion      int              `json:"quiz_version"`
	Index            int              `json:"index"`
	Text             string           `json:"text"`
	Kind             string           `json:"kind"`
	Attempts         int64            `json:"attempts"`
	PCorrect         *float64         `json:"p_correct"`
	Discrimination   *float64         `json:"discrimination"`
	AvgResponseMS    *int64           `json:"avg_response_ms"`
	Distribution     map[string]int64 `json:"distribution"`
	TopWrongOptionID *string          `json:"top_wrong_option_id"`
	// Options are the question's options in order, for the CSV's texts.
	Options []OptionText `json:"-"`
}

// OptionText is an option of a question as stored (questions.options).
type OptionText struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// SessionReport is GET /reports/sessions/{id}.
type SessionReport struct {
	AsOf         quiz.Time      `json:"as_of"`
	Session      SessionInfo    `json:"session"`
	Participants int64          `json:"participants"`
	Questions    []QuestionStat `json:"questions"`
	Leaderboard  []LeaderEntry  `json:"leaderboard"`
	NextCursor   string         `json:"next_cursor,omitempty"`
}

// LeaderEntry is one line of a session's final leaderboard: every student
// who answered, by score, ties sharing a rank and ordered by name.
type LeaderEntry struct {
	UserID string `json:"user_id"`
	Name   string `json:"name"`
	Score  int64  `json:"score"`
	Rank   int    `json:"rank"`
}

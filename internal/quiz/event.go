package quiz

import (
	"encoding/json"
	"time"
)

// EventName is the name (and routing key) of an analytics event.
type EventName string

// The analytics events of the contract (§8).
const (
	EventQuizCreated       EventName = "quiz_created"
	EventQuizUpdated       EventName = "quiz_updated"
	EventSessionCreated    EventName = "session_created"
	EventSessionStarted    EventName = "session_started"
	EventQuestionDisplayed EventName = "question_displayed"
	EventQuestionClosed    EventName = "question_closed"
	EventAnswerSubmitted   EventName = "answer_submitted"
	EventSessionEnded      EventName = "session_ended"
	EventStudentJoined     EventName = "student_joined"
	EventStudentLeft       EventName = "student_left"
)

// App names which app caused an event.
type App string

// The apps of the contract.
const (
	AppWhiteboard App = "whiteboard"
	AppNotebook   App = "notebook"
	AppServer     App = "server"
)

// Event is an analytics event as published to RabbitMQ (§8). Stores write it
// to the outbox in the transaction of the change it describes.
type Event struct {
	EventID     string         `json:"event_id"`
	Name        EventName      `json:"name"`
	OccurredAt  time.Time      `json:"occurred_at"`
	SchoolID    string         `json:"school_id"`
	ClassroomID string         `json:"classroom_id,omitempty"`
	SessionID   string         `json:"session_id,omitempty"`
	QuizID      string         `json:"quiz_id,omitempty"`
	UserID      string         `json:"user_id,omitempty"`
	App         App            `json:"app"`
	Data        map[string]any `json:"data"`
	// RawData is data as the JSON object text it arrived in, set by the
	// event worker's decoder instead of Data: the worker only passes data
	// on to PostgreSQL's jsonb, so building a map and encoding it again
	// would be work for nothing. A store writes RawData when it is set.
	RawData json.RawMessage `json:"-"`
}

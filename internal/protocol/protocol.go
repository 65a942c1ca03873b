// Package protocol holds the WebSocket wire format of docs/protocol.md (api/asyncapi.yaml): the frame
// envelope and the data of every message, shared by the session store (which
// builds broadcasts inside its transaction), the session service and the
// realtime hubs.
package protocol

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/quizcast/quizcast/internal/quiz"
)

// Message types, server to client.
const (
	TypeWelcome        = "welcome"
	TypeSessionStarted = "session.started"
	TypeQuestionOpened = "question.opened"
	TypeQuestionClosed = "question.closed"
	TypeLeaderboard    = "leaderboard"
	TypeSessionEnded   = "session.ended"
	TypeAnswerAccepted = "answer.accepted"
	TypeAnswerRejected = "answer.rejected"
	TypeResult         = "result"
	TypeError          = "error"
	TypePong           = "pong"
	TypeAnswerProgress = "answer.progress"
	TypeParticipants   = "participants"
	TypeClientAnswer   = "answer"
	TypeClientStart    = "start"
	TypeClientNext     = "next"
	TypeClientClose    = "close"
	TypeClientEnd      = "end"
	TypeClientKick     = "kick"
	TypeClientPing     = "ping"
)

// Frame is every WebSocket message: {"type","id","seq","data"}. Seq is set
// on broadcasts only; ID echoes the client's request id on direct replies.
type Frame struct {
	Type string          `json:"type"`
	ID   string          `json:"id,omitempty"`
	Seq  int64           `json:"seq,omitempty"`
	Data json.RawMessage `json:"data"`
}

// PublicQuestion is a question as students see it: never the answer.
type PublicQuestion struct {
	ID         string        `json:"id"`
	Index      int           `json:"index"`
	Text       string        `json:"text"`
	Kind       quiz.Kind     `json:"kind"`
	Options    []quiz.Option `json:"options"`
	TimeLimitS int           `json:"time_limit_s"`
	Points     int           `json:"points"`
}

// Public strips the correct answer from q.
func Public(q quiz.Question) PublicQuestion {
	return PublicQuestion{ID: q.ID, Index: q.Index, Text: q.Text, Kind: q.Kind, Options: q.Options, TimeLimitS: q.TimeLimitS, Points: q.Points}
}

// CurrentQuestion is the snapshot's view of the last opened question.
type CurrentQuestion struct {
	PublicQuestion
	OpenedAt quiz.Time `json:"opened_at"`
	Deadline quiz.Time `json:"deadline"`
	Closed   bool      `json:"closed"`
}

// Snapshot is the session snapshot of §5.
type Snapshot struct {
	ID              string           `json:"id"`
	QuizID          string           `json:"quiz_id"`
	QuizVersion     int              `json:"quiz_version"`
	ClassroomID     string           `json:"classroom_id"`
	TeacherID       string           `json:"teacher_id"`
	State           quiz.State       `json:"state"`
	CreatedAt       quiz.Time        `json:"created_at"`
	StartedAt       *quiz.Time       `json:"started_at,omitempty"`
	EndedAt         *quiz.Time       `json:"ended_at,omitempty"`
	QuestionCount   int              `json:"question_count"`
	CurrentQuestion *CurrentQuestion `json:"current_question,omitempty"`
	Participants    int              `json:"participants"`
	Seq             int64            `json:"seq"`
}

// SnapshotOf is the snapshot of sess, whose last opened question is
// current (nil before the first), with its participant count.
func SnapshotOf(sess quiz.Session, current *quiz.RunQuestion, participants int) Snapshot {
	snap := Snapshot{
		ID: sess.ID, QuizID: sess.QuizID, QuizVersion: sess.QuizVersion, ClassroomID: sess.ClassroomID,
		TeacherID: sess.TeacherID, State: sess.State, CreatedAt: quiz.Time(sess.CreatedAt),
		StartedAt: quiz.TimePtr(sess.StartedAt), EndedAt: quiz.TimePtr(sess.EndedAt),
		QuestionCount: sess.QuestionCount, Seq: sess.Seq, Participants: participants,
	}
	if current != nil {
		snap.CurrentQuestion = &CurrentQuestion{PublicQuestion: Public(current.Question), OpenedAt: quiz.Time(current.OpenedAt),
			Deadline: quiz.Time(current.Deadline), Closed: current.ClosedAt != nil}
	}
	return snap
}

// Welcome is the first frame on every socket.
type Welcome struct {
	Session   Snapshot `json:"session"`
	You       You      `json:"you"`
	Recovered bool     `json:"recovered"`
	Missed    int      `json:"missed"`
}

// You names the socket's user.
type You struct {
	UserID string    `json:"user_id"`
	Role   quiz.Role `json:"role"`
}

// SessionStarted is the data of session.started.
type SessionStarted struct {
	StartedAt quiz.Time `json:"started_at"`
}

// SessionEnded is the data of session.ended.
type SessionEnded struct {
	EndedAt quiz.Time `json:"ended_at"`
}

// QuestionOpened is the data of question.opened.
type QuestionOpened struct {
	Question PublicQuestion `json:"question"`
	OpenedAt quiz.Time      `json:"opened_at"`
	Deadline quiz.Time      `json:"deadline"`
}

// QuestionClosed is the data of question.closed.
type QuestionClosed struct {
	QuestionID   string         `json:"question_id"`
	Correct      []string       `json:"correct"`
	Distribution map[string]int `json:"distribution"`
	Answered     int            `json:"answered"`
	Participants int            `json:"participants"`
}

// Leaderboard is the data of leaderboard.
type Leaderboard struct {
	Top []quiz.Standing `json:"top"`
}

// Result is the data of the direct result message after every close.
type Result struct {
	QuestionID string `json:"question_id"`
	Correct    *bool  `json:"correct"`
	Points     int    `json:"points"`
	Score      int    `json:"score"`
	Rank       int    `json:"rank"`
}

// AnswerAccepted is the data of answer.accepted (and of the REST answer).
type AnswerAccepted struct {
	AnswerID   string    `json:"answer_id"`
	QuestionID string    `json:"question_id"`
	ReceivedAt quiz.Time `json:"received_at"`
}

// AnswerRejected is the data of answer.rejected.
type AnswerRejected struct {
	QuestionID string    `json:"question_id"`
	Code       quiz.Code `json:"code"`
}

// Progress is the data of answer.progress (teacher only).
type Progress struct {
	QuestionID   string         `json:"question_id"`
	Answered     int            `json:"answered"`
	Participants int            `json:"participants"`
	Distribution map[string]int `json:"distribution"`
}

// Participant names a student who joined.
type Participant struct {
	UserID string `json:"user_id"`
	Name   string `json:"name"`
}

// Participants is the data of participants (teacher only).
type Participants struct {
	Count     int           `json:"count"`
	Connected int           `json:"connected"`
	Joined    []Participant `json:"joined"`
	Left      []string      `json:"left"`
}

// Error is the data of error.
type Error struct {
	Code    quiz.Code `json:"code"`
	Message string    `json:"message"`
	// RetryAfterMs is set with code unavailable: when to try again.
	RetryAfterMs int `json:"retry_after_ms,omitempty"`
}

// AnswerCommand is the data of the client's answer.
type AnswerCommand struct {
	QuestionID string   `json:"question_id"`
	Choices    []string `json:"choices"`
}

// KickCommand is the data of the teacher's kick.
type KickCommand struct {
	UserID string `json:"user_id"`
}

// Broadcast is a broadcast frame encoded once, at its commit: the bytes are
// stored in session_broadcasts, added to the Redis history, published, and
// written to every socket unchanged. Type and Deadline let hubs act on it
// without decoding Raw.
type Broadcast struct {
	Seq      int64
	Type     string
	Deadline time.Time // question.opened only
	Raw      []byte    // the whole frame: {"type":…,"seq":N,"data":{…}}
}

// EncodeBroadcast encodes a broadcast frame with its seq.
func EncodeBroadcast(typ string, seq int64, data any) (Broadcast, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Broadcast{}, fmt.Errorf("encode %s: %w", typ, err)
	}
	frame, err := json.Marshal(Frame{Type: typ, Seq: seq, Data: raw})
	if err != nil {
		return Broadcast{}, fmt.Errorf("encode %s: %w", typ, err)
	}
	b := Broadcast{Seq: seq, Type: typ, Raw: frame}
	if d, ok := data.(QuestionOpened); ok {
		// As the frame carries it (milliseconds), so every node agrees.
		b.Deadline = time.Time(d.Deadline).UTC().Truncate(time.Millisecond)
	}
	return b, nil
}

// ParseBroadcast reads back a broadcast from its stored bytes (gap filling
// from PostgreSQL, the Redis history): the frame is decoded for its seq,
// type and deadline, and Raw keeps the bytes as they were.
func ParseBroadcast(raw []byte) (Broadcast, error) {
	var f Frame
	if err := json.Unmarshal(raw, &f); err != nil {
		return Broadcast{}, fmt.Errorf("decode broadcast: %w", err)
	}
	if f.Seq <= 0 || f.Type == "" {
		return Broadcast{}, fmt.Errorf("decode broadcast: no seq or type")
	}
	b := Broadcast{Seq: f.Seq, Type: f.Type, Raw: raw}
	if f.Type == TypeQuestionOpened {
		var d QuestionOpened
		if err := json.Unmarshal(f.Data, &d); err != nil {
			return Broadcast{}, fmt.Errorf("decode question.opened: %w", err)
		}
		b.Deadline = time.Time(d.Deadline)
	}
	return b, nil
}

// Encode encodes a direct frame (no id, no seq).
func Encode(typ string, data any) ([]byte, error) {
	return EncodeReply("", typ, data)
}

// EncodeReply encodes a direct frame echoing the client's request id, as
// a Frame would encode it, in one pass (a Frame's raw data would be
// encoded first and then scanned again).
func EncodeReply(id, typ string, data any) ([]byte, error) {
	frame, err := json.Marshal(struct {
		Type string `json:"type"`
		ID   string `json:"id,omitempty"`
		Data any    `json:"data"`
	}{typ, id, data})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	return frame, nil
}

// Envelope is what travels between nodes on a session's channel: the
// broadcasts (in seq order) and what goes to particular users, every frame
// already encoded.
type Envelope struct {
	Broadcasts []Broadcast
	// Results go to each named participant after a close, right after the
	// leaderboard broadcast of the same envelope.
	Results map[string][]byte
	// Teacher frames go to the session's teacher (progress, participants).
	Teacher [][]byte
	// Kick closes the named user's sockets with 4403.
	Kick string
}

// Empty reports whether the envelope carries nothing.
func (e Envelope) Empty() bool {
	return len(e.Broadcasts) == 0 && len(e.Results) == 0 && len(e.Teacher) == 0 && e.Kick == ""
}

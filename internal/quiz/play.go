package quiz

import (
	"fmt"
	"slices"
	"time"
)

// Command is what a session's teacher asks of it, or the server at a
// question's deadline.
type Command string

// The commands of a live session.
const (
	CommandStart Command = "start"
	CommandNext  Command = "next"
	CommandClose Command = "close"
	CommandEnd   Command = "end"
	// CommandCloseDue closes the open question only if its deadline has
	// passed; it is the server's, and finding nothing due is no error.
	CommandCloseDue Command = "close_due"
)

// LeaderboardSize is how many participants the leaderboard lists.
const LeaderboardSize = 10

// Player is one student of a session as a close scores them: one who
// joined (connected at least once), or who answered without joining.
type Player struct {
	UserID string
	Name   string
	Joined bool
	Kicked bool
	// Score is the sum of the points of all the student's answers in the
	// session, the question being closed included.
	Score int
	// Answer is the student's answer to the current question, if any.
	Answer *PlayerAnswer
}

// PlayerAnswer is a student's stored answer to a question.
type PlayerAnswer struct {
	Choices []string
	Correct *bool
	Points  int
}

// Room is what a command reads of its session under the session's lock;
// every rule of Apply works from it alone.
type Room struct {
	Session Session
	// Current is the question at Session.CurrentIndex (Question holds
	// only its ID and Index as read; Apply fills the rest in).
	Current *RunQuestion
	// Players are every student who joined or answered, kicked ones
	// flagged.
	Players []Player
}

// Participants counts the students who joined and were not kicked.
func Participants(players []Player) int {
	n := 0
	for _, p := range players {
		if p.Joined && !p.Kicked {
			n++
		}
	}
	return n
}

// Result is one participant's outcome of a closed question.
type Result struct {
	UserID  string
	Points  int
	Score   int
	Rank    int
	Correct *bool // nil for a poll
}

// Closing is the outcome of a question's close.
type Closing struct {
	Question     Question
	Distribution map[string]int // every option, answered or not
	Answered     int            // answers stored, kicked students' included
	Participants int
	Standings    []Standing // every player not kicked, ranked
	Results      []Result   // one per standing, in its order
	Due          bool       // closed by the server at its deadline
}

// Top is the leaderboard: the first LeaderboardSize standings.
func (c Closing) Top() []Standing {
	top := c.Standings[:min(len(c.Standings), LeaderboardSize)]
	if top == nil {
		return []Standing{}
	}
	return top
}

// CorrectOptions is the question's correct option ids, never nil.
func (c Closing) CorrectOptions() []string {
	if c.Question.Correct == nil {
		return []string{}
	}
	return c.Question.Correct
}

// Close scores question q over the players: the distribution and count of
// every stored answer (a kicked student's too), and the ranking and result
// of everyone not kicked — a correct flag is false for a non-answerer and
// nil for a poll.
func Close(q Question, players []Player) Closing {
	c := Closing{Question: q, Distribution: make(map[string]int, len(q.Options)), Participants: Participants(players)}
	for _, o := range q.Options {
		c.Distribution[o.ID] = 0
	}
	answers := map[string]*PlayerAnswer{}
	var standings []Standing
	for _, p := range players {
		if p.Answer != nil {
			c.Answered++
			for _, ch := range p.Answer.Choices {
				c.Distribution[ch]++
			}
		}
		if p.Kicked {
			continue
		}
		answers[p.UserID] = p.Answer
		standings = append(standings, Standing{UserID: p.UserID, Name: p.Name, Score: p.Score})
	}
	c.Standings = Rank(standings)
	c.Results = make([]Result, len(c.Standings))
	for i, st := range c.Standings {
		r := Result{UserID: st.UserID, Score: st.Score, Rank: st.Rank}
		a := answers[st.UserID]
		if a != nil {
			r.Points = a.Points
		}
		if q.Kind != KindPoll {
			ok := a != nil && a.Correct != nil && *a.Correct
			r.Correct = &ok
		}
		c.Results[i] = r
	}
	return c
}

// Actor is who gives a command: the teacher through an app, or the server.
type Actor struct {
	UserID string
	App    App
}

// Transition is what a command does to a session. Its broadcasts, in seq
// order from FirstSeq, are: session.started (Started); question.closed and
// leaderboard (Closed); question.opened (Opened); session.ended (Ended).
type Transition struct {
	Session      Session // after the command; Seq counts the broadcasts
	FirstSeq     int64
	Now          time.Time
	Started      bool
	Closed       *Closing
	ClosedIndex  int
	Opened       *RunQuestion
	Ended        bool
	Current      *RunQuestion // the last opened question after the command
	Participants int
	Events       []Event
}

// Broadcasts counts the transition's broadcasts.
func (t Transition) Broadcasts() int {
	n := 0
	if t.Started {
		n++
	}
	if t.Closed != nil {
		n += 2
	}
	if t.Opened != nil {
		n++
	}
	if t.Ended {
		n++
	}
	return n
}

// Changed reports whether the transition changes anything.
func (t Transition) Changed() bool { return t.Broadcasts() > 0 }

// Apply decides cmd on the room at now: the game's rules of a command.
// questions are the session's quiz version in order. A refused command
// returns a conflict; close_due with nothing due returns an unchanged
// transition.
func Apply(r Room, questions []Question, cmd Command, by Actor, now time.Time) (Transition, error) {
	t := Transition{Session: r.Session, FirstSeq: r.Session.Seq + 1, Now: now, Participants: Participants(r.Players)}
	if r.Current != nil {
		cur, err := fill(*r.Current, questions)
		if err != nil {
			return t, err
		}
		t.Current = &cur
	}
	event := func(name EventName, data map[string]any) {
		s := t.Session
		t.Events = append(t.Events, Event{Name: name, OccurredAt: now, SchoolID: s.SchoolID, ClassroomID: s.ClassroomID,
			SessionID: s.ID, QuizID: s.QuizID, UserID: by.UserID, App: by.App, Data: data})
	}
	closeOpen := func(due bool) bool {
		cur := t.Current
		if t.Session.State != StateRunning || cur == nil || cur.ClosedAt != nil || (due && now.Before(cur.Deadline)) {
			return false
		}
		c := Close(cur.Question, r.Players)
		c.Due = due
		t.Closed, t.ClosedIndex = &c, cur.Question.Index
		closed := *cur
		closed.ClosedAt = &now
		t.Current = &closed
		event(EventQuestionClosed, map[string]any{"question_id": cur.Question.ID, "index": cur.Question.Index,
			"answered": c.Answered, "participants": c.Participants, "distribution": c.Distribution, "due": due})
		return true
	}
	switch cmd {
	case CommandStart:
		if err := CheckStart(t.Session.State); err != nil {
			return t, err
		}
		t.Session.State, t.Session.StartedAt, t.Started = StateRunning, &now, true
		event(EventSessionStarted, map[string]any{"quiz_version": t.Session.QuizVersion})
	case CommandNext:
		if err := CheckNext(t.Session); err != nil {
			return t, err
		}
		closeOpen(false)
		idx := 0
		if t.Session.CurrentIndex != nil {
			idx = *t.Session.CurrentIndex + 1
		}
		if idx >= len(questions) {
			return t, fmt.Errorf("open question %d of session %s: the quiz version has %d", idx, t.Session.ID, len(questions))
		}
		q := questions[idx]
		opened := RunQuestion{Question: q, OpenedAt: now, Deadline: now.Add(time.Duration(q.TimeLimitS) * time.Second)}
		t.Opened, t.Current, t.Session.CurrentIndex = &opened, &opened, &idx
		event(EventQuestionDisplayed, map[string]any{"question_id": q.ID, "index": idx,
			"opened_at": Time(opened.OpenedAt), "deadline": Time(opened.Deadline)})
	case CommandClose:
		if t.Session.State != StateRunning {
			return t, Errorf(CodeConflict, "the session is %s; no question is open", t.Session.State)
		}
		if !closeOpen(false) {
			return t, Errorf(CodeConflict, "no question is open")
		}
	case CommandCloseDue:
		closeOpen(true)
	case CommandEnd:
		if err := CheckEnd(t.Session.State); err != nil {
			return t, err
		}
		closeOpen(false)
		t.Session.State, t.Session.EndedAt, t.Ended = StateEnded, &now, true
		event(EventSessionEnded, map[string]any{"questions_run": runCount(t.Session)})
	default:
		return t, Errorf(CodeInvalidMessage, "unknown command %q", cmd)
	}
	t.Session.Seq += int64(t.Broadcasts())
	return t, nil
}

// fill completes a run question read by id and index with its question.
func fill(rq RunQuestion, questions []Question) (RunQuestion, error) {
	i := slices.IndexFunc(questions, func(q Question) bool { return q.ID == rq.Question.ID })
	if i < 0 {
		return rq, fmt.Errorf("question %s is not in the session's quiz version", rq.Question.ID)
	}
	rq.Question = questions[i]
	return rq, nil
}

func runCount(s Session) int {
	if s.CurrentIndex == nil {
		return 0
	}
	return *s.CurrentIndex + 1
}

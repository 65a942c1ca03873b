package quiz

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

func answered(points int, correct *bool, choices ...string) *PlayerAnswer {
	return &PlayerAnswer{Choices: choices, Correct: correct, Points: points}
}

func TestCloseScoresRanksAndResults(t *testing.T) {
	q := question(KindSingle, "a")
	players := []Player{
		{UserID: "u1", Name: "Zoe", Joined: true, Score: 1500, Answer: answered(900, yes(), "a")},
		{UserID: "u2", Name: "Adam", Joined: true, Score: 1500, Answer: answered(0, no(), "b")},
		{UserID: "u3", Name: "Bea", Joined: true, Score: 300},                                                      // no answer
		{UserID: "u4", Name: "Kicked", Joined: true, Kicked: true, Score: 5000, Answer: answered(800, yes(), "a")}, // counted, not ranked
		{UserID: "u5", Name: "Rest", Score: 2000, Answer: answered(700, yes(), "a")},                               // answered by REST, never joined
	}
	c := Close(q, players)
	if want := map[string]int{"a": 3, "b": 1, "c": 0}; !reflect.DeepEqual(c.Distribution, want) {
		t.Errorf("distribution %v, want %v", c.Distribution, want)
	}
	if c.Answered != 4 || c.Participants != 3 {
		t.Errorf("answered %d participants %d, want 4 and 3", c.Answered, c.Participants)
	}
	// Ties share a rank and are ordered by name; the next rank skips.
	want := []Standing{{"u5", "Rest", 2000, 1}, {"u2", "Adam", 1500, 2}, {"u1", "Zoe", 1500, 2}, {"u3", "Bea", 300, 4}}
	if !reflect.DeepEqual(c.Standings, want) {
		t.Errorf("standings %v, want %v", c.Standings, want)
	}
	results := map[string]Result{}
	for _, r := range c.Results {
		results[r.UserID] = r
	}
	if len(results) != 4 {
		t.Fatalf("results for %d players, want 4 (kicked excluded)", len(results))
	}
	if r := results["u3"]; r.Correct == nil || *r.Correct || r.Points != 0 || r.Rank != 4 || r.Score != 300 {
		t.Errorf("non-answerer's result %+v, want incorrect, 0 points, rank 4", r)
	}
	if r := results["u1"]; r.Correct == nil || !*r.Correct || r.Points != 900 || r.Rank != 2 {
		t.Errorf("correct answerer's result %+v", r)
	}
	if !reflect.DeepEqual(c.CorrectOptions(), []string{"a"}) {
		t.Errorf("correct %v", c.CorrectOptions())
	}
}

func TestClosePollHasNoCorrectness(t *testing.T) {
	c := Close(question(KindPoll), []Player{{UserID: "u1", Name: "A", Joined: true, Answer: answered(0, nil, "b")}, {UserID: "u2", Name: "B", Joined: true}})
	for _, r := range c.Results {
		if r.Correct != nil {
			t.Fatalf("poll result %+v has a correct flag", r)
		}
	}
	if c.CorrectOptions() == nil || len(c.CorrectOptions()) != 0 {
		t.Fatalf("poll correct options %v, want empty, not nil", c.CorrectOptions())
	}
}

func TestCloseTopTen(t *testing.T) {
	var players []Player
	for i := range 25 {
		players = append(players, Player{UserID: fmt.Sprintf("u%02d", i), Name: fmt.Sprintf("N%02d", i), Joined: true, Score: i * 10})
	}
	c := Close(question(KindSingle, "a"), players)
	top := c.Top()
	if len(top) != LeaderboardSize || top[0].Score != 240 || top[9].Score != 150 {
		t.Fatalf("top %v", top)
	}
	if len(c.Results) != 25 {
		t.Fatalf("results %d, want everyone's", len(c.Results))
	}
	if empty := (Closing{}).Top(); empty == nil || len(empty) != 0 {
		t.Fatalf("empty top %v, want [] not nil", empty)
	}
}

func applyFixture() (Room, []Question) {
	qs := []Question{question(KindSingle, "a"), question(KindMulti, "a", "b")}
	qs[0].ID, qs[0].Index = "q0", 0
	qs[1].ID, qs[1].Index = "q1", 1
	sess := Session{ID: "s", SchoolID: "sch", State: StateLobby, QuestionCount: 2, Seq: 0}
	return Room{Session: sess, Players: []Player{{UserID: "u1", Name: "A", Joined: true}}}, qs
}

func TestApplyPlaysASession(t *testing.T) {
	room, qs := applyFixture()
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	by := Actor{UserID: "teacher", App: AppWhiteboard}

	tr, err := Apply(room, qs, CommandStart, by, t0)
	if err != nil || !tr.Started || tr.Session.State != StateRunning || tr.Session.Seq != 1 || tr.FirstSeq != 1 {
		t.Fatalf("start: %+v %v", tr, err)
	}
	if _, err := Apply(Room{Session: tr.Session}, qs, CommandStart, by, t0); !errors.Is(err, ErrConflict) {
		t.Fatalf("second start: %v, want conflict", err)
	}

	room.Session = tr.Session
	tr, err = Apply(room, qs, CommandNext, by, t0)
	if err != nil || tr.Opened == nil || tr.Closed != nil || tr.Session.Seq != 2 || *tr.Session.CurrentIndex != 0 {
		t.Fatalf("first next: %+v %v", tr, err)
	}
	if !tr.Opened.Deadline.Equal(t0.Add(20*time.Second)) || tr.Current != tr.Opened || len(tr.Events) != 1 {
		t.Fatalf("first next opened %+v, events %v", tr.Opened, tr.Events)
	}

	// The store reads the open question back by id and index.
	room.Session = tr.Session
	room.Current = &RunQuestion{Question: Question{ID: "q0", Index: 0}, OpenedAt: t0, Deadline: t0.Add(20 * time.Second)}
	room.Players[0].Answer = answered(1000, yes(), "a")
	room.Players[0].Score = 1000

	// Not due yet: close_due changes nothing.
	tr, err = Apply(room, qs, CommandCloseDue, Actor{App: AppServer}, t0.Add(19*time.Second))
	if err != nil || tr.Changed() {
		t.Fatalf("close_due before the deadline: %+v %v", tr, err)
	}
	due, err := Apply(room, qs, CommandCloseDue, Actor{App: AppServer}, t0.Add(20*time.Second))
	if err != nil || due.Closed == nil || !due.Closed.Due || due.Broadcasts() != 2 || due.Session.Seq != 4 {
		t.Fatalf("close_due at the deadline: %+v %v", due, err)
	}

	t1 := t0.Add(5 * time.Second)
	tr, err = Apply(room, qs, CommandNext, by, t1)
	if err != nil || tr.Closed == nil || tr.Opened == nil || tr.Broadcasts() != 3 || tr.Session.Seq != 5 || tr.ClosedIndex != 0 {
		t.Fatalf("next with a question open: %+v %v", tr, err)
	}
	if tr.Closed.Question.Text != qs[0].Text || tr.Closed.Answered != 1 || tr.Opened.Question.ID != "q1" || tr.Current.Question.ID != "q1" {
		t.Fatalf("next closed %+v opened %+v", tr.Closed, tr.Opened)
	}
	if len(tr.Events) != 2 || tr.Events[0].Name != EventQuestionClosed || tr.Events[1].Name != EventQuestionDisplayed {
		t.Fatalf("events %v", tr.Events)
	}

	// The last question is open: no next; close; then end.
	room.Session = tr.Session
	room.Current = &RunQuestion{Question: Question{ID: "q1", Index: 1}, OpenedAt: t1, Deadline: t1.Add(20 * time.Second)}
	if _, err := Apply(room, qs, CommandNext, by, t1); !errors.Is(err, ErrConflict) {
		t.Fatalf("next past the last question: %v, want conflict", err)
	}
	tr, err = Apply(room, qs, CommandClose, by, t1)
	if err != nil || tr.Closed == nil || tr.Current.ClosedAt == nil {
		t.Fatalf("close: %+v %v", tr, err)
	}
	room.Session, room.Current = tr.Session, tr.Current
	if _, err := Apply(room, qs, CommandClose, by, t1); !errors.Is(err, ErrConflict) {
		t.Fatalf("close with nothing open: %v, want conflict", err)
	}
	tr, err = Apply(room, qs, CommandEnd, by, t1)
	if err != nil || !tr.Ended || tr.Closed != nil || tr.Session.State != StateEnded || tr.Broadcasts() != 1 {
		t.Fatalf("end: %+v %v", tr, err)
	}
	if tr.Events[0].Data["questions_run"] != 2 {
		t.Fatalf("end event %v", tr.Events[0])
	}
	if _, err := Apply(Room{Session: tr.Session}, qs, CommandEnd, by, t1); !errors.Is(err, ErrConflict) {
		t.Fatalf("second end: %v, want conflict", err)
	}
	if _, err := Apply(room, qs, Command("dance"), by, t1); err == nil {
		t.Fatal("unknown command accepted")
	}
}

func TestApplyEndClosesTheOpenQuestion(t *testing.T) {
	room, qs := applyFixture()
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	idx := 0
	room.Session.State, room.Session.CurrentIndex, room.Session.Seq = StateRunning, &idx, 2
	room.Current = &RunQuestion{Question: Question{ID: "q0"}, OpenedAt: t0, Deadline: t0.Add(time.Minute)}
	tr, err := Apply(room, qs, CommandEnd, Actor{UserID: "t", App: AppWhiteboard}, t0)
	if err != nil || tr.Closed == nil || !tr.Ended || tr.FirstSeq != 3 || tr.Session.Seq != 5 {
		t.Fatalf("end with a question open: %+v %v", tr, err)
	}
	room.Current.Question.ID = "elsewhere"
	if _, err := Apply(room, qs, CommandEnd, Actor{}, t0); err == nil {
		t.Fatal("a current question outside the quiz version was accepted")
	}
}

package live

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/protocol"
	"github.com/quizcast/quizcast/internal/quiz"
)

// A next with a question open: question.closed, leaderboard and
// question.opened, each encoded once with consecutive seqs, and a result
// for every participant.
func TestBroadcastsOfANext(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	qs := []quiz.Question{
		{ID: "q0", Index: 0, Kind: quiz.KindSingle, Correct: []string{"a"}, TimeLimitS: 20, Points: 1000, Options: []quiz.Option{{ID: "a"}, {ID: "b"}}},
		{ID: "q1", Index: 1, Kind: quiz.KindPoll, TimeLimitS: 30, Points: 0, Options: []quiz.Option{{ID: "x"}}},
	}
	idx := 0
	yes := true
	room := quiz.Room{
		Session: quiz.Session{ID: "s", State: quiz.StateRunning, Seq: 7, CurrentIndex: &idx, QuestionCount: 2},
		Current: &quiz.RunQuestion{Question: quiz.Question{ID: "q0"}, OpenedAt: t0, Deadline: t0.Add(20 * time.Second)},
		Players: []quiz.Player{
			{UserID: "u1", Name: "A", Joined: true, Score: 900, Answer: &quiz.PlayerAnswer{Choices: []string{"a"}, Correct: &yes, Points: 900}},
			{UserID: "u2", Name: "B", Joined: true},
		},
	}
	decide := Decide(func(quiz.Session) ([]quiz.Question, error) { return qs, nil }, quiz.CommandNext,
		quiz.Actor{UserID: "t", App: quiz.AppWhiteboard}, t0.Add(5*time.Second))
	tr, bs, err := decide(room)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{protocol.TypeQuestionClosed, protocol.TypeLeaderboard, protocol.TypeQuestionOpened}
	if len(bs) != len(want) || tr.Session.Seq != 10 {
		t.Fatalf("%d broadcasts, session seq %d; want 3 and 10", len(bs), tr.Session.Seq)
	}
	for i, b := range bs {
		p, err := protocol.ParseBroadcast(b.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if b.Type != want[i] || b.Seq != int64(8+i) || p.Seq != b.Seq || p.Type != b.Type {
			t.Fatalf("broadcast %d: %s seq %d (parsed %s %d), want %s seq %d", i, b.Type, b.Seq, p.Type, p.Seq, want[i], 8+i)
		}
	}
	if !bs[2].Deadline.Equal(t0.Add(35 * time.Second)) {
		t.Fatalf("opened deadline %v", bs[2].Deadline)
	}
	env := envelope(postgres.Committed{Transition: tr, Broadcasts: bs})
	if len(env.Results) != 2 {
		t.Fatalf("results for %d, want 2", len(env.Results))
	}
	var f protocol.Frame
	var r protocol.Result
	if err := json.Unmarshal(env.Results["u2"], &f); err != nil || f.Type != protocol.TypeResult {
		t.Fatalf("u2's result frame %s: %v", env.Results["u2"], err)
	}
	if err := json.Unmarshal(f.Data, &r); err != nil || r.Correct == nil || *r.Correct || r.Rank != 2 || r.QuestionID != "q0" {
		t.Fatalf("u2's result %+v %v", r, err)
	}
	snap := protocol.SnapshotOf(tr.Session, tr.Current, tr.Participants)
	if snap.Seq != 10 || snap.Participants != 2 || snap.CurrentQuestion == nil || snap.CurrentQuestion.ID != "q1" || snap.CurrentQuestion.Closed {
		t.Fatalf("snapshot %+v", snap)
	}
}

// A refused command and a close_due with nothing due encode nothing.
func TestDecideRefusesAndIdles(t *testing.T) {
	qs := func(quiz.Session) ([]quiz.Question, error) { return nil, nil }
	now := time.Now()
	if _, bs, err := Decide(qs, quiz.CommandClose, quiz.Actor{}, now)(quiz.Room{Session: quiz.Session{State: quiz.StateLobby}}); err == nil || bs != nil {
		t.Fatalf("close in the lobby: %v %v", bs, err)
	}
	tr, bs, err := Decide(qs, quiz.CommandCloseDue, quiz.Actor{}, now)(quiz.Room{Session: quiz.Session{State: quiz.StateRunning}})
	if err != nil || bs != nil || tr.Changed() {
		t.Fatalf("close_due with nothing open: %+v %v %v", tr, bs, err)
	}
}

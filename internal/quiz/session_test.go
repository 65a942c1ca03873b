package quiz

import (
	"errors"
	"testing"
	"time"
)

func question(kind Kind, correct ...string) Question {
	return Question{ID: "q", Kind: kind, TimeLimitS: 20, Points: 1000, Correct: correct,
		Options: []Option{{ID: "a"}, {ID: "b"}, {ID: "c"}}}
}

func TestNormalizeChoices(t *testing.T) {
	tests := []struct {
		name    string
		q       Question
		choices []string
		want    []string
		err     error
	}{
		{"single one", question(KindSingle, "a"), []string{"b"}, []string{"b"}, nil},
		{"single two", question(KindSingle, "a"), []string{"a", "b"}, nil, ErrInvalidChoice},
		{"true_false two", question(KindTrueFalse, "a"), []string{"a", "b"}, nil, ErrInvalidChoice},
		{"empty", question(KindMulti, "a"), nil, nil, ErrInvalidChoice},
		{"unknown option", question(KindMulti, "a"), []string{"z"}, nil, ErrInvalidChoice},
		{"duplicate", question(KindMulti, "a"), []string{"a", "a"}, nil, ErrInvalidChoice},
		{"multi sorted", question(KindMulti, "a", "c"), []string{"c", "a"}, []string{"a", "c"}, nil},
		{"poll", question(KindPoll), []string{"c"}, []string{"c"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeChoices(tt.q, tt.choices)
			if !errors.Is(err, tt.err) && !(err == nil && tt.err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestScore(t *testing.T) {
	tests := []struct {
		name    string
		q       Question
		choices []string
		elapsed time.Duration
		correct *bool
		points  int
	}{
		{"instant", question(KindSingle, "a"), []string{"a"}, 0, ptr(true), 1000},
		{"half time", question(KindSingle, "a"), []string{"a"}, 10 * time.Second, ptr(true), 750},
		{"at limit", question(KindSingle, "a"), []string{"a"}, 20 * time.Second, ptr(true), 500},
		{"rounding", question(KindSingle, "a"), []string{"a"}, 3333 * time.Millisecond, ptr(true), 917},
		{"wrong", question(KindSingle, "a"), []string{"b"}, 0, ptr(false), 0},
		{"multi exact", question(KindMulti, "a", "c"), []string{"a", "c"}, 0, ptr(true), 1000},
		{"multi subset", question(KindMulti, "a", "c"), []string{"a"}, 0, ptr(false), 0},
		{"multi superset", question(KindMulti, "a", "c"), []string{"a", "b", "c"}, 0, ptr(false), 0},
		{"poll", question(KindPoll), []string{"a"}, 0, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, p := Score(tt.q, tt.choices, tt.elapsed)
			if (c == nil) != (tt.correct == nil) || (c != nil && *c != *tt.correct) || p != tt.points {
				t.Fatalf("Score = %v %d, want %v %d", deref(c), p, deref(tt.correct), tt.points)
			}
		})
	}
}

func TestRank(t *testing.T) {
	got := Rank([]Standing{
		{UserID: "1", Name: "Dan", Score: 500},
		{UserID: "2", Name: "Ann", Score: 900},
		{UserID: "3", Name: "Cid", Score: 500},
		{UserID: "4", Name: "Bob", Score: 100},
		{UserID: "5", Name: "Eve", Score: 0},
	})
	want := []struct {
		name string
		rank int
	}{{"Ann", 1}, {"Cid", 2}, {"Dan", 2}, {"Bob", 4}, {"Eve", 5}}
	for i, w := range want {
		if got[i].Name != w.name || got[i].Rank != w.rank {
			t.Fatalf("position %d: got %s rank %d, want %s rank %d", i, got[i].Name, got[i].Rank, w.name, w.rank)
		}
	}
}

func TestSessionTransitions(t *testing.T) {
	idx := func(i int) *int { return &i }
	if err := CheckStart(StateRunning); !errors.Is(err, ErrConflict) {
		t.Fatalf("start while running: %v", err)
	}
	if err := CheckNext(Session{State: StateLobby, QuestionCount: 2}); !errors.Is(err, ErrConflict) {
		t.Fatalf("next in lobby: %v", err)
	}
	if err := CheckNext(Session{State: StateRunning, QuestionCount: 2, CurrentIndex: idx(1)}); !errors.Is(err, ErrConflict) {
		t.Fatalf("next after last: %v", err)
	}
	if err := CheckNext(Session{State: StateRunning, QuestionCount: 2, CurrentIndex: idx(0)}); err != nil {
		t.Fatalf("next: %v", err)
	}
	if err := CheckEnd(StateEnded); !errors.Is(err, ErrConflict) {
		t.Fatalf("end twice: %v", err)
	}
}

func ptr(b bool) *bool { return &b }

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

package quiz

import (
	"math"
	"slices"
	"sort"
	"time"
)

// State is a live session's state.
type State string

// Session states: lobby → running → ended.
const (
	StateLobby   State = "lobby"
	StateRunning State = "running"
	StateEnded   State = "ended"
)

// Session is a live run of one quiz version in one classroom.
type Session struct {
	ID            string
	SchoolID      string
	ClassroomID   string
	QuizID        string
	QuizVersion   int
	TeacherID     string
	State         State
	Seq           int64
	CurrentIndex  *int
	QuestionCount int
	CreatedAt     time.Time
	StartedAt     *time.Time
	EndedAt       *time.Time
}

// RunQuestion is a question as run in a session: when it opened, its
// deadline and whether it closed.
type RunQuestion struct {
	Question Question
	OpenedAt time.Time
	Deadline time.Time
	ClosedAt *time.Time
}

// CheckStart says whether a session in s may start.
func CheckStart(s State) error {
	if s != StateLobby {
		return Errorf(CodeConflict, "the session is %s; only a session in the lobby can start", s)
	}
	return nil
}

// CheckNext says whether the next question can open: the session must be
// running and a question must remain.
func CheckNext(s Session) error {
	if s.State != StateRunning {
		return Errorf(CodeConflict, "the session is %s; questions open only while it runs", s.State)
	}
	next := 0
	if s.CurrentIndex != nil {
		next = *s.CurrentIndex + 1
	}
	if next >= s.QuestionCount {
		return Errorf(CodeConflict, "no question left after question %d", next-1)
	}
	return nil
}

// CheckEnd says whether a session can end.
func CheckEnd(s State) error {
	if s == StateEnded {
		return Errorf(CodeConflict, "the session has already ended")
	}
	return nil
}

// NormalizeChoices validates choices against q and returns them sorted.
// Options must belong to q, appear once, and number exactly one for single
// and true_false questions, at least one otherwise.
func NormalizeChoices(q Question, choices []string) ([]string, error) {
	if len(choices) == 0 {
		return nil, ErrInvalidChoice
	}
	if (q.Kind == KindSingle || q.Kind == KindTrueFalse) && len(choices) != 1 {
		return nil, ErrInvalidChoice
	}
	out := slices.Clone(choices)
	sort.Strings(out)
	for i, c := range out {
		if i > 0 && out[i-1] == c {
			return nil, ErrInvalidChoice
		}
		if !slices.ContainsFunc(q.Options, func(o Option) bool { return o.ID == c }) {
			return nil, ErrInvalidChoice
		}
	}
	return out, nil
}

// SameChoices reports whether a and b hold the same set of option ids.
func SameChoices(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

// Score returns whether sorted choices answer q correctly (nil for a poll)
// and the points earned after elapsed: round(points × (1 − 0.5 × elapsed /
// time_limit)) for a correct answer, 0 otherwise.
func Score(q Question, sortedChoices []string, elapsed time.Duration) (*bool, int) {
	if q.Kind == KindPoll {
		return nil, 0
	}
	correct := SameChoices(sortedChoices, q.Correct)
	if !correct {
		return &correct, 0
	}
	limit := time.Duration(q.TimeLimitS) * time.Second
	frac := float64(max(elapsed, 0)) / float64(limit)
	frac = min(frac, 1)
	return &correct, int(math.Round(float64(q.Points) * (1 - 0.5*frac)))
}

// Standing is one participant's place on the leaderboard.
type Standing struct {
	UserID string `json:"user_id"`
	Name   string `json:"name"`
	Score  int    `json:"score"`
	Rank   int    `json:"rank"`
}

// Rank orders standings by score (high first), then by name, and gives
// ties the same rank (1, 2, 2, 4).
func Rank(s []Standing) []Standing {
	out := slices.Clone(s)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].UserID < out[j].UserID
	})
	for i := range out {
		if i > 0 && out[i].Score == out[i-1].Score {
			out[i].Rank = out[i-1].Rank
		} else {
			out[i].Rank = i + 1
		}
	}
	return out
}

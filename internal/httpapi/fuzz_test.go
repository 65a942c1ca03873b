package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/quizcast/quizcast/internal/quiz"
)

// FuzzDecodeQuiz feeds arbitrary bodies through the quiz body's decoding
// and validation. It must never panic; a body it accepts must convert to a
// version whose every question keeps the rules of its kind, and render back.
func FuzzDecodeQuiz(f *testing.F) {
	seeds := []string{
		`{"title":"T","questions":[{"text":"Q","kind":"single","options":[{"text":"A"},{"text":"B"}],"correct":[0]}]}`,
		`{"title":"T","questions":[{"text":"Q","kind":"multi","options":[{"text":"A"},{"text":"B"},{"text":"C"}],"correct":[2,0],"time_limit_s":5,"points":2000}]}`,
		`{"title":"T","questions":[{"text":"Q","kind":"true_false","options":[{"text":"True"},{"text":"False"}],"correct":[1]}]}`,
		`{"title":"T","questions":[{"text":"Q","kind":"poll","options":[{"text":"A"},{"text":"B"}]}]}`,
		`{"title":"T","questions":[{"text":"Q","kind":"poll","options":[{"text":"A"},{"text":"B"}],"correct":[0],"points":3}]}`,
		`{"title":"T","questions":[{"text":"Q","kind":"single","options":[{"text":"A"}],"correct":[7,-1]}]}`,
		`{"title":"T","questions":[{"text":"Q","kind":"true_false","options":[],"correct":[0]}]}`,
		`{"title":"T","questions":[null]}`,
		`{"title":5}`, `[]`, `null`, `{"title":"T"}{}`, `{"x":1}`, ``, `{"questions":[{"points":1e400}]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	v := NewValidator()
	f.Fuzz(func(t *testing.T, body []byte) {
		var b quizBody
		err := DecodeJSON(v, body, &b)
		if err != nil {
			if _, ok := quiz.AsError(err); !ok {
				t.Fatalf("decode error outside the vocabulary: %v", err)
			}
			return
		}
		q := b.toQuiz()
		for i, qu := range q.Questions {
			n := len(qu.Correct)
			switch qu.Kind {
			case quiz.KindSingle, quiz.KindTrueFalse:
				if n != 1 {
					t.Fatalf("question %d (%s) accepted with %d correct", i, qu.Kind, n)
				}
			case quiz.KindMulti:
				if n < 1 {
					t.Fatalf("question %d (multi) accepted with no correct", i)
				}
			case quiz.KindPoll:
				if n != 0 || qu.Points != 0 {
					t.Fatalf("poll %d accepted with correct %v, points %d", i, qu.Correct, qu.Points)
				}
			}
			if len(qu.Options) < 2 || len(qu.Options) > 6 || qu.TimeLimitS < 5 || qu.TimeLimitS > 300 {
				t.Fatalf("question %d accepted out of bounds: %+v", i, qu)
			}
		}
		if _, err := json.Marshal(toQuiz(q)); err != nil {
			t.Fatalf("render: %v", err)
		}
	})
}

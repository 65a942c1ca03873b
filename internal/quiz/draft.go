package quiz

import (
	"slices"

	"github.com/google/uuid"
)

// NewQuestion builds a question of a new quiz version from what a teacher
// wrote: the question and each option get a fresh id (ids are never shared
// between versions) and correct, given as option indexes (each valid), is
// turned into option ids in option order.
func NewQuestion(text string, kind Kind, options []string, correct []int, timeLimitS, points int) Question {
	q := Question{ID: uuid.NewString(), Text: text, Kind: kind, TimeLimitS: timeLimitS, Points: points,
		Options: make([]Option, len(options)), Correct: make([]string, 0, len(correct))}
	for i, o := range options {
		q.Options[i] = Option{ID: uuid.NewString(), Text: o}
	}
	idx := slices.Clone(correct)
	slices.Sort(idx)
	for _, i := range idx {
		q.Correct = append(q.Correct, q.Options[i].ID)
	}
	return q
}

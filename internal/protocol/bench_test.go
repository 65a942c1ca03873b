package protocol_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/quizcast/quizcast/internal/protocol"
	"github.com/quizcast/quizcast/internal/quiz"
)

func questionOpened() protocol.QuestionOpened {
	now := time.Now()
	return protocol.QuestionOpened{
		Question: protocol.PublicQuestion{ID: "0b9e2f4c-54a4-4d0e-9a53-2f7a4f1f5f21", Index: 3,
			Text: "Which planet is known as the red planet?", Kind: quiz.KindSingle,
			Options: []quiz.Option{
				{ID: "5a3c1d1e-0c6b-4f8e-8a34-1d2c3b4a5f61", Text: "Venus"},
				{ID: "6b4d2e2f-1d7c-4a9f-9b45-2e3d4c5b6a72", Text: "Mars"},
				{ID: "7c5e3f3a-2e8d-4bab-8c56-3f4e5d6c7b83", Text: "Jupiter"},
				{ID: "8d6f4a4b-3f9e-4cbc-9d67-4a5f6e7d8c94", Text: "Saturn"},
			},
			TimeLimitS: 20, Points: 1000},
		OpenedAt: quiz.Time(now), Deadline: quiz.Time(now.Add(20 * time.Second)),
	}
}

// BenchmarkEncodeQuestionOpened encodes a question.opened broadcast once,
// as the command that commits it does; every node then sends these bytes.
func BenchmarkEncodeQuestionOpened(b *testing.B) {
	data := questionOpened()
	b.ReportAllocs()
	var size int
	for b.Loop() {
		f, err := protocol.EncodeBroadcast(protocol.TypeQuestionOpened, 42, data)
		if err != nil {
			b.Fatal(err)
		}
		size = len(f.Raw)
	}
	b.ReportMetric(float64(size), "bytes/frame")
}

// BenchmarkUnmarshalAnswer decodes a student's answer frame: the envelope,
// then its data, as a socket's reader does for every answer.
func BenchmarkUnmarshalAnswer(b *testing.B) {
	raw := []byte(`{"type":"answer","id":"a-3","data":{"question_id":"0b9e2f4c-54a4-4d0e-9a53-2f7a4f1f5f21","choices":["6b4d2e2f-1d7c-4a9f-9b45-2e3d4c5b6a72"]}}`)
	b.ReportAllocs()
	for b.Loop() {
		var f protocol.Frame
		if err := json.Unmarshal(raw, &f); err != nil {
			b.Fatal(err)
		}
		var a protocol.AnswerCommand
		if err := json.Unmarshal(f.Data, &a); err != nil {
			b.Fatal(err)
		}
		if f.Type != protocol.TypeClientAnswer || len(a.Choices) != 1 {
			b.Fatal("decoded wrong")
		}
	}
}

package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/testenv"
)

// BenchmarkAnswerWriter writes answers through the group commit from many
// concurrent students (256 goroutines per core, like sockets of a node),
// against the real PostgreSQL: each Write returns once its batch has
// committed, so answers/s is durable answers per second.
func BenchmarkAnswerWriter(b *testing.B) {
	pool, _ := testenv.Database(b)
	ctx := context.Background()
	now := time.Now().UTC()
	f := seed(b, pool, now)
	if _, err := pool.Exec(ctx, `INSERT INTO session_questions (school_id, session_id, idx, question_id, opened_at, deadline)
		VALUES ($1, $2, 0, $3, $4, $5)`, f.school, f.session, f.question, now, now.Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	// The node's configuration (internal/node).
	w := postgres.NewAnswerWriter(pool, slog.New(slog.NewTextHandler(io.Discard, nil)), postgres.AnswerWriterConfig{Linger: time.Millisecond})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	defer func() { stop(); <-done }()
	correct := true

	b.ReportAllocs()
	b.SetParallelism(256)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			got, err := w.Write(ctx, postgres.Answer{
				ID: uuid.NewString(), SchoolID: f.school, SessionID: f.session, SessionCreatedAt: f.sessionCreated,
				ClassroomID: f.classroom, QuizID: f.quiz, QuestionID: f.question, QuestionIdx: 0,
				StudentID: uuid.NewString(), Choices: []string{"a"}, Correct: &correct, Points: 900,
				ReceivedAt: time.Now().UTC(), ResponseMs: 1200, App: quiz.AppNotebook,
			})
			if err != nil {
				b.Error(err)
				return
			}
			if got.Outcome != postgres.Accepted {
				b.Errorf("outcome %v", got.Outcome)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "answers/s")
}

package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/testenv"
)

// answerStudents is how many enrolled students the benchmark's answers
// come from; each answers every open question once.
const answerStudents = 1000

// BenchmarkAnswerWriter writes answers through the group commit from
// concurrent students against the real PostgreSQL, on the answer pool as
// the server opens it (four connections, generic plans) with the node's
// default linger: each Write returns once its batch has committed, so
// answers/s is durable answers per second. pg-µs/answer is the CPU the
// pool's backends spent per answer (from /proc/<pid>/schedstat),
// background tables as in BenchmarkCommand. With 512 students (256
// goroutines per core, like sockets of a node) batches are full; with 4 they
// hold one or two answers, as at a few hundred answers a second, so
// pg-µs/answer there is mostly the fixed cost of a batch.
func BenchmarkAnswerWriter(b *testing.B) {
	for _, perCore := range []int{256, 2} {
		b.Run(fmt.Sprintf("students=%d", perCore*runtime.GOMAXPROCS(0)), func(b *testing.B) { benchmarkAnswers(b, perCore) })
	}
}

func benchmarkAnswers(b *testing.B, perCore int) {
	pool, url := testenv.Database(b)
	ctx := context.Background()
	background(b, pool)
	f := seed(b, pool, time.Now().UTC())
	var students []string
	if err := pool.QueryRow(ctx, `
		WITH u AS (
			INSERT INTO users (school_id, name, email, password_hash, role)
			SELECT $1, 'A' || i, 'a' || i || '-' || $3 || '@x.org', 'x', 'student' FROM generate_series(1, $4::int) AS i RETURNING id
		), e AS (
			INSERT INTO enrolments (school_id, classroom_id, student_id) SELECT $1, $2, id FROM u
		)
		SELECT array_agg(id::text) FROM u`, f.school, f.classroom, testenv.RandomID(), answerStudents).Scan(&students); err != nil {
		b.Fatal(err)
	}
	// Enough open questions for b.N answers.
	var questions []string
	if err := pool.QueryRow(ctx, `
		WITH q AS (
			INSERT INTO questions (school_id, quiz_id, quiz_version, idx, text, kind, options, correct, time_limit_s, points)
			SELECT school_id, quiz_id, quiz_version, i, text, kind, options, correct, time_limit_s, points
			FROM questions, generate_series(1, $3::int) AS i WHERE quiz_id = $2 AND idx = 0 RETURNING id, idx
		), sq AS (
			INSERT INTO session_questions (school_id, session_id, idx, question_id, opened_at, deadline)
			SELECT $1, $4, idx, id, now(), now() + interval '1 hour' FROM q
		)
		SELECT array_agg(id::text ORDER BY idx) FROM q`, f.school, f.quiz, b.N/answerStudents+1, f.session).Scan(&questions); err != nil {
		b.Fatal(err)
	}
	answers, err := postgres.ConnectAnswers(ctx, url, 4)
	if err != nil {
		b.Fatal(err)
	}
	defer answers.Close()
	pids := backendPIDs(b, answers, 4)
	w := postgres.NewAnswerWriter(answers, slog.New(slog.NewTextHandler(io.Discard, nil)), postgres.AnswerWriterConfig{Linger: 5 * time.Millisecond})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	defer func() { stop(); <-done }()
	correct := true
	var next atomic.Int64
	before := onCPUAll(b, pids)

	b.ReportAllocs()
	b.SetParallelism(perCore)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1) - 1)
			got, err := w.Write(ctx, postgres.Answer{
				ID: uuid.NewString(), SchoolID: f.school, SessionID: f.session, SessionCreatedAt: f.sessionCreated,
				ClassroomID: f.classroom, QuizID: f.quiz, QuestionID: questions[i/answerStudents], QuestionIdx: i / answerStudents,
				StudentID: students[i%answerStudents], Choices: []string{"a"}, Correct: &correct, Points: 900,
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
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "answers/s")
	b.ReportMetric(float64((onCPUAll(b, pids)-before).Microseconds())/float64(b.N), "pg-µs/answer")
}

// backendPIDs opens the pool's n connections and returns their backends'
// process ids.
func backendPIDs(b *testing.B, pool *pgxpool.Pool, n int) []int {
	b.Helper()
	var pids []int
	for range n {
		c, err := pool.Acquire(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Release()
		var pid int
		if err := c.QueryRow(context.Background(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			b.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// onCPUAll sums onCPU over pids.
func onCPUAll(b *testing.B, pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		sum += onCPU(b, pid)
	}
	return sum
}

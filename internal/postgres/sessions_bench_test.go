package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/live"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/testenv"
)

// BenchmarkCommand runs a teacher's `next` with a question open (close,
// score, rank, open the next) in a room of 30 joined students, one command
// after the other on one connection, and reports what PostgreSQL's backend
// of that connection spent on it: pg-µs/op is its CPU time per command
// (from /proc/<pid>/schedstat, so a busy machine lengthens ns/op but not
// pg-µs/op). "answered" has every student answer each question before it
// closes (through the answer writer, outside the timing and outside the
// measured backend).
func BenchmarkCommand(b *testing.B) {
	for _, answered := range []bool{false, true} {
		name := "quiet"
		if answered {
			name = "answered"
		}
		b.Run(name, func(b *testing.B) { benchmarkNext(b, answered) })
	}
}

// roomQuestions is the length of a quiz in the benchmark: the close sums
// every answer of the session so far, so the session's length matters.
const roomQuestions = 20

func benchmarkNext(b *testing.B, answered bool) {
	pool, url := testenv.Database(b)
	ctx := context.Background()
	w := startWriter(b, pool)
	// The command's own pool: one connection, as the server opens it.
	measured, err := postgres.Connect(ctx, url, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer measured.Close()
	pid := backendPIDs(b, measured, 1)[0]
	background(b, pool)
	store := postgres.NewSessionStore(measured, nil)
	var (
		f         fixture
		students  []string
		current   quiz.Session
		question  string
		questions func(quiz.Session) ([]quiz.Question, error)
		cpu       time.Duration
	)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%(roomQuestions-1) == 0 {
			b.StopTimer()
			f, students, current = room(b, pool)
			question = f.question
			qs, err := store.Questions(ctx, f.school, f.quiz, 1)
			if err != nil {
				b.Fatal(err)
			}
			questions = func(quiz.Session) ([]quiz.Question, error) { return qs, nil }
			b.StartTimer()
		}
		if answered {
			b.StopTimer()
			for j, s := range students {
				a := answer(f, current, s, "ab"[j%2:j%2+1])
				a.QuestionID, a.QuestionIdx = question, *current.CurrentIndex
				if _, err := w.Write(ctx, a); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
		before := onCPU(b, pid)
		c, err := store.Command(ctx, f.key(), live.Decide(questions, quiz.CommandNext, quiz.Actor{UserID: f.teacher, App: quiz.AppWhiteboard}, time.Now().UTC()))
		cpu += onCPU(b, pid) - before
		if err != nil {
			b.Fatal(err)
		}
		if c.Transition.Closed == nil || c.Transition.Opened == nil {
			b.Fatalf("next %d closed %v opened %v", i, c.Transition.Closed != nil, c.Transition.Opened != nil)
		}
		current, question = c.Transition.Session, c.Transition.Opened.Question.ID
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "pg-µs/op")
}

// background gives the tables the rows of 300 other sessions, each of 20
// questions answered by its 30 students (180,000 answers), and 20,000
// other students enrolled, over 24 months of partitions, analyzed, so
// that PostgreSQL plans the command's statements as it does at scale, not
// as over near-empty tables.
func background(b *testing.B, pool *pgxpool.Pool) {
	ctx := context.Background()
	// The monthly partitions of RETENTION_MONTHS' steady state.
	if _, err := pool.Exec(ctx, `SELECT quizcast_ensure_partitions(now() - interval '24 months', now())`); err != nil {
		b.Fatal(err)
	}
	f, students, sess := room(b, pool)
	if _, err := pool.Exec(ctx, `
		WITH s AS (
			INSERT INTO sessions (school_id, classroom_id, quiz_id, quiz_version, teacher_id, question_count, created_at, state, current_index, started_at, ended_at)
			SELECT $1, $2, $3, 1, $4, 20, $5, 'ended', 19, $5, $5 FROM generate_series(1, 300) RETURNING id, created_at
		), q AS (
			SELECT id, idx FROM questions WHERE quiz_id = $3
		), sq AS (
			INSERT INTO session_questions (school_id, session_id, idx, question_id, opened_at, deadline, closed_at)
			SELECT $1, s.id, q.idx, q.id, $5, $5, $5 FROM s, q
		), p AS (
			INSERT INTO session_participants (school_id, session_id, student_id, joined_at)
			SELECT $1, s.id, st, $5 FROM s, unnest($6::text[]::uuid[]) AS st
		)
		INSERT INTO answers (school_id, session_id, session_created_at, classroom_id, quiz_id,
			question_id, question_idx, student_id, choices, correct, points, received_at, response_ms)
		SELECT $1, s.id, s.created_at, $2, $3, q.id, q.idx, st, '{a}', true, 500, s.created_at, 1000
		FROM s, q, unnest($6::text[]::uuid[]) AS st`,
		f.school, f.classroom, f.quiz, f.teacher, sess.CreatedAt, students); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		WITH u AS (
			INSERT INTO users (school_id, name, email, password_hash, role)
			SELECT $1, 'S' || i, 'bg' || i || '@x.org', 'x', 'student' FROM generate_series(1, 20000) AS i RETURNING id
		)
		INSERT INTO enrolments (school_id, classroom_id, student_id) SELECT $1, $2, id FROM u`, f.school, f.classroom); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

// room seeds a running session of roomQuestions questions with its first
// open and 30 students joined.
func room(b *testing.B, pool *pgxpool.Pool) (fixture, []string, quiz.Session) {
	ctx := context.Background()
	f, students, sess := running(b, pool, 30)
	if _, err := pool.Exec(ctx, `INSERT INTO questions (school_id, quiz_id, quiz_version, idx, text, kind, options, correct, time_limit_s, points)
		SELECT school_id, quiz_id, quiz_version, i, text, kind, options, correct, time_limit_s, points
		FROM questions, generate_series(1, $2::int - 1) AS i WHERE quiz_id = $1 AND idx = 0`, f.quiz, roomQuestions); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE sessions SET question_count = $2 WHERE id = $1`, f.session, roomQuestions); err != nil {
		b.Fatal(err)
	}
	setup := postgres.NewSessionStore(pool, nil)
	for _, s := range students {
		if _, _, err := setup.Join(ctx, sess, s, time.Now().UTC()); err != nil {
			b.Fatal(err)
		}
	}
	return f, students, sess
}

// onCPU is the time process pid has run on a CPU (nanoseconds, the first
// field of /proc/<pid>/schedstat). PostgreSQL must run on this machine.
func onCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		b.Fatalf("PostgreSQL's backend must run on this machine: %v", err)
	}
	ns, err := strconv.ParseInt(strings.Fields(string(raw))[0], 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return time.Duration(ns)
}

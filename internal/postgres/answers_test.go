package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/live"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/protocol"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/testenv"
)

// running seeds a session with n enrolled students, starts it and opens its
// question (options a, b; a is correct).
func running(t testing.TB, pool *pgxpool.Pool, n int) (fixture, []string, quiz.Session) {
	t.Helper()
	ctx := context.Background()
	f := seed(t, pool, time.Now().UTC())
	students := []string{f.student}
	for i := 1; i < n; i++ {
		var id string
		if err := pool.QueryRow(ctx, `INSERT INTO users (school_id, name, email, password_hash, role) VALUES ($1, $2, $3, 'x', 'student') RETURNING id`,
			f.school, fmt.Sprintf("S%03d", i), fmt.Sprintf("s%d-%s@x.org", i, testenv.RandomID())).Scan(&id); err != nil {
			t.Fatal(err)
		}
		students = append(students, id)
	}
	for _, s := range students {
		if _, err := pool.Exec(ctx, `INSERT INTO enrolments (school_id, classroom_id, student_id) VALUES ($1, $2, $3)`, f.school, f.classroom, s); err != nil {
			t.Fatal(err)
		}
	}
	store := postgres.NewSessionStore(pool, nil)
	if _, err := command(store, f, quiz.CommandStart); err != nil {
		t.Fatal(err)
	}
	c, err := command(store, f, quiz.CommandNext)
	if err != nil {
		t.Fatal(err)
	}
	return f, students, c.Transition.Session
}

// command runs a teacher's command through the store with the rules and
// encoding of the live service.
func command(store *postgres.SessionStore, f fixture, cmd quiz.Command) (postgres.Committed, error) {
	ctx := context.Background()
	questions := func(s quiz.Session) ([]quiz.Question, error) {
		return store.Questions(ctx, s.SchoolID, s.QuizID, s.QuizVersion)
	}
	by := quiz.Actor{UserID: f.teacher, App: quiz.AppWhiteboard}
	return store.Command(ctx, f.key(), live.Decide(questions, cmd, by, time.Now().UTC().Truncate(time.Millisecond)))
}

func answer(f fixture, sess quiz.Session, student string, choice string) postgres.Answer {
	ok := choice == "a"
	return postgres.Answer{ID: uuid.NewString(), SchoolID: f.school, SessionID: f.session, SessionCreatedAt: sess.CreatedAt,
		ClassroomID: f.classroom, QuizID: f.quiz, QuestionID: f.question, StudentID: student, Choices: []string{choice},
		Correct: &ok, Points: 500, ReceivedAt: time.Now().UTC(), ResponseMs: 10, App: quiz.AppNotebook}
}

func startWriter(t testing.TB, pool *pgxpool.Pool) *postgres.AnswerWriter {
	t.Helper()
	// The answer pool as the server opens it (generic plans).
	answers, err := postgres.ConnectAnswers(context.Background(), pool.Config().ConnString(), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(answers.Close)
	w := postgres.NewAnswerWriter(answers, slog.New(slog.NewTextHandler(io.Discard, nil)), postgres.AnswerWriterConfig{Linger: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func TestAnswerOutcomes(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	f, students, sess := running(t, pool, 3)
	w := startWriter(t, pool)

	first, err := w.Write(ctx, answer(f, sess, students[0], "a"))
	if err != nil || first.Outcome != postgres.Accepted {
		t.Fatalf("first answer: %+v %v", first, err)
	}
	again, err := w.Write(ctx, answer(f, sess, students[0], "b"))
	if err != nil || again.Outcome != postgres.Existing || again.AnswerID != first.AnswerID || again.Choices[0] != "a" {
		t.Fatalf("second answer: %+v %v, want the first one back", again, err)
	}
	// A kicked student's answer is refused by the database itself.
	if _, err := postgres.NewSessionStore(pool, nil).Kick(ctx, sess, students[1], time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	kicked, err := w.Write(ctx, answer(f, sess, students[1], "a"))
	if err != nil || kicked.Outcome != postgres.Kicked {
		t.Fatalf("kicked student's answer: %+v %v, want Kicked", kicked, err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM answers WHERE session_id = $1`, f.session).Scan(&n); err != nil || n != 1 {
		t.Fatalf("answers stored: %d %v, want 1", n, err)
	}
}

// A student removed from the session's classroom is refused by the
// database like a kicked one, in a batch with an enrolled student's answer;
// Unenrol names the classroom's session that is not over.
func TestAnswerOfUnenrolledStudentIsRefused(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	f, students, sess := running(t, pool, 3)
	w := startWriter(t, pool)

	live, err := postgres.NewStore(pool).Unenrol(ctx, f.school, f.classroom, students[1])
	if err != nil || len(live) != 1 || live[0] != f.session {
		t.Fatalf("unenrol: %v %v, want the running session %s", live, err, f.session)
	}
	if _, err := postgres.NewStore(pool).Unenrol(ctx, f.school, f.classroom, students[1]); !errors.Is(err, quiz.ErrNotFound) {
		t.Fatalf("unenrolling again: %v, want not found", err)
	}
	var wg sync.WaitGroup
	outcomes := make([]postgres.Outcome, 2)
	for i, st := range []string{students[1], students[2]} {
		wg.Go(func() {
			got, err := w.Write(ctx, answer(f, sess, st, "a"))
			if err != nil {
				t.Error(err)
			}
			outcomes[i] = got.Outcome
		})
	}
	wg.Wait()
	if outcomes[0] != postgres.Kicked || outcomes[1] != postgres.Accepted {
		t.Fatalf("outcomes %v, want unenrolled Kicked (%d), enrolled Accepted (%d)", outcomes, postgres.Kicked, postgres.Accepted)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM answers WHERE session_id = $1 AND student_id = $2`, f.session, students[1]).Scan(&n); err != nil || n != 0 {
		t.Fatalf("unenrolled student's answers stored: %d %v, want 0", n, err)
	}
}

// TestCloseCountsEveryAcceptedAnswer races a close against a burst of
// answers, many times: no deadlock, no error, and the close counts exactly
// the answers that were acknowledged (the rest are refused closed).
func TestCloseCountsEveryAcceptedAnswer(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	w := startWriter(t, pool)
	store := postgres.NewSessionStore(pool, nil)
	for round := range 5 {
		f, students, sess := running(t, pool, 40)
		var wg sync.WaitGroup
		var mu sync.Mutex
		accepted, closedOut := 0, 0
		errs := make(chan error, len(students)+1)
		for i, s := range students {
			wg.Go(func() {
				time.Sleep(time.Duration(i%10) * time.Millisecond)
				wr, err := w.Write(ctx, answer(f, sess, s, "a"))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				defer mu.Unlock()
				switch wr.Outcome {
				case postgres.Accepted:
					accepted++
				case postgres.Closed:
					closedOut++
				default:
					errs <- fmt.Errorf("outcome %d", wr.Outcome)
				}
			})
		}
		var closed postgres.Committed
		wg.Go(func() {
			time.Sleep(5 * time.Millisecond)
			var err error
			if closed, err = command(store, f, quiz.CommandClose); err != nil {
				errs <- fmt.Errorf("close: %w", err)
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			if errors.Is(err, quiz.ErrUnavailable) {
				t.Fatalf("round %d: %v (a deadlock or serialization failure)", round, err)
			}
			t.Fatalf("round %d: %v", round, err)
		}
		var qc protocol.QuestionClosed
		for _, b := range closed.Broadcasts {
			if b.Type == protocol.TypeQuestionClosed {
				var fr protocol.Frame
				if err := json.Unmarshal(b.Raw, &fr); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(fr.Data, &qc); err != nil {
					t.Fatal(err)
				}
			}
		}
		t.Logf("round %d: %d accepted, %d closed", round, accepted, closedOut)
		if qc.Answered != accepted || accepted+closedOut != len(students) {
			t.Fatalf("round %d: close counted %d, %d were acknowledged, %d refused closed", round, qc.Answered, accepted, closedOut)
		}
	}
}

package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/testenv"
)

// fixture inserts the rows an answer hangs from and returns their ids.
type fixture struct {
	school, teacher, student, classroom, quiz, question, session string
	sessionCreated                                               time.Time
}

// key is the session as a command names it.
func (f fixture) key() quiz.Session {
	return quiz.Session{ID: f.session, SchoolID: f.school, CreatedAt: f.sessionCreated}
}

func seed(t testing.TB, pool *pgxpool.Pool, sessionCreated time.Time) fixture {
	t.Helper()
	ctx := context.Background()
	var f fixture
	f.sessionCreated = sessionCreated
	q := func(sql string, args ...any) string {
		var id string
		if err := pool.QueryRow(ctx, sql, args...).Scan(&id); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return id
	}
	f.school = q(`INSERT INTO schools (name) VALUES ('S') RETURNING id`)
	f.teacher = q(`INSERT INTO users (school_id, name, email, password_hash, role) VALUES ($1, 'T', $2, 'x', 'teacher') RETURNING id`, f.school, "t"+testenv.RandomID()+"@x.org")
	f.student = q(`INSERT INTO users (school_id, name, email, password_hash, role) VALUES ($1, 'S', $2, 'x', 'student') RETURNING id`, f.school, "s"+testenv.RandomID()+"@x.org")
	f.classroom = q(`INSERT INTO classrooms (school_id, teacher_id, name) VALUES ($1, $2, 'C') RETURNING id`, f.school, f.teacher)
	f.quiz = q(`INSERT INTO quizzes (school_id, owner_id) VALUES ($1, $2) RETURNING id`, f.school, f.teacher)
	q(`INSERT INTO quiz_versions (school_id, quiz_id, version, title) VALUES ($1, $2, 1, 'Q') RETURNING quiz_id`, f.school, f.quiz)
	f.question = q(`INSERT INTO questions (school_id, quiz_id, quiz_version, idx, text, kind, options, correct, time_limit_s, points)
		VALUES ($1, $2, 1, 0, 'q', 'single', '[{"id":"a","text":"A"},{"id":"b","text":"B"}]', '{a}', 20, 1000) RETURNING id`, f.school, f.quiz)
	f.session = q(`INSERT INTO sessions (school_id, classroom_id, quiz_id, quiz_version, teacher_id, question_count, created_at)
		VALUES ($1, $2, $3, 1, $4, 1, $5) RETURNING id`, f.school, f.classroom, f.quiz, f.teacher, sessionCreated)
	return f
}

func insertAnswer(ctx context.Context, pool *pgxpool.Pool, f fixture, partitionKey time.Time) error {
	_, err := pool.Exec(ctx, `INSERT INTO answers (school_id, session_id, session_created_at, classroom_id, quiz_id,
		question_id, question_idx, student_id, choices, correct, points, received_at, response_ms)
		VALUES ($1, $2, $3, $4, $5, $6, 0, $7, '{a}', true, 900, now(), 1200)`,
		f.school, f.session, partitionKey, f.classroom, f.quiz, f.question, f.student)
	return err
}

func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func TestOneAnswerPerStudentPerQuestion(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	now := time.Now().UTC()
	f := seed(t, pool, now)
	if err := insertAnswer(ctx, pool, f, f.sessionCreated); err != nil {
		t.Fatalf("first answer: %v", err)
	}
	t.Run("same partition key", func(t *testing.T) {
		if code := pgCode(insertAnswer(ctx, pool, f, f.sessionCreated)); code != "23505" {
			t.Fatalf("duplicate answer: want unique violation 23505, got %q", code)
		}
	})
	t.Run("another month", func(t *testing.T) {
		// A second row for the same (session, question, student) filed under
		// next month's partition is refused too: the partition key must be
		// the session's own creation time.
		next := now.AddDate(0, 1, 0)
		if code := pgCode(insertAnswer(ctx, pool, f, next)); code != "23503" {
			t.Fatalf("duplicate answer in another month: want foreign key violation 23503, got %q", code)
		}
	})
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM answers WHERE session_id = $1`, f.session).Scan(&n); err != nil || n != 1 {
		t.Fatalf("answers stored: %d (%v), want 1", n, err)
	}
}

func TestRowsLandInTheirMonthlyPartition(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	// A session created on the last millisecond of a month keeps its answers
	// in that month's partition, even when they arrive in the next.
	now := time.Now().UTC()
	created := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Millisecond)
	f := seed(t, pool, created)
	if err := insertAnswer(ctx, pool, f, created); err != nil {
		t.Fatal(err)
	}
	var part string
	if err := pool.QueryRow(ctx, `SELECT tableoid::regclass::text FROM answers WHERE session_id = $1`, f.session).Scan(&part); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("answers_%04d_%02d", created.Year(), created.Month()); part != want {
		t.Fatalf("answer in %s, want %s", part, want)
	}
	occurred := time.Date(now.Year(), now.Month()+2, 3, 10, 0, 0, 0, time.UTC)
	if _, err := pool.Exec(ctx, `INSERT INTO events (event_id, name, occurred_at, school_id, app) VALUES (gen_random_uuid(), 'quiz_created', $1, $2, 'server')`, occurred, f.school); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT tableoid::regclass::text FROM events WHERE occurred_at = $1`, occurred).Scan(&part); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("events_%04d_%02d", occurred.Year(), occurred.Month()); part != want {
		t.Fatalf("event in %s, want %s", part, want)
	}
}

func TestPartitionsAreCreatedAhead(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	now := time.Now().UTC()
	exists := func(name string) bool {
		var ok bool
		if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	month := func(m int) time.Time {
		return time.Date(now.Year(), now.Month()+time.Month(m), 1, 0, 0, 0, 0, time.UTC)
	}
	for m := 0; m <= postgres.MonthsAhead; m++ {
		for _, parent := range []string{"answers", "events"} {
			name := fmt.Sprintf("%s_%s", parent, month(m).Format("2006_01"))
			if !exists(name) {
				t.Errorf("partition %s missing after migration", name)
			}
		}
	}
	// The daily job extends the window (answers, events and audit_log:
	// two months of three tables) and is idempotent.
	far := month(postgres.MonthsAhead + 2)
	n, err := postgres.EnsurePartitions(ctx, pool, now, far)
	if err != nil || n != 6 {
		t.Fatalf("EnsurePartitions created %d (%v), want 6", n, err)
	}
	if n, err := postgres.EnsurePartitions(ctx, pool, now, far); err != nil || n != 0 {
		t.Fatalf("second EnsurePartitions created %d (%v), want 0", n, err)
	}
	if !exists("events_"+far.Format("2006_01")) || !exists("audit_log_"+far.Format("2006_01")) {
		t.Fatal("far partition not created")
	}
}

func TestPurgeBroadcastsOfEndedSessions(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	ended := seed(t, pool, time.Now().UTC())
	live := seed(t, pool, time.Now().UTC())
	for _, f := range []fixture{ended, live} {
		for seq := 1; seq <= 3; seq++ {
			if _, err := pool.Exec(ctx, `INSERT INTO session_broadcasts (school_id, session_id, seq, frame) VALUES ($1, $2, $3, '{}')`, f.school, f.session, seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := pool.Exec(ctx, `UPDATE sessions SET state = 'ended', ended_at = now() - interval '8 days' WHERE id = $1`, ended.session); err != nil {
		t.Fatal(err)
	}
	n, err := postgres.NewSessionStore(pool, nil).PurgeBroadcasts(ctx, time.Now().Add(-7*24*time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("purged %d (%v), want 3", n, err)
	}
	var left int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM session_broadcasts WHERE session_id = $1`, live.session).Scan(&left); err != nil || left != 3 {
		t.Fatalf("live session's broadcasts left: %d (%v), want 3", left, err)
	}
}

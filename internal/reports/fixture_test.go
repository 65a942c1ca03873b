package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/testenv"
)

// fixture writes rows straight into the truth tables: these tests check the
// SQL of the views and reports against hand-computed values, below the API
// (the end-to-end tests through the API and live sessions are the lead's).
type fixture struct {
	t        testing.TB
	ctx      context.Context
	pool     *pgxpool.Pool
	school   string
	sessions map[string]*fxSession
	quizzes  map[string][]fxQuestion
}

type fxQuestion struct {
	ID      string
	Kind    string
	Text    string
	Options []string
	Correct []string
	Points  int
}

type fxSession struct {
	ID, Classroom, Quiz, Teacher string
	Created, Started             time.Time
	Questions                    []fxQuestion
	Opened                       map[int]time.Time
}

func newFixture(t testing.TB, pool *pgxpool.Pool, schoolName string) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), pool: pool, sessions: map[string]*fxSession{}, quizzes: map[string][]fxQuestion{}}
	f.school = uuid.NewString()
	f.exec(`INSERT INTO schools (id, name) VALUES ($1, $2)`, f.school, schoolName)
	f.exec(`SELECT quizcast_ensure_partitions($1, $2)`, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	return f
}

func newDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, _ := testenv.Database(t)
	return pool
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.pool.Exec(f.ctx, sql, args...); err != nil {
		f.t.Fatalf("fixture: %v\n%s", err, sql)
	}
}

func (f *fixture) user(name, role string) string {
	f.t.Helper()
	id := uuid.NewString()
	f.exec(`INSERT INTO users (id, school_id, name, email, password_hash, role) VALUES ($1, $2, $3, $4, 'x', $5)`,
		id, f.school, name, id+"@example.org", role)
	return id
}

func (f *fixture) classroom(name, teacher string) string {
	f.t.Helper()
	id := uuid.NewString()
	f.exec(`INSERT INTO classrooms (id, school_id, teacher_id, name) VALUES ($1, $2, $3, $4)`, id, f.school, teacher, name)
	return id
}

func (f *fixture) enrol(classroom string, students ...string) {
	f.t.Helper()
	for _, s := range students {
		f.exec(`INSERT INTO enrolments (school_id, classroom_id, student_id) VALUES ($1, $2, $3)`, f.school, classroom, s)
	}
}

// quiz creates a quiz (version 1) with qs; option ids are the given names.
func (f *fixture) quiz(owner, title string, qs []fxQuestion) string {
	f.t.Helper()
	id := uuid.NewString()
	f.exec(`INSERT INTO quizzes (id, school_id, owner_id) VALUES ($1, $2, $3)`, id, f.school, owner)
	f.exec(`INSERT INTO quiz_versions (school_id, quiz_id, version, title) VALUES ($1, $2, 1, $3)`, f.school, id, title)
	for i := range qs {
		q := &qs[i]
		q.ID = uuid.NewString()
		if q.Text == "" {
			q.Text = fmt.Sprintf("Question %d", i)
		}
		opts := make([]map[string]string, len(q.Options))
		for j, o := range q.Options {
			opts[j] = map[string]string{"id": o, "text": "option " + o}
		}
		raw, _ := json.Marshal(opts)
		if q.Correct == nil {
			q.Correct = []string{}
		}
		f.exec(`INSERT INTO questions (id, school_id, quiz_id, quiz_version, idx, text, kind, options, correct, time_limit_s, points)
			VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, 20, $9)`, q.ID, f.school, id, i, q.Text, q.Kind, raw, q.Correct, q.Points)
	}
	f.quizzes[id] = qs
	return id
}

// session creates a started session of quiz in classroom at start, with the
// questions at the given indexes opened one minute apart.
func (f *fixture) session(classroom, quizID, teacher string, start time.Time, opened ...int) string {
	f.t.Helper()
	s := &fxSession{ID: uuid.NewString(), Classroom: classroom, Quiz: quizID, Teacher: teacher,
		Created: start.Add(-time.Minute), Started: start, Questions: f.quizzes[quizID], Opened: map[int]time.Time{}}
	f.exec(`INSERT INTO sessions (id, school_id, classroom_id, quiz_id, quiz_version, teacher_id, state, question_count, created_at, started_at, ended_at)
		VALUES ($1, $2, $3, $4, 1, $5, 'ended', $6, $7, $8, $9)`,
		s.ID, f.school, classroom, quizID, teacher, len(s.Questions), s.Created, start, start.Add(time.Hour))
	for n, idx := range opened {
		at := start.Add(time.Duration(n+1) * time.Minute)
		s.Opened[idx] = at
		f.exec(`INSERT INTO session_questions (school_id, session_id, idx, question_id, opened_at, deadline, closed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)`, f.school, s.ID, idx, s.Questions[idx].ID, at, at.Add(20*time.Second))
	}
	f.sessions[s.ID] = s
	return s.ID
}

// answer records a student's answer to question idx of session sid; its
// correctness follows the question (nil for a poll).
func (f *fixture) answer(sid, student string, idx int, choices []string, points, ms int) {
	f.t.Helper()
	s := f.sessions[sid]
	q := s.Questions[idx]
	var correct *bool
	if q.Kind != "poll" {
		c := slices.Clone(choices)
		slices.Sort(c)
		k := slices.Clone(q.Correct)
		slices.Sort(k)
		ok := slices.Equal(c, k)
		correct = &ok
	}
	f.exec(`INSERT INTO answers (school_id, session_id, session_created_at, classroom_id, quiz_id, question_id, question_idx,
			student_id, choices, correct, points, received_at, response_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		f.school, sid, s.Created, s.Classroom, s.Quiz, q.ID, idx, student, choices, correct, points,
		s.Opened[idx].Add(time.Duration(ms)*time.Millisecond), ms)
}

// refreshAll refreshes every report view the way the worker does.
func refreshAll(t testing.TB, r *Refresher) {
	t.Helper()
	for _, v := range Views() {
		if err := r.Refresh(context.Background(), v); err != nil {
			t.Fatal(err)
		}
	}
}

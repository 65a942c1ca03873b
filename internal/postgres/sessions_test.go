package postgres_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/live"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/testenv"
)

// roundTrips counts what a connection sends: a query, a batch (one
// pipeline, one round trip) or a statement preparation.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (r *roundTrips) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// twoQuestions seeds a session whose quiz version has two questions.
func twoQuestions(t *testing.T, pool *pgxpool.Pool) fixture {
	t.Helper()
	ctx := context.Background()
	f := seed(t, pool, time.Now().UTC())
	if _, err := pool.Exec(ctx, `INSERT INTO questions (school_id, quiz_id, quiz_version, idx, text, kind, options, correct, time_limit_s, points)
		VALUES ($1, $2, 1, 1, 'q2', 'multi', '[{"id":"a","text":"A"},{"id":"b","text":"B"},{"id":"c","text":"C"}]', '{a,c}', 30, 500)`,
		f.school, f.quiz); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE sessions SET question_count = 2 WHERE id = $1`, f.session); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO enrolments (school_id, classroom_id, student_id) VALUES ($1, $2, $3)`, f.school, f.classroom, f.student); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCommandRoundTrips counts what each command sends to PostgreSQL once
// its statements are prepared: a teacher's command is two round trips
// whatever it closes or opens, a deadline check that finds nothing due
// is one statement, and a due close four (the check, the claim, the
// players' read, which needs the creation time the claim returns as its
// partition key, and the write).
func TestCommandRoundTrips(t *testing.T) {
	pool, url := testenv.Database(t)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	rt := &roundTrips{}
	cfg.ConnConfig.Tracer = rt
	cfg.MaxConns = 1 // one connection, so its statement cache is warm after the first session
	traced, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer traced.Close()
	store := postgres.NewSessionStore(traced, nil)
	w := startWriter(t, pool)

	play := func(f fixture, check func(step string, n int64)) {
		qs, err := postgres.NewSessionStore(pool, nil).Questions(ctx, f.school, f.quiz, 1)
		if err != nil {
			t.Fatal(err)
		}
		questions := func(quiz.Session) ([]quiz.Question, error) { return qs, nil }
		by := quiz.Actor{UserID: f.teacher, App: quiz.AppWhiteboard}
		run := func(step string, cmd quiz.Command) postgres.Committed {
			before := rt.n.Load()
			c, err := store.Command(ctx, f.key(), live.Decide(questions, cmd, by, time.Now().UTC()))
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			check(step, rt.n.Load()-before)
			return c
		}
		closeDue := func(step string, now time.Time) bool {
			before := rt.n.Load()
			_, ok, err := store.CloseDue(ctx, f.school, f.session, now, live.Decide(questions, quiz.CommandCloseDue, quiz.Actor{App: quiz.AppServer}, now))
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			check(step, rt.n.Load()-before)
			return ok
		}
		run("start", quiz.CommandStart)
		c := run("next with none open", quiz.CommandNext)
		if _, err := w.Write(ctx, answer(f, c.Transition.Session, f.student, "a")); err != nil {
			t.Fatal(err)
		}
		if closeDue("close_due, nothing due", time.Now().UTC()) {
			t.Fatal("closed a question before its deadline")
		}
		c = run("next with a question open", quiz.CommandNext)
		if c.Transition.Closed == nil || c.Transition.Closed.Answered != 1 || len(c.Broadcasts) != 3 {
			t.Fatalf("next closed %+v with %d broadcasts", c.Transition.Closed, len(c.Broadcasts))
		}
		due, err := store.DueSessions(ctx, time.Now().UTC().Add(time.Minute), 100)
		if err != nil || !slices.Contains(due, postgres.SessionRef{SchoolID: f.school, SessionID: f.session}) {
			t.Fatalf("due sessions %v (%v), want this one", due, err)
		}
		if !closeDue("close_due at the deadline", time.Now().UTC().Add(time.Minute)) {
			t.Fatal("the due question was not closed")
		}
		if closeDue("close_due after the close", time.Now().UTC().Add(time.Minute)) {
			t.Fatal("closed twice")
		}
		run("end", quiz.CommandEnd)
	}
	// Warm the connection's statement cache.
	play(twoQuestions(t, pool), func(string, int64) {})
	want := map[string]int64{"start": 2, "next with none open": 2, "next with a question open": 2, "end": 2,
		"close_due, nothing due": 1, "close_due at the deadline": 4, "close_due after the close": 1}
	play(twoQuestions(t, pool), func(step string, n int64) {
		t.Logf("%s: %d round trips", step, n)
		if n > want[step] {
			t.Errorf("%s: %d round trips, want %d", step, n, want[step])
		}
	})
}

// TestCommandChecksTheCreationTime: the players' read takes the session's
// creation time as the answers' partition key, so a command given another
// time must find no session (and change nothing) rather than score a
// close without its answers.
func TestCommandChecksTheCreationTime(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	f, students, sess := running(t, pool, 2)
	w := startWriter(t, pool)
	if r, err := w.Write(ctx, answer(f, sess, students[0], "a")); err != nil || r.Outcome != postgres.Accepted {
		t.Fatalf("answer: %+v %v", r, err)
	}
	store := postgres.NewSessionStore(pool, nil)
	questions := func(s quiz.Session) ([]quiz.Question, error) {
		return store.Questions(ctx, s.SchoolID, s.QuizID, s.QuizVersion)
	}
	by := quiz.Actor{UserID: f.teacher, App: quiz.AppWhiteboard}
	wrong := f.key()
	wrong.CreatedAt = wrong.CreatedAt.AddDate(0, -1, 0)
	if _, err := store.Command(ctx, wrong, live.Decide(questions, quiz.CommandClose, by, time.Now().UTC())); !errors.Is(err, quiz.ErrNotFound) {
		t.Fatalf("close with another creation time: %v, want not found", err)
	}
	var seq int64
	if err := pool.QueryRow(ctx, `SELECT seq FROM sessions WHERE id = $1`, f.session).Scan(&seq); err != nil || seq != sess.Seq {
		t.Fatalf("seq %d (%v) after the refused close, want %d", seq, err, sess.Seq)
	}
	c, err := store.Command(ctx, f.key(), live.Decide(questions, quiz.CommandClose, by, time.Now().UTC()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Transition.Closed == nil || c.Transition.Closed.Answered != 1 {
		t.Fatalf("close after the refused one: %+v", c.Transition.Closed)
	}
}

// TestCloseAgreesWithTheRules: what a close reads under its lock and
// scores equals quiz.Close over the players read straight from the
// tables — joined, kicked after answering, answered without joining,
// answered wrong, never answered.
func TestCloseAgreesWithTheRules(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	f, students, sess := running(t, pool, 6)
	store := postgres.NewSessionStore(pool, nil)
	w := startWriter(t, pool)
	for i, s := range students[:5] {
		if i < 4 {
			if _, _, err := store.Join(ctx, sess, s, time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
		}
		choice := "a"
		if i%2 == 1 {
			choice = "b"
		}
		if wr, err := w.Write(ctx, answer(f, sess, s, choice)); err != nil || wr.Outcome != postgres.Accepted {
			t.Fatalf("answer %d: %+v %v", i, wr, err)
		}
	}
	if _, _, err := store.Join(ctx, sess, students[5], time.Now().UTC()); err != nil { // joined, never answers
		t.Fatal(err)
	}
	if _, err := store.Kick(ctx, sess, students[2], time.Now().UTC()); err != nil { // kicked after answering
		t.Fatal(err)
	}

	// The players, from the tables, the slow and obvious way.
	var players []quiz.Player
	rows, err := pool.Query(ctx, `
		SELECT u.id, u.name, p.student_id IS NOT NULL, coalesce(p.kicked_at IS NOT NULL, false)
		FROM users u LEFT JOIN session_participants p ON p.student_id = u.id AND p.session_id = $1
		WHERE u.id IN (SELECT student_id FROM session_participants WHERE session_id = $1
			UNION SELECT student_id FROM answers WHERE session_id = $1)`, f.session)
	if err != nil {
		t.Fatal(err)
	}
	players, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (quiz.Player, error) {
		var p quiz.Player
		return p, r.Scan(&p.UserID, &p.Name, &p.Joined, &p.Kicked)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range players {
		p := &players[i]
		rows, err := pool.Query(ctx, `SELECT question_id, choices, correct, points FROM answers WHERE session_id = $1 AND student_id = $2`, f.session, p.UserID)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var qid string
			var a quiz.PlayerAnswer
			if err := rows.Scan(&qid, &a.Choices, &a.Correct, &a.Points); err != nil {
				t.Fatal(err)
			}
			p.Score += a.Points
			if qid == f.question {
				p.Answer = &a
			}
		}
		rows.Close()
	}
	qs, err := store.Questions(ctx, f.school, f.quiz, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := quiz.Close(qs[0], players)

	c, err := command(store, f, quiz.CommandClose)
	if err != nil {
		t.Fatal(err)
	}
	got := *c.Transition.Closed
	sort.Slice(got.Results, func(i, j int) bool { return got.Results[i].UserID < got.Results[j].UserID })
	sort.Slice(want.Results, func(i, j int) bool { return want.Results[i].UserID < want.Results[j].UserID })
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("close read and scored\n %+v\nthe rules over the tables say\n %+v", got, want)
	}
	if got.Answered != 5 || got.Participants != 4 || len(got.Standings) != 5 {
		t.Fatalf("answered %d participants %d standings %d, want 5, 4, 5", got.Answered, got.Participants, len(got.Standings))
	}
}

package admin_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/admin"
	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/metrics"
	"github.com/quizcast/quizcast/internal/policy"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/ratelimit"
	"github.com/quizcast/quizcast/internal/reports"
	"github.com/quizcast/quizcast/internal/testenv"
)

// world is one school with a teacher, a classroom of three students and a
// two-question quiz.
type world struct {
	pool                     *pgxpool.Pool
	rdb                      *redis.Client
	store                    *postgres.Store
	school, adminID, teacher string
	classroom, quiz          string
	questions                [2]string
	options                  [2][2]string
	students                 [3]quiz.User
	svc                      *admin.Service
	refresher                *reports.Refresher
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func scalar[T any](t *testing.T, pool *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := t.Context()
	pool, _ := testenv.Database(t)
	rdb := testenv.Redis(t)
	w := &world{pool: pool, rdb: rdb, store: postgres.NewStore(pool)}
	_, adm, err := w.store.CreateSchool(ctx, "Privacy High", quiz.User{Name: "Admin", Email: "admin-" + testenv.RandomID() + "@example.org", Role: quiz.RoleAdmin}, auth.NoPassword)
	if err != nil {
		t.Fatal(err)
	}
	w.school, w.adminID = adm.SchoolID, adm.ID
	teacher, err := w.store.CreateUser(ctx, quiz.User{SchoolID: w.school, Name: "Teacher", Email: "t-" + testenv.RandomID() + "@example.org", Role: quiz.RoleTeacher}, auth.NoPassword)
	if err != nil {
		t.Fatal(err)
	}
	w.teacher = teacher.ID
	c, err := w.store.CreateClassroom(ctx, quiz.Classroom{SchoolID: w.school, TeacherID: w.teacher, Name: "7B"})
	if err != nil {
		t.Fatal(err)
	}
	w.classroom = c.ID
	for i := range w.students {
		u, err := w.store.CreateUser(ctx, quiz.User{SchoolID: w.school, Name: fmt.Sprintf("Zelda Uniquename%d", i),
			Email: fmt.Sprintf("zelda%d-%s@example.org", i, testenv.RandomID()), Role: quiz.RoleStudent}, auth.NoPassword)
		if err != nil {
			t.Fatal(err)
		}
		w.students[i] = u
		exec(t, pool, `INSERT INTO enrolments (school_id, classroom_id, student_id) VALUES ($1, $2, $3)`, w.school, w.classroom, u.ID)
	}
	w.quiz = scalar[string](t, pool, `INSERT INTO quizzes (school_id, owner_id) VALUES ($1, $2) RETURNING id::text`, w.school, w.teacher)
	exec(t, pool, `INSERT INTO quiz_versions (school_id, quiz_id, version, title) VALUES ($1, $2, 1, 'Q')`, w.school, w.quiz)
	for i := range w.questions {
		w.options[i] = [2]string{testenv.RandomID(), testenv.RandomID()}
		w.questions[i] = scalar[string](t, pool, `INSERT INTO questions (school_id, quiz_id, quiz_version, idx, text, kind, options, correct, time_limit_s, points)
			VALUES ($1, $2, 1, $3, 'q', 'single', jsonb_build_array(jsonb_build_object('id', $4::text, 'text', 'a'), jsonb_build_object('id', $5::text, 'text', 'b')), ARRAY[$4::text], 20, 1000)
			RETURNING id::text`, w.school, w.quiz, i, w.options[i][0], w.options[i][1])
	}
	tokens, err := auth.NewTokens([]byte("test-secret-0123456789abcdef0123456789abcdef"), 15*time.Minute, rdb)
	if err != nil {
		t.Fatal(err)
	}
	limiter := ratelimit.New(rdb, ratelimit.Limits{LoginPerIP: 1000, LoginFailuresPerAccount: 1000, APIPerUser: 1000})
	log := slog.New(slog.DiscardHandler)
	w.refresher = reports.NewRefresher(pool, nil, metrics.NewRegistry(), log, reports.RefresherConfig{})
	w.svc = admin.New(admin.Config{Store: w.store, Policy: policy.New(w.store), Tokens: tokens,
		Resets: auth.NewResets(w.store, tokens, limiter, w.store), Redis: rdb, Refresher: w.refresher, Views: reports.Views(), Log: log})
	return w
}

// session runs an ended session started at start in which every student
// answers both questions (student i right on question q when i+q is even),
// with its events, outbox rows, stored broadcasts (a leaderboard naming
// everyone) and Redis keys.
func (w *world) session(t *testing.T, start time.Time) string {
	t.Helper()
	pool := w.pool
	exec(t, pool, `SELECT quizcast_ensure_partitions($1, $1)`, start)
	sid := scalar[string](t, pool, `INSERT INTO sessions (school_id, classroom_id, quiz_id, quiz_version, teacher_id, state, question_count, created_at, started_at, ended_at, seq)
		VALUES ($1, $2, $3, 1, $4, 'ended', 2, $5, $5, $5::timestamptz + interval '10 minutes', 1) RETURNING id::text`,
		w.school, w.classroom, w.quiz, w.teacher, start)
	var top []string
	for q, qid := range w.questions {
		exec(t, pool, `INSERT INTO session_questions (school_id, session_id, idx, question_id, opened_at, deadline, closed_at)
			VALUES ($1, $2, $3, $4, $5, $5::timestamptz + interval '20 seconds', $5::timestamptz + interval '20 seconds')`,
			w.school, sid, q, qid, start.Add(time.Duration(q)*time.Minute))
		for i, st := range w.students {
			right := (i+q)%2 == 0
			choice := w.options[q][1]
			points := 0
			if right {
				choice, points = w.options[q][0], 750
			}
			aid := scalar[string](t, pool, `INSERT INTO answers (school_id, session_id, session_created_at, classroom_id, quiz_id, question_id, question_idx, student_id, choices, correct, points, received_at, response_ms)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ARRAY[$9::text], $10, $11, $3::timestamptz + interval '5 seconds', 5000) RETURNING id::text`,
				w.school, sid, start, w.classroom, w.quiz, qid, q, st.ID, choice, right, points)
			exec(t, pool, `INSERT INTO events (event_id, name, occurred_at, school_id, classroom_id, session_id, quiz_id, user_id, app, data)
				VALUES (gen_random_uuid(), 'answer_submitted', $1, $2, $3, $4, $5, $6, 'notebook', jsonb_build_object('answer_id', $7::text))`,
				start, w.school, w.classroom, sid, w.quiz, st.ID, aid)
		}
	}
	for _, st := range w.students {
		exec(t, pool, `INSERT INTO session_participants (school_id, session_id, student_id, joined_at) VALUES ($1, $2, $3, $4)`, w.school, sid, st.ID, start)
		exec(t, pool, `INSERT INTO outbox (school_id, event_id, name, payload) VALUES ($1::uuid, gen_random_uuid(), 'student_joined',
			jsonb_build_object('school_id', $1::text, 'session_id', $2::text, 'user_id', $3::text, 'name', 'student_joined'))`, w.school, sid, st.ID)
		top = append(top, fmt.Sprintf(`{"user_id":%q,"name":%q,"score":750,"rank":1}`, st.ID, st.Name))
	}
	exec(t, pool, `INSERT INTO session_broadcasts (school_id, session_id, seq, frame, created_at) VALUES ($1, $2, 1, $3::json, $4)`,
		w.school, sid, `{"type":"leaderboard","seq":1,"data":{"top":[`+strings.Join(top, ",")+`]}}`, start)
	ctx := context.Background()
	// The history holds frames naming students; the presence and progress
	// keys hold counts.
	if err := w.rdb.Set(ctx, "qc:history:"+sid, strings.Join(top, ","), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"qc:participants:" + sid, "qc:connected:" + sid, "qc:progress:" + sid + ":" + w.questions[0]} {
		if err := w.rdb.Set(ctx, k, len(top), time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return sid
}

// figures are the report rows of a session as the views compute them.
func (w *world) figures(t *testing.T, sid string) string {
	t.Helper()
	return scalar[string](t, w.pool, `SELECT
		(SELECT json_agg(r)::text FROM report_classroom_session_rows(ARRAY[$1::uuid]) r) || '|' ||
		(SELECT json_agg(r ORDER BY r.question_id)::text FROM report_question_stat_rows(ARRAY[$1::uuid]) r) || '|' ||
		(SELECT json_agg(json_build_object('score', r.score, 'rank', r.rank, 'completed', r.completed, 'answered', r.answered) ORDER BY r.score, r.rank)::text
		 FROM report_student_session_rows(ARRAY[$1::uuid]) r) || '|' ||
		(SELECT count(*) FROM session_participants WHERE session_id = $1)::text`, sid)
}

// where lists the tables and views of the schema (partition parents, not
// partitions) holding text, in any column, that contains needle.
func where(t *testing.T, pool *pgxpool.Pool, needle string) []string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition AND c.relname <> 'goose_db_version'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	var found []string
	for _, tb := range tables {
		n := scalar[int64](t, pool, fmt.Sprintf(`SELECT count(*) FROM %q x WHERE strpos(x::text, $1) > 0`, tb), needle)
		if n > 0 {
			found = append(found, fmt.Sprintf("%s(%d)", tb, n))
		}
	}
	return found
}

// redisHolding lists the Redis keys whose name or string value contains
// needle.
func redisHolding(t *testing.T, rdb *redis.Client, needle string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	iter := rdb.Scan(ctx, 0, "qc:*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		v, _ := rdb.Get(ctx, k).Result()
		if strings.Contains(k, needle) || strings.Contains(v, needle) {
			out = append(out, k)
		}
	}
	return out
}

func TestEraseStudent(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	start := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Millisecond)
	sid := w.session(t, start)
	// One rolled-up session, one only in the views.
	if _, err := reports.RollUpEnded(ctx, w.pool, time.Now()); err != nil {
		t.Fatal(err)
	}
	live := w.session(t, start.Add(time.Hour))
	for _, v := range reports.Views() {
		if err := w.refresher.Refresh(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	victim := w.students[1]
	caller := admin.Caller{Identity: auth.Identity{UserID: w.adminID, SchoolID: w.school, Role: quiz.RoleAdmin, LoginID: testenv.RandomID()}, RequestID: "req-erase"}
	// Audit rows about and by the student.
	if err := w.store.Record(ctx, quiz.AuditEntry{SchoolID: w.school, ActorID: victim.ID, Action: quiz.AuditPasswordResetUsed, SubjectType: quiz.SubjectUser, SubjectID: victim.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Export(ctx, caller, victim.ID); err != nil {
		t.Fatal(err)
	}
	before := []string{w.figures(t, sid), w.figures(t, live)}
	if got := where(t, w.pool, victim.ID); len(got) == 0 {
		t.Fatal("the seed holds nothing about the student")
	}

	if err := w.svc.Erase(ctx, caller, victim.ID); err != nil {
		t.Fatal(err)
	}
	after := []string{w.figures(t, sid), w.figures(t, live)}
	for i := range before {
		if before[i] != after[i] {
			t.Errorf("figures changed:\n before %s\n after  %s", before[i], after[i])
		}
	}
	// The id survives only as the subject of student.erased; the name and
	// the email nowhere.
	if got := where(t, w.pool, victim.ID); len(got) != 1 || got[0] != "audit_log(1)" {
		t.Errorf("the student's id is still in %v", got)
	}
	if n := scalar[int64](t, w.pool, `SELECT count(*) FROM audit_log WHERE subject_id = $1 AND action = 'student.erased' AND actor_id = $2 AND request_id = 'req-erase'`, victim.ID, w.adminID); n != 1 {
		t.Errorf("student.erased entries: %d", n)
	}
	for _, needle := range []string{victim.Name, victim.Email} {
		if got := where(t, w.pool, needle); len(got) != 0 {
			t.Errorf("%q is still in %v", needle, got)
		}
	}
	if got := redisHolding(t, w.rdb, victim.ID); len(got) != 0 {
		t.Errorf("Redis still names the student: %v", got)
	}
	// A message still in flight about the student (RabbitMQ) is stored by
	// the event worker without the id.
	late := quiz.Event{EventID: uuid.NewString(), Name: quiz.EventStudentLeft, OccurredAt: time.Now().UTC(), SchoolID: w.school,
		SessionID: sid, UserID: victim.ID, App: quiz.AppNotebook}
	if _, err := postgres.NewEventStore(w.pool).Store(ctx, []quiz.Event{late}); err != nil {
		t.Fatal(err)
	}
	if got := where(t, w.pool, victim.ID); len(got) != 1 {
		t.Errorf("a late event brought the id back: %v", got)
	}
	// The others are untouched.
	if got := where(t, w.pool, w.students[0].ID); len(got) == 0 {
		t.Error("the other students were erased too")
	}
	// Export and erasure of the erased id: 404; the audit log is append-only.
	if _, err := w.svc.Export(ctx, caller, victim.ID); !isCode(err, quiz.CodeNotFound) {
		t.Errorf("export after erasure: %v", err)
	}
	if err := w.svc.Erase(ctx, caller, victim.ID); !isCode(err, quiz.CodeNotFound) {
		t.Errorf("second erasure: %v", err)
	}
	if _, err := w.pool.Exec(ctx, `UPDATE audit_log SET actor_id = NULL WHERE school_id = $1`, w.school); err == nil {
		t.Error("audit_log accepted an UPDATE")
	}
	if _, err := w.pool.Exec(ctx, `DELETE FROM audit_log WHERE school_id = $1`, w.school); err == nil {
		t.Error("audit_log accepted a DELETE")
	}
	// Erasing a second student changes no figure either.
	if err := w.svc.Erase(ctx, caller, w.students[2].ID); err != nil {
		t.Fatal(err)
	}
	if got := []string{w.figures(t, sid), w.figures(t, live)}; got[0] != before[0] || got[1] != before[1] {
		t.Errorf("figures changed after the second erasure")
	}
}

func isCode(err error, code quiz.Code) bool {
	e, ok := quiz.AsError(err)
	return ok && e.Code == code
}

func TestExportStudent(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	sid := w.session(t, time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond))
	st := w.students[0]
	caller := admin.Caller{Identity: auth.Identity{UserID: w.adminID, SchoolID: w.school, Role: quiz.RoleAdmin}, RequestID: "req-export"}
	doc, err := w.svc.Export(ctx, caller, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	for _, want := range []string{`"user"`, `"enrolments"`, `"sessions"`, `"answers"`, `"events"`, `"audit"`, st.Email, st.Name, sid, `"student.exported"`, w.questions[1]} {
		if !strings.Contains(s, want) {
			t.Errorf("export lacks %s: %s", want, s)
		}
	}
	if strings.Contains(s, w.students[1].ID) {
		t.Error("export holds another student's id")
	}
	teacher := admin.Caller{Identity: auth.Identity{UserID: w.teacher, SchoolID: w.school, Role: quiz.RoleTeacher}}
	if _, err := w.svc.Export(ctx, teacher, st.ID); !isCode(err, quiz.CodeForbidden) {
		t.Errorf("teacher export: %v", err)
	}
}

func TestRetention(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	now := time.Now().UTC()
	old := admin.Horizon(now, 24).AddDate(0, -3, 2) // well before the horizon
	oldSID := w.session(t, old)
	recent := w.session(t, now.Add(-time.Hour).Truncate(time.Millisecond))
	if _, err := reports.RollUpEnded(ctx, w.pool, now); err != nil {
		t.Fatal(err)
	}
	if err := w.store.Record(ctx, quiz.AuditEntry{SchoolID: w.school, Action: quiz.AuditReportViewed, SubjectType: quiz.SubjectReport, SubjectID: w.students[0].ID}); err != nil {
		t.Fatal(err)
	}
	oldPart := "answers_" + old.Format("2006_01")
	if got := where(t, w.pool, oldSID); len(got) == 0 {
		t.Fatal("the old session left no trace to remove")
	}
	r := &admin.Retention{Store: w.store, Redis: w.rdb, Months: 24, AuditMonths: 36, Refresher: w.refresher, Views: reports.Views(), Log: slog.New(slog.DiscardHandler)}
	for range 2 { // twice: a pass with nothing to do is fine
		if err := r.Pass(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	if got := where(t, w.pool, oldSID); len(got) != 0 {
		t.Errorf("the old session is still in %v", got)
	}
	if got := redisHolding(t, w.rdb, oldSID); len(got) != 0 {
		t.Errorf("Redis still holds %v", got)
	}
	if scalar[bool](t, w.pool, `SELECT to_regclass($1) IS NOT NULL`, oldPart) {
		t.Errorf("partition %s was not dropped", oldPart)
	}
	// The recent session, its quiz and classroom stay.
	if n := scalar[int64](t, w.pool, `SELECT count(*) FROM answers WHERE session_id = $1`, recent); n != 6 {
		t.Errorf("recent answers: %d", n)
	}
	if n := scalar[int64](t, w.pool, `SELECT count(*) FROM quizzes WHERE id = $1`, w.quiz); n != 1 {
		t.Error("the quiz was removed")
	}
	if n := scalar[int64](t, w.pool, `SELECT count(*) FROM audit_log WHERE school_id = $1`, w.school); n != 1 {
		t.Errorf("recent audit entries: %d", n)
	}
	// The audit log's own retention drops its old partitions.
	exec(t, w.pool, `SELECT quizcast_ensure_audit_partitions($1, $1)`, admin.Horizon(now, 40))
	auditPart := "audit_log_" + admin.Horizon(now, 40).Format("2006_01")
	if err := r.Pass(ctx, now); err != nil {
		t.Fatal(err)
	}
	if scalar[bool](t, w.pool, `SELECT to_regclass($1) IS NOT NULL`, auditPart) {
		t.Errorf("audit partition %s was not dropped", auditPart)
	}
}

func TestRetentionTakesTurns(t *testing.T) {
	pool, _ := testenv.Database(t)
	store := postgres.NewStore(pool)
	var inner bool
	ran, err := store.Exclusively(t.Context(), "quizcast_retention", func(ctx context.Context) error {
		var err error
		inner, err = store.Exclusively(ctx, "quizcast_retention", func(context.Context) error { return nil })
		return err
	})
	if err != nil || !ran || inner {
		t.Fatalf("outer ran %v, inner ran %v, err %v", ran, inner, err)
	}
	if ran, err := store.Exclusively(t.Context(), "quizcast_retention", func(context.Context) error { return nil }); !ran || err != nil {
		t.Fatalf("the lock was not released: %v %v", ran, err)
	}
}

func TestHorizon(t *testing.T) {
	got := admin.Horizon(time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC), 24)
	if want := time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("horizon %s, want %s", got, want)
	}
}

func TestReportServedAudit(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	st := w.students[0].ID
	teacher := admin.Caller{Identity: auth.Identity{UserID: w.teacher, SchoolID: w.school, Role: quiz.RoleTeacher}, RequestID: "r1"}
	self := admin.Caller{Identity: auth.Identity{UserID: st, SchoolID: w.school, Role: quiz.RoleStudent}, RequestID: "r2"}
	steps := []struct {
		c            admin.Caller
		aboutStudent bool
		subject      string
		csv          bool
	}{
		{teacher, true, st, false},          // report.viewed
		{self, true, st, false},             // a student's own report: nothing
		{teacher, false, w.classroom, true}, // report.exported
		{teacher, true, st, true},           // report.exported + report.viewed
	}
	for _, s := range steps {
		if err := w.svc.ReportServed(ctx, s.c, s.aboutStudent, s.subject, s.csv); err != nil {
			t.Fatal(err)
		}
	}
	got := scalar[string](t, w.pool, `SELECT string_agg(action || ':' || subject_type || ':' || request_id, ',' ORDER BY at, action)
		FROM audit_log WHERE school_id = $1`, w.school)
	want := "report.viewed:report:r1,report.exported:report:r1,report.exported:report:r1,report.viewed:report:r1"
	if got != want {
		t.Fatalf("audit %s, want %s", got, want)
	}
}

package reports

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/quiz"
)

// The materialized views of migrations/00003_report_views.sql, restricted
// to the sessions not rolled up yet by 00005_report_rollups.sql.
const (
	ViewStudentSessions   = "report_student_sessions"
	ViewClassroomSessions = "report_classroom_sessions"
	ViewQuestionStats     = "report_question_stats"
)

// What the report queries read instead of a view: its history table (the
// sessions rolled up) and the view's rows of the sessions not in history.
// A session is in history exactly when its report_classroom_sessions_history
// row exists (the roll-up writes all its rows in one transaction, and every
// started session has that row), so within a report's snapshot each session
// is counted once, whether or not the view was refreshed since its roll-up.
// The filters of the queries are pushed into both branches, each read by
// its own (school_id, ...) index.
const (
	notInHistory = `
        NOT EXISTS (SELECT 1 FROM report_classroom_sessions_history h
                    WHERE h.school_id = v.school_id AND h.session_id = v.session_id)`
	studentSessionsFrom = `(
    SELECT * FROM report_student_sessions_history
    UNION ALL
    SELECT v.* FROM report_student_sessions v WHERE` + notInHistory + `)`
	classroomSessionsFrom = `(
    SELECT * FROM report_classroom_sessions_history
    UNION ALL
    SELECT v.* FROM report_classroom_sessions v WHERE` + notInHistory + `)`
	questionStatsFrom = `(
    SELECT * FROM report_question_stats_history
    UNION ALL
    SELECT v.* FROM report_question_stats v WHERE` + notInHistory + `)`
)

// Store runs the report queries. Each public method reads in one
// REPEATABLE READ, read-only transaction, so the parts of a report and its
// as_of come from one snapshot.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a store over pool.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool}
}

// Scope is what a report may show once authorized: the caller's school, the
// subject, and, for a teacher looking at a student, the teacher whose
// classrooms bound the sessions shown ("" for no bound).
type Scope struct {
	SchoolID  string
	SubjectID string
	TeacherID string
}

// teacherArg is the SQL parameter of the optional teacher bound.
func (s Scope) teacherArg() any {
	if s.TeacherID == "" {
		return nil
	}
	return s.TeacherID
}

func (s *Store) read(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("begin report read: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// report reads one report: as_of of views into *at, then fill, in one
// snapshot.
func (s *Store) report(ctx context.Context, at *quiz.Time, views []string, fill func(pgx.Tx) error) error {
	return s.read(ctx, func(tx pgx.Tx) error {
		var err error
		if *at, err = asOf(ctx, tx, views...); err != nil {
			return err
		}
		return fill(tx)
	})
}

// appendTo returns a row callback collecting into *dst.
func appendTo[T any](dst *[]T) func(T) error {
	return func(v T) error {
		*dst = append(*dst, v)
		return nil
	}
}

const asOfSQL = `SELECT min(refreshed_at) FROM view_refreshes WHERE view_name = ANY ($1)`

// asOf is when the oldest of views was last refreshed: the report is at
// least that fresh.
func asOf(ctx context.Context, tx pgx.Tx, views ...string) (quiz.Time, error) {
	var t *time.Time
	if err := tx.QueryRow(ctx, asOfSQL, views).Scan(&t); err != nil {
		return quiz.Time{}, fmt.Errorf("as_of: %w", err)
	}
	if t == nil {
		return quiz.Time{}, fmt.Errorf("as_of: no refresh recorded for %v", views)
	}
	return quiz.Time(*t), nil
}

// ratio returns n/d, or nil when d is 0.
func ratio(n, d int64) *float64 {
	if d == 0 {
		return nil
	}
	r := float64(n) / float64(d)
	return &r
}

// mean returns sum/n rounded to an integer, or nil when n is 0.
func mean(sum, n int64) *int64 {
	if n == 0 {
		return nil
	}
	m := int64(math.Round(float64(sum) / float64(n)))
	return &m
}

// ---- Subjects (the facts access control decides on) ----

// Subject is what a report is about, as found in the caller's school, with
// the facts Authorize needs.
type Subject struct {
	Kind     Kind
	ID       string
	SchoolID string
	// Teachers are the teachers to whom the subject belongs: the classroom's
	// teacher; the quiz's owner; the session's teacher and its classroom's.
	Teachers []string
	// TaughtByCaller: for a student, whether they are enrolled in a
	// classroom taught by the caller.
	TaughtByCaller bool

	Student   *Person
	Classroom *Classroom
	Quiz      *QuizRef
	Session   *SessionInfo
}

const studentSubjectSQL = `
SELECT u.id, u.name, u.email,
       EXISTS (SELECT 1 FROM enrolments e
               JOIN classrooms c ON c.id = e.classroom_id
               WHERE e.school_id = $1 AND e.student_id = u.id AND c.teacher_id = $3)
FROM users u
WHERE u.school_id = $1 AND u.id = $2 AND u.role = 'student'`

const classroomSubjectSQL = `
SELECT id, school_id, name, subject, grade, teacher_id
FROM classrooms
WHERE school_id = $1 AND id = $2`

const quizSubjectSQL = `
SELECT q.id, v.title, q.current_version, q.owner_id
FROM quizzes q
JOIN quiz_versions v ON v.quiz_id = q.id AND v.version = q.current_version
WHERE q.school_id = $1 AND q.id = $2`

const sessionSubjectSQL = `
SELECT s.id, s.quiz_id, s.quiz_version, v.title, s.classroom_id, s.teacher_id, s.state,
       s.created_at, s.started_at, s.ended_at, s.question_count, c.teacher_id
FROM sessions s
JOIN classrooms c ON c.id = s.classroom_id
JOIN quiz_versions v ON v.quiz_id = s.quiz_id AND v.version = s.quiz_version
WHERE s.school_id = $1 AND s.id = $2`

// Subject looks up the subject of a report in schoolID, with the facts about
// callerID that access control needs. A subject that does not exist in that
// school (or is not of the report's kind, such as a teacher's id in a
// student report) is quiz.ErrNotFound.
func (s *Store) Subject(ctx context.Context, kind Kind, schoolID, id, callerID string) (*Subject, error) {
	if !isUUID(id) || !isUUID(schoolID) {
		return nil, quiz.ErrNotFound
	}
	caller := any(nil)
	if isUUID(callerID) {
		caller = callerID
	}
	sub := &Subject{Kind: kind, ID: id, SchoolID: schoolID}
	var err error
	switch kind {
	case KindPerformance:
		p := &Person{}
		err = s.pool.QueryRow(ctx, studentSubjectSQL, schoolID, id, caller).Scan(&p.ID, &p.Name, &p.Email, &sub.TaughtByCaller)
		sub.Student = p
	case KindEngagement:
		c := &Classroom{}
		err = s.pool.QueryRow(ctx, classroomSubjectSQL, schoolID, id).Scan(&c.ID, &c.SchoolID, &c.Name, &c.Subject, &c.Grade, &c.TeacherID)
		sub.Classroom, sub.Teachers = c, []string{c.TeacherID}
	case KindEffectiveness:
		q := &QuizRef{}
		err = s.pool.QueryRow(ctx, quizSubjectSQL, schoolID, id).Scan(&q.ID, &q.Title, &q.Version, &q.OwnerID)
		sub.Quiz, sub.Teachers = q, []string{q.OwnerID}
	case KindSession:
		si, classTeacher, e := scanSession(s.pool.QueryRow(ctx, sessionSubjectSQL, schoolID, id))
		err = e
		sub.Session, sub.Teachers = si, []string{si.TeacherID, classTeacher}
	default:
		return nil, fmt.Errorf("unknown report %q", kind)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, quiz.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("report subject %s %s: %w", kind, id, err)
	}
	return sub, nil
}

func scanSession(row pgx.Row) (*SessionInfo, string, error) {
	si := &SessionInfo{}
	var created time.Time
	var started, ended *time.Time
	var classTeacher string
	err := row.Scan(&si.ID, &si.QuizID, &si.QuizVersion, &si.QuizTitle, &si.ClassroomID, &si.TeacherID,
		&si.State, &created, &started, &ended, &si.QuestionCount, &classTeacher)
	si.CreatedAt = quiz.Time(created)
	si.StartedAt, si.EndedAt = quiz.TimePtr(started), quiz.TimePtr(ended)
	return si, classTeacher, err
}

// ---- Student performance ----

// The teacher bound: only sessions of classrooms taught by $5 (if given).
const perfWhere = `
WHERE r.school_id = $1 AND r.student_id = $2 AND r.started_at >= $3 AND r.started_at < $4
  AND ($5::uuid IS NULL OR r.classroom_id IN (SELECT c.id FROM classrooms c WHERE c.school_id = $1 AND c.teacher_id = $5))`

const perfTotalsSQL = `
SELECT coalesce(sum(r.answered), 0), coalesce(sum(r.correct), 0), coalesce(sum(r.score), 0),
       coalesce(sum(r.response_ms_sum), 0)
FROM ` + studentSessionsFrom + ` r` + perfWhere

const perfByDaySQL = `
SELECT to_char((r.started_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day, sum(r.answered), sum(r.correct)
FROM ` + studentSessionsFrom + ` r` + perfWhere + `
GROUP BY day
ORDER BY day`

const perfSessionsSQL = `
SELECT r.session_id, v.title, r.started_at, r.answered, r.correct, r.score, r.rank
FROM ` + studentSessionsFrom + ` r
JOIN quiz_versions v ON v.quiz_id = r.quiz_id AND v.version = r.quiz_version` + perfWhere + `
  AND (r.started_at, r.session_id) < ($6, $7::uuid)
ORDER BY r.started_at DESC, r.session_id DESC
LIMIT $8`

// Performance is the student performance report of sc.SubjectID (§7).
func (s *Store) Performance(ctx context.Context, sc Scope, student Person, q Query) (*Performance, error) {
	rep := &Performance{Student: student, Sessions: []PerformanceSession{}, ByDay: []DayCount{}}
	from, to := q.span()
	err := s.report(ctx, &rep.AsOf, []string{ViewStudentSessions}, func(tx pgx.Tx) error {
		var err error
		var msSum int64
		err = tx.QueryRow(ctx, perfTotalsSQL, sc.SchoolID, sc.SubjectID, from, to, sc.teacherArg()).
			Scan(&rep.Answered, &rep.Correct, &rep.Points, &msSum)
		if err != nil {
			return fmt.Errorf("performance totals: %w", err)
		}
		rep.Accuracy, rep.AvgResponseMS = ratio(rep.Correct, rep.Answered), mean(msSum, rep.Answered)
		rows, _ := tx.Query(ctx, perfByDaySQL, sc.SchoolID, sc.SubjectID, from, to, sc.teacherArg())
		rep.ByDay, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (DayCount, error) {
			var d DayCount
			return d, r.Scan(&d.Day, &d.Answered, &d.Correct)
		})
		if err != nil {
			return fmt.Errorf("performance by day: %w", err)
		}
		rep.NextCursor, err = s.perfSessions(ctx, tx, sc, q, q.Limit, appendTo(&rep.Sessions))
		return err
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// perfSessions calls fn for each session of the student after q's cursor,
// newest first, at most limit of them (0: all). It returns the cursor of the
// next page, "" on the last.
func (s *Store) perfSessions(ctx context.Context, tx pgx.Tx, sc Scope, q Query, limit int, fn func(PerformanceSession) error) (string, error) {
	from, to := q.span()
	at, id := q.sessionCursor()
	rows, err := tx.Query(ctx, perfSessionsSQL, sc.SchoolID, sc.SubjectID, from, to, sc.teacherArg(), at, id, limitArg(limit))
	if err != nil {
		return "", fmt.Errorf("performance sessions: %w", err)
	}
	var p PerformanceSession
	var started time.Time
	return page(rows, limit, []any{&p.SessionID, &p.QuizTitle, &started, &p.Answered, &p.Correct, &p.Score, &p.Rank},
		func() (quiz.Cursor, error) {
			p.StartedAt = quiz.Time(started)
			return quiz.Cursor{Time: started, ID: p.SessionID}, fn(p)
		})
}

// limitArg asks for one row more than a page, to know whether another
// follows; 0 means every row (LIMIT NULL).
func limitArg(limit int) any {
	if limit <= 0 {
		return nil
	}
	return limit + 1
}

// page scans rows into dest and calls each for the first limit rows (all
// when limit is 0); it returns the cursor of the last one given when a row
// beyond the limit exists.
func page(rows pgx.Rows, limit int, dest []any, each func() (quiz.Cursor, error)) (string, error) {
	defer rows.Close()
	n := 0
	var last quiz.Cursor
	for rows.Next() {
		if limit > 0 && n == limit {
			rows.Close()
			if err := rows.Err(); err != nil {
				return "", err
			}
			return last.Encode(), nil
		}
		if err := rows.Scan(dest...); err != nil {
			return "", fmt.Errorf("scan report row: %w", err)
		}
		c, err := each()
		if err != nil {
			return "", err
		}
		last = c
		n++
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("report rows: %w", err)
	}
	return "", nil
}

// ---- Classroom engagement ----

const enrolledSQL = `SELECT count(*) FROM enrolments WHERE classroom_id = $2 AND school_id = $1`

// Distinct students who answered in the classroom's sessions in range;
// those no longer enrolled (removed since) are counted apart: they were
// enrolled when they answered, so they join the denominator and the rates
// stay within 0..1. Completion pools the sessions: Σ completers ÷ Σ
// participants.
const engagementTotalsSQL = `
SELECT count(DISTINCT r.student_id),
       count(DISTINCT r.student_id) FILTER (WHERE NOT EXISTS (
           SELECT 1 FROM enrolments e WHERE e.classroom_id = $2 AND e.student_id = r.student_id)),
       count(*) FILTER (WHERE r.completed),
       count(*)
FROM ` + studentSessionsFrom + ` r
WHERE r.school_id = $1 AND r.classroom_id = $2 AND r.started_at >= $3 AND r.started_at < $4`

const engagementSessionsSQL = `
SELECT c.session_id, v.title, c.started_at, c.participants, c.completers, c.answers_all, c.response_ms_sum,
       (SELECT count(*) FROM ` + studentSessionsFrom + ` r
        WHERE r.school_id = c.school_id AND r.session_id = c.session_id
          AND NOT EXISTS (SELECT 1 FROM enrolments e WHERE e.classroom_id = c.classroom_id AND e.student_id = r.student_id))
FROM ` + classroomSessionsFrom + ` c
JOIN quiz_versions v ON v.quiz_id = c.quiz_id AND v.version = c.quiz_version
WHERE c.school_id = $1 AND c.classroom_id = $2 AND c.started_at >= $3 AND c.started_at < $4
  AND (c.started_at, c.session_id) < ($5, $6::uuid)
ORDER BY c.started_at DESC, c.session_id DESC
LIMIT $7`

// Engagement is the classroom engagement report of sc.SubjectID (§7).
func (s *Store) Engagement(ctx context.Context, sc Scope, class Classroom, q Query) (*Engagement, error) {
	rep := &Engagement{Classroom: class, Sessions: []EngagementSession{}}
	from, to := q.span()
	err := s.report(ctx, &rep.AsOf, []string{ViewStudentSessions, ViewClassroomSessions}, func(tx pgx.Tx) error {
		var err error
		if err := tx.QueryRow(ctx, enrolledSQL, sc.SchoolID, sc.SubjectID).Scan(&rep.Enrolled); err != nil {
			return fmt.Errorf("enrolled: %w", err)
		}
		var students, departed, completions, participations int64
		err = tx.QueryRow(ctx, engagementTotalsSQL, sc.SchoolID, sc.SubjectID, from, to).
			Scan(&students, &departed, &completions, &participations)
		if err != nil {
			return fmt.Errorf("engagement totals: %w", err)
		}
		rep.ParticipationRate = ratio(students, rep.Enrolled+departed)
		rep.CompletionRate = ratio(completions, participations)
		rep.NextCursor, err = s.engagementSessions(ctx, tx, sc, q, rep.Enrolled, q.Limit, appendTo(&rep.Sessions))
		return err
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

func (s *Store) engagementSessions(ctx context.Context, tx pgx.Tx, sc Scope, q Query, enrolled int64, limit int, fn func(EngagementSession) error) (string, error) {
	from, to := q.span()
	at, id := q.sessionCursor()
	rows, err := tx.Query(ctx, engagementSessionsSQL, sc.SchoolID, sc.SubjectID, from, to, at, id, limitArg(limit))
	if err != nil {
		return "", fmt.Errorf("engagement sessions: %w", err)
	}
	var e EngagementSession
	var started time.Time
	var completers, answers, msSum, departed int64
	return page(rows, limit, []any{&e.SessionID, &e.QuizTitle, &started, &e.Participants, &completers, &answers, &msSum, &departed},
		func() (quiz.Cursor, error) {
			e.StartedAt = quiz.Time(started)
			e.ParticipationRate = ratio(e.Participants, enrolled+departed)
			e.CompletionRate = ratio(completers, e.Participants)
			e.AvgResponseMS = mean(msSum, answers)
			return quiz.Cursor{Time: started, ID: e.SessionID}, fn(e)
		})
}

// ---- Item statistics (effectiveness and the session report) ----

// questionStatsHead + filter column + questionStatsTail sums the per-session sufficient statistics of the
// questions selected by a filter over the item statistics (r) and
// computes, per question:
//   - p_correct = correct ÷ scored attempts (null for polls);
//   - discrimination: the point-biserial correlation, i.e. Pearson's r
//     between x (1 if correct) and y (score on the rest of the session):
//     (nΣxy − ΣxΣy) / √((nΣx − (Σx)²)(nΣy² − (Σy)²)), in exact numeric
//     until the square root; null for polls, under 5 attempts, or when
//     either variable does not vary (r undefined);
//   - the distribution over every option of the question (0 for unpicked);
//   - the top wrong option: most picked in wrong answers among options not
//     in the correct set, ties to the earlier option; null if none.
//
// $1 school, $2 subject (quiz or session), $3/$4 start-time range, $5/$6 the
// cursor (quiz version descending, then index), $7 the limit.
const questionStatsHead = `
WITH r AS (
    SELECT r.question_id, r.attempts, r.scored, r.correct, r.response_ms_sum,
           r.rest_sum, r.rest_sq_sum, r.rest_correct_sum, r.distribution, r.wrong_picks
    FROM ` + questionStatsFrom + ` r
    WHERE r.school_id = $1 AND `

const questionStatsTail = ` = $2 AND r.started_at >= $3 AND r.started_at < $4
), st AS (
    SELECT question_id, sum(attempts) AS attempts, sum(scored) AS n, sum(correct) AS sx,
           sum(response_ms_sum) AS ms, sum(rest_sum) AS sy, sum(rest_sq_sum) AS syy,
           sum(rest_correct_sum) AS sxy
    FROM r
    GROUP BY question_id
), picks AS (
    SELECT r.question_id, d.key AS option_id, sum(d.value::bigint) AS n
    FROM r CROSS JOIN LATERAL jsonb_each_text(r.distribution) AS d
    GROUP BY r.question_id, d.key
), wrong AS (
    SELECT r.question_id, d.key AS option_id, sum(d.value::bigint) AS n
    FROM r CROSS JOIN LATERAL jsonb_each_text(r.wrong_picks) AS d
    GROUP BY r.question_id, d.key
)
SELECT q.id, q.quiz_version, q.idx, q.text, q.kind, st.attempts, st.ms,
       CASE WHEN q.kind = 'poll' OR st.n = 0 THEN NULL
            ELSE st.sx::float8 / st.n END AS p_correct,
       CASE WHEN q.kind = 'poll' OR st.n < 5 THEN NULL
            ELSE ((st.n * st.sxy - st.sx * st.sy)::float8
                  / NULLIF(sqrt(((st.n * st.sx - st.sx * st.sx) * (st.n * st.syy - st.sy * st.sy))::float8), 0))
       END AS discrimination,
       (SELECT coalesce(jsonb_object_agg(o.opt ->> 'id', coalesce(p.n, 0)), '{}')
        FROM jsonb_array_elements(q.options) AS o(opt)
        LEFT JOIN picks p ON p.question_id = q.id AND p.option_id = o.opt ->> 'id') AS distribution,
       (SELECT w.option_id
        FROM jsonb_array_elements(q.options) WITH ORDINALITY AS o(opt, pos)
        JOIN wrong w ON w.question_id = q.id AND w.option_id = o.opt ->> 'id'
        WHERE q.kind <> 'poll' AND NOT (w.option_id = ANY (q.correct)) AND w.n > 0
        ORDER BY w.n DESC, o.pos
        LIMIT 1) AS top_wrong_option_id,
       q.options
FROM st
JOIN questions q ON q.id = st.question_id
WHERE q.school_id = $1
  AND (q.quiz_version < $5 OR (q.quiz_version = $5 AND q.idx > $6))
ORDER BY q.quiz_version DESC, q.idx
LIMIT $7`

// The item statistics of a quiz (all its sessions in range) and of one
// session.
const (
	quizQuestionStatsSQL    = questionStatsHead + "r.quiz_id" + questionStatsTail
	sessionQuestionStatsSQL = questionStatsHead + "r.session_id" + questionStatsTail
)

// questionStats calls fn for each question selected by sql (one of the two
// above) for sc.SubjectID, after q's cursor, at most limit (0: all).
func (s *Store) questionStats(ctx context.Context, tx pgx.Tx, sql string, sc Scope, q Query, limit int, fn func(QuestionStat) error) (string, error) {
	from, to := q.span()
	version, index := q.questionCursor()
	rows, err := tx.Query(ctx, sql, sc.SchoolID, sc.SubjectID, from, to, version, index, limitArg(limit))
	if err != nil {
		return "", fmt.Errorf("question statistics: %w", err)
	}
	var qs QuestionStat
	var msSum int64
	return page(rows, limit, []any{&qs.QuestionID, &qs.QuizVersion, &qs.Index, &qs.Text, &qs.Kind, &qs.Attempts, &msSum,
		&qs.PCorrect, &qs.Discrimination, &qs.Distribution, &qs.TopWrongOptionID, &qs.Options},
		func() (quiz.Cursor, error) {
			qs.AvgResponseMS = mean(msSum, qs.Attempts)
			err := fn(qs)
			// Scan fills maps and slices in place: the next row needs its own.
			qs.Distribution, qs.Options = nil, nil
			return quiz.Cursor{Version: qs.QuizVersion, Index: qs.Index, ID: lastUUID}, err
		})
}

const quizSessionsSQL = `
SELECT count(*) FROM ` + classroomSessionsFrom + ` c
WHERE school_id = $1 AND quiz_id = $2 AND started_at >= $3 AND started_at < $4`

// Effectiveness is the content effectiveness report of quiz sc.SubjectID:
// every question of every version run in the sessions in range, latest
// version first, in question order.
func (s *Store) Effectiveness(ctx context.Context, sc Scope, qz QuizRef, q Query) (*Effectiveness, error) {
	rep := &Effectiveness{Quiz: qz, Questions: []QuestionStat{}}
	from, to := q.span()
	err := s.report(ctx, &rep.AsOf, []string{ViewClassroomSessions, ViewQuestionStats}, func(tx pgx.Tx) error {
		var err error
		if err := tx.QueryRow(ctx, quizSessionsSQL, sc.SchoolID, sc.SubjectID, from, to).Scan(&rep.Sessions); err != nil {
			return fmt.Errorf("effectiveness sessions: %w", err)
		}
		rep.NextCursor, err = s.questionStats(ctx, tx, quizQuestionStatsSQL, sc, q, q.Limit, appendTo(&rep.Questions))
		return err
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// ---- Session report ----

const sessionParticipantsSQL = `
SELECT coalesce(max(participants), 0) FROM ` + classroomSessionsFrom + ` c
WHERE school_id = $1 AND session_id = $2 AND started_at >= $3 AND started_at < $4`

const leaderboardSQL = `
SELECT r.student_id, u.name, r.score, r.rank
FROM ` + studentSessionsFrom + ` r
JOIN users u ON u.id = r.student_id
WHERE r.school_id = $1 AND r.session_id = $2 AND r.started_at >= $3 AND r.started_at < $4
ORDER BY r.rank, u.name, r.student_id`

// Session is the report of one session: its state is read live (info), its
// figures from the views.
func (s *Store) Session(ctx context.Context, sc Scope, info SessionInfo, q Query) (*SessionReport, error) {
	rep := &SessionReport{Session: info, Questions: []QuestionStat{}, Leaderboard: []LeaderEntry{}}
	from, to := q.span()
	err := s.report(ctx, &rep.AsOf, []string{ViewStudentSessions, ViewClassroomSessions, ViewQuestionStats}, func(tx pgx.Tx) error {
		var err error
		if err := tx.QueryRow(ctx, sessionParticipantsSQL, sc.SchoolID, sc.SubjectID, from, to).Scan(&rep.Participants); err != nil {
			return fmt.Errorf("session participants: %w", err)
		}
		rows, _ := tx.Query(ctx, leaderboardSQL, sc.SchoolID, sc.SubjectID, from, to)
		rep.Leaderboard, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (LeaderEntry, error) {
			var l LeaderEntry
			return l, r.Scan(&l.UserID, &l.Name, &l.Score, &l.Rank)
		})
		if err != nil {
			return fmt.Errorf("session leaderboard: %w", err)
		}
		rep.NextCursor, err = s.questionStats(ctx, tx, sessionQuestionStatsSQL, sc, q, q.Limit, appendTo(&rep.Questions))
		return err
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// isUUID reports whether s is an id in canonical form (quiz.ParseID);
// anything else cannot name a row and is answered as not found without
// asking PostgreSQL.
func isUUID(s string) bool { return quiz.ValidID(s) }

package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/protocol"
	"github.com/quizcast/quizcast/internal/quiz"
)

// SessionStore keeps live sessions. Every command runs in one transaction
// that locks the session row, changes it, bumps its broadcast counter,
// records the broadcasts and writes the outbox events; the caller publishes
// the returned envelope only after that commit.
type SessionStore struct {
	pool *pgxpool.Pool
	// afterCommit runs after a commit that wrote outbox rows (it wakes the
	// relays); it must not block.
	afterCommit func()
}

// NewSessionStore returns a store over pool; afterCommit (may be nil) runs
// after every commit that wrote outbox rows.
func NewSessionStore(pool *pgxpool.Pool, afterCommit func()) *SessionStore {
	if afterCommit == nil {
		afterCommit = func() {}
	}
	return &SessionStore{pool: pool, afterCommit: afterCommit}
}

// Committed is what a command changed: the snapshot after it and the
// envelope to publish to the session's channel.
type Committed struct {
	Session  quiz.Session
	Snapshot protocol.Snapshot
	Envelope protocol.Envelope
}

// Access is what the caller may do in a session.
type Access struct {
	Session  quiz.Session
	Teacher  bool // the session's teacher
	Enrolled bool // a student enrolled in its classroom
	Kicked   bool
	Name     string // the caller's display name
}

const sessionColumns = `id, school_id, classroom_id, quiz_id, quiz_version, teacher_id, state, seq,
	current_index, question_count, created_at, started_at, ended_at`

func scanSession(row pgx.Row) (quiz.Session, error) {
	var s quiz.Session
	err := row.Scan(&s.ID, &s.SchoolID, &s.ClassroomID, &s.QuizID, &s.QuizVersion, &s.TeacherID, &s.State, &s.Seq,
		&s.CurrentIndex, &s.QuestionCount, &s.CreatedAt, &s.StartedAt, &s.EndedAt)
	return s, err
}

const createSessionSQL = `
WITH c AS (
	SELECT id FROM classrooms
	WHERE id = $1 AND school_id = $3 AND (teacher_id = $4 OR $5)
), q AS (
	SELECT qz.id, qz.current_version, (SELECT count(*) FROM questions qs
		WHERE qs.quiz_id = qz.id AND qs.quiz_version = qz.current_version) AS n
	FROM quizzes qz
	WHERE qz.id = $2 AND qz.school_id = $3 AND qz.archived_at IS NULL AND (qz.owner_id = $4 OR $5)
)
INSERT INTO sessions (school_id, classroom_id, quiz_id, quiz_version, teacher_id, question_count, created_at)
SELECT $3, c.id, q.id, q.current_version, $4, q.n, $6 FROM c, q
RETURNING ` + sessionColumns

// Create starts a session in the lobby for the teacher's classroom and quiz
// (an admin may use any of the school). Another teacher's classroom or quiz
// is not found.
func (s *SessionStore) Create(ctx context.Context, schoolID, userID string, admin bool, quizID, classroomID string) (quiz.Session, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return quiz.Session{}, mapError(err)
	}
	defer tx.Rollback(ctx)
	now := time.Now().UTC().Truncate(time.Millisecond)
	sess, err := scanSession(tx.QueryRow(ctx, createSessionSQL, classroomID, quizID, schoolID, userID, admin, now))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return quiz.Session{}, quiz.Errorf(quiz.CodeNotFound, "no such quiz or classroom")
		}
		return quiz.Session{}, mapError(err)
	}
	ev := quiz.Event{Name: quiz.EventSessionCreated, OccurredAt: now, SchoolID: schoolID, ClassroomID: classroomID,
		SessionID: sess.ID, QuizID: quizID, UserID: userID, App: quiz.AppWhiteboard,
		Data: map[string]any{"quiz_version": sess.QuizVersion, "question_count": sess.QuestionCount}}
	if err := insertEvents(ctx, tx, ev); err != nil {
		return quiz.Session{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return quiz.Session{}, mapError(err)
	}
	s.afterCommit()
	return sess, nil
}

const accessSQL = `
SELECT ` + sessionColumns + `,
	EXISTS (SELECT 1 FROM enrolments e WHERE e.classroom_id = s.classroom_id AND e.student_id = $3),
	EXISTS (SELECT 1 FROM session_participants p WHERE p.session_id = s.id AND p.student_id = $3 AND p.kicked_at IS NOT NULL),
	(SELECT name FROM users WHERE id = $3)
FROM sessions s WHERE s.id = $1 AND s.school_id = $2`

// Access loads the session of the caller's school and what the caller is
// in it. A session of another school is not found.
func (s *SessionStore) Access(ctx context.Context, schoolID, sessionID, userID string) (Access, error) {
	var a Access
	var name *string
	err := s.pool.QueryRow(ctx, accessSQL, sessionID, schoolID, userID).Scan(
		&a.Session.ID, &a.Session.SchoolID, &a.Session.ClassroomID, &a.Session.QuizID, &a.Session.QuizVersion,
		&a.Session.TeacherID, &a.Session.State, &a.Session.Seq, &a.Session.CurrentIndex, &a.Session.QuestionCount,
		&a.Session.CreatedAt, &a.Session.StartedAt, &a.Session.EndedAt, &a.Enrolled, &a.Kicked, &name)
	if err != nil {
		return Access{}, mapError(err)
	}
	a.Teacher = a.Session.TeacherID == userID
	if name != nil {
		a.Name = *name
	}
	return a, nil
}

// Questions returns the questions of a quiz version in order. Versions are
// immutable, so callers may cache the answer.
func (s *SessionStore) Questions(ctx context.Context, schoolID, quizID string, version int) ([]quiz.Question, error) {
	return queryQuestions(ctx, s.pool, schoolID, quizID, version)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func queryQuestions(ctx context.Context, q querier, schoolID, quizID string, version int) ([]quiz.Question, error) {
	rows, err := q.Query(ctx, questionsSQL, schoolID, quizID, version)
	if err != nil {
		return nil, mapError(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (quiz.Question, error) {
		var qu quiz.Question
		var opts []byte
		if err := r.Scan(&qu.ID, &qu.Index, &qu.Text, &qu.Kind, &opts, &qu.Correct, &qu.TimeLimitS, &qu.Points); err != nil {
			return qu, err
		}
		if err := json.Unmarshal(opts, &qu.Options); err != nil {
			return qu, fmt.Errorf("decode options of question %s: %w", qu.ID, err)
		}
		if qu.Correct == nil {
			qu.Correct = []string{}
		}
		return qu, nil
	})
	return out, mapError(err)
}

const runQuestionSQL = `
SELECT sq.opened_at, sq.deadline, sq.closed_at, q.id, q.idx, q.text, q.kind, q.options, q.correct, q.time_limit_s, q.points
FROM session_questions sq JOIN questions q ON q.id = sq.question_id
WHERE sq.session_id = $1 AND sq.idx = $2`

func currentQuestion(ctx context.Context, q querier, sessionID string, idx int) (quiz.RunQuestion, error) {
	var rq quiz.RunQuestion
	var opts []byte
	err := q.QueryRow(ctx, runQuestionSQL, sessionID, idx).Scan(&rq.OpenedAt, &rq.Deadline, &rq.ClosedAt,
		&rq.Question.ID, &rq.Question.Index, &rq.Question.Text, &rq.Question.Kind, &opts, &rq.Question.Correct,
		&rq.Question.TimeLimitS, &rq.Question.Points)
	if err != nil {
		return rq, mapError(err)
	}
	return rq, json.Unmarshal(opts, &rq.Question.Options)
}

const openedSQL = `SELECT opened_at, deadline, closed_at FROM session_questions WHERE session_id = $1 AND question_id = $2`

// Opened returns when a question opened in a session and its deadline; not
// found while it has not opened.
func (s *SessionStore) Opened(ctx context.Context, sessionID, questionID string) (opened, deadline time.Time, err error) {
	var closed *time.Time
	err = s.pool.QueryRow(ctx, openedSQL, sessionID, questionID).Scan(&opened, &deadline, &closed)
	return opened, deadline, mapError(err)
}

const participantCountSQL = `SELECT count(*) FROM session_participants WHERE session_id = $1 AND kicked_at IS NULL`

func snapshot(ctx context.Context, q querier, sess quiz.Session) (protocol.Snapshot, error) {
	snap := protocol.Snapshot{
		ID: sess.ID, QuizID: sess.QuizID, QuizVersion: sess.QuizVersion, ClassroomID: sess.ClassroomID,
		TeacherID: sess.TeacherID, State: sess.State, CreatedAt: quiz.Time(sess.CreatedAt),
		StartedAt: quiz.TimePtr(sess.StartedAt), EndedAt: quiz.TimePtr(sess.EndedAt),
		QuestionCount: sess.QuestionCount, Seq: sess.Seq,
	}
	if err := q.QueryRow(ctx, participantCountSQL, sess.ID).Scan(&snap.Participants); err != nil {
		return snap, mapError(err)
	}
	if sess.CurrentIndex != nil {
		rq, err := currentQuestion(ctx, q, sess.ID, *sess.CurrentIndex)
		if err != nil {
			return snap, err
		}
		snap.CurrentQuestion = &protocol.CurrentQuestion{
			PublicQuestion: protocol.Public(rq.Question), OpenedAt: quiz.Time(rq.OpenedAt),
			Deadline: quiz.Time(rq.Deadline), Closed: rq.ClosedAt != nil,
		}
	}
	return snap, nil
}

// Snapshot returns the session snapshot of §5.
func (s *SessionStore) Snapshot(ctx context.Context, schoolID, sessionID string) (protocol.Snapshot, error) {
	sess, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1 AND school_id = $2`, sessionID, schoolID))
	if err != nil {
		return protocol.Snapshot{}, mapError(err)
	}
	return snapshot(ctx, s.pool, sess)
}

const listClassroomSessionsSQL = `
SELECT ` + sessionColumns + ` FROM sessions
WHERE school_id = $1 AND classroom_id = $2 AND ($3 = false OR state <> 'ended')
	AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5::uuid))
ORDER BY created_at DESC, id DESC LIMIT $6`

// ListByClassroom returns the classroom's sessions, newest first, paged by
// (created_at, id); live keeps the lobby and running ones.
func (s *SessionStore) ListByClassroom(ctx context.Context, schoolID, classroomID string, live bool, p quiz.Page) ([]protocol.Snapshot, *quiz.Cursor, error) {
	var beforeAt *time.Time
	beforeID := zeroUUID
	if p.After != nil {
		beforeAt, beforeID = &p.After.Time, p.After.ID
	}
	rows, err := s.pool.Query(ctx, listClassroomSessionsSQL, schoolID, classroomID, live, beforeAt, beforeID, p.Limit+1)
	if err != nil {
		return nil, nil, mapError(err)
	}
	sessions, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (quiz.Session, error) { return scanSession(r) })
	if err != nil {
		return nil, nil, mapError(err)
	}
	sessions, next := page(sessions, p.Limit, func(s quiz.Session) quiz.Cursor { return timeCursor(s.CreatedAt, s.ID) })
	out := make([]protocol.Snapshot, 0, len(sessions))
	for _, sess := range sessions {
		snap, err := snapshot(ctx, s.pool, sess)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, snap)
	}
	return out, next, nil
}

// command is one session command in progress: the locked session and what
// the command will broadcast and record.
type command struct {
	tx       pgx.Tx
	sess     quiz.Session
	now      time.Time
	firstSeq int64
	frames   []protocol.Broadcast
	results  map[string][]byte
	events   []quiz.Event
	app      quiz.App
	userID   string
}

// broadcast appends a broadcast with the next seq.
func (c *command) broadcast(typ string, data any) error {
	f, err := protocol.EncodeBroadcast(typ, c.sess.Seq+1, data)
	if err != nil {
		return err
	}
	c.sess.Seq++
	c.frames = append(c.frames, f)
	return nil
}

func (c *command) event(name quiz.EventName, data map[string]any) {
	c.events = append(c.events, quiz.Event{Name: name, OccurredAt: c.now, SchoolID: c.sess.SchoolID,
		ClassroomID: c.sess.ClassroomID, SessionID: c.sess.ID, QuizID: c.sess.QuizID, UserID: c.userID,
		App: c.app, Data: data})
}

// lockSessionSQL serializes the commands of a session. NO KEY UPDATE (the
// lock an UPDATE of non-key columns takes anyway) leaves the KEY SHARE
// that answers' foreign keys take on the session row free, so a close
// waiting on an answer batch's FOR SHARE cannot deadlock with it.
const lockSessionSQL = `SELECT ` + sessionColumns + ` FROM sessions WHERE id = $1 AND school_id = $2 FOR NO KEY UPDATE`

const saveSessionSQL = `
UPDATE sessions SET state = $2, seq = $3, current_index = $4, started_at = $5, ended_at = $6 WHERE id = $1`

const insertBroadcastSQL = `INSERT INTO session_broadcasts (school_id, session_id, seq, frame) VALUES ($1, $2, $3, $4)`

// run locks the session, lets fn change it, then saves the session, its
// broadcasts and its events in the same transaction.
func (s *SessionStore) run(ctx context.Context, schoolID, sessionID, userID string, app quiz.App, fn func(c *command) error) (Committed, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Committed{}, mapError(err)
	}
	defer tx.Rollback(ctx)
	sess, err := scanSession(tx.QueryRow(ctx, lockSessionSQL, sessionID, schoolID))
	if err != nil {
		return Committed{}, mapError(err)
	}
	c := &command{tx: tx, sess: sess, now: time.Now().UTC().Truncate(time.Millisecond), firstSeq: sess.Seq + 1, app: app, userID: userID}
	if err := fn(c); err != nil {
		return Committed{}, err
	}
	if len(c.frames) == 0 && len(c.events) == 0 {
		snap, err := snapshot(ctx, tx, c.sess)
		return Committed{Session: c.sess, Snapshot: snap}, err
	}
	b := &pgx.Batch{}
	b.Queue(saveSessionSQL, c.sess.ID, c.sess.State, c.sess.Seq, c.sess.CurrentIndex, c.sess.StartedAt, c.sess.EndedAt)
	for _, f := range c.frames {
		b.Queue(insertBroadcastSQL, c.sess.SchoolID, c.sess.ID, f.Seq, string(f.Raw))
	}
	if err := queueEvents(b, c.events...); err != nil {
		return Committed{}, err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return Committed{}, mapError(err)
	}
	snap, err := snapshot(ctx, tx, c.sess)
	if err != nil {
		return Committed{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Committed{}, mapError(err)
	}
	s.afterCommit()
	return Committed{Session: c.sess, Snapshot: snap, Envelope: protocol.Envelope{Broadcasts: c.frames, Results: c.results}}, nil
}

// Start moves the session from the lobby to running.
func (s *SessionStore) Start(ctx context.Context, schoolID, sessionID, userID string, app quiz.App) (Committed, error) {
	return s.run(ctx, schoolID, sessionID, userID, app, func(c *command) error {
		if err := quiz.CheckStart(c.sess.State); err != nil {
			return err
		}
		c.sess.State = quiz.StateRunning
		c.sess.StartedAt = &c.now
		c.event(quiz.EventSessionStarted, map[string]any{"quiz_version": c.sess.QuizVersion})
		return c.broadcast(protocol.TypeSessionStarted, protocol.SessionStarted{StartedAt: quiz.Time(c.now)})
	})
}

const openQuestionSQL = `
INSERT INTO session_questions (school_id, session_id, idx, question_id, opened_at, deadline)
SELECT $1, $2, $3, q.id, $4::timestamptz, $4::timestamptz + make_interval(secs => q.time_limit_s)
FROM questions q WHERE q.quiz_id = $5 AND q.quiz_version = $6 AND q.idx = $3`

// Next closes the open question, if any, and opens the next one.
func (s *SessionStore) Next(ctx context.Context, schoolID, sessionID, userID string, app quiz.App) (Committed, error) {
	return s.run(ctx, schoolID, sessionID, userID, app, func(c *command) error {
		if err := quiz.CheckNext(c.sess); err != nil {
			return err
		}
		if _, err := s.closeOpen(ctx, c, false); err != nil {
			return err
		}
		idx := 0
		if c.sess.CurrentIndex != nil {
			idx = *c.sess.CurrentIndex + 1
		}
		tag, err := c.tx.Exec(ctx, openQuestionSQL, c.sess.SchoolID, c.sess.ID, idx, c.now, c.sess.QuizID, c.sess.QuizVersion)
		if err != nil {
			return mapError(err)
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("open question %d of session %s: question missing", idx, c.sess.ID)
		}
		c.sess.CurrentIndex = &idx
		rq, err := currentQuestion(ctx, c.tx, c.sess.ID, idx)
		if err != nil {
			return err
		}
		c.event(quiz.EventQuestionDisplayed, map[string]any{"question_id": rq.Question.ID, "index": idx,
			"opened_at": quiz.Time(rq.OpenedAt), "deadline": quiz.Time(rq.Deadline)})
		return c.broadcast(protocol.TypeQuestionOpened, protocol.QuestionOpened{
			Question: protocol.Public(rq.Question), OpenedAt: quiz.Time(rq.OpenedAt), Deadline: quiz.Time(rq.Deadline)})
	})
}

// Close closes the open question before its deadline.
func (s *SessionStore) Close(ctx context.Context, schoolID, sessionID, userID string, app quiz.App) (Committed, error) {
	return s.run(ctx, schoolID, sessionID, userID, app, func(c *command) error {
		if c.sess.State != quiz.StateRunning {
			return quiz.Errorf(quiz.CodeConflict, "the session is %s; no question is open", c.sess.State)
		}
		closed, err := s.closeOpen(ctx, c, false)
		if err != nil {
			return err
		}
		if !closed {
			return quiz.Errorf(quiz.CodeConflict, "no question is open")
		}
		return nil
	})
}

// CloseDue closes the session's open question if its deadline has passed.
// Any node may call it; it is idempotent, so racing nodes close it once.
func (s *SessionStore) CloseDue(ctx context.Context, schoolID, sessionID string) (Committed, error) {
	return s.run(ctx, schoolID, sessionID, "", quiz.AppServer, func(c *command) error {
		if c.sess.State != quiz.StateRunning {
			return nil
		}
		_, err := s.closeOpen(ctx, c, true)
		return err
	})
}

// End closes the open question, if any, and ends the session.
func (s *SessionStore) End(ctx context.Context, schoolID, sessionID, userID string, app quiz.App) (Committed, error) {
	return s.run(ctx, schoolID, sessionID, userID, app, func(c *command) error {
		if err := quiz.CheckEnd(c.sess.State); err != nil {
			return err
		}
		if _, err := s.closeOpen(ctx, c, false); err != nil {
			return err
		}
		c.sess.State = quiz.StateEnded
		c.sess.EndedAt = &c.now
		c.event(quiz.EventSessionEnded, map[string]any{"questions_run": runCount(c.sess)})
		return c.broadcast(protocol.TypeSessionEnded, protocol.SessionEnded{EndedAt: quiz.Time(c.now)})
	})
}

func runCount(s quiz.Session) int {
	if s.CurrentIndex == nil {
		return 0
	}
	return *s.CurrentIndex + 1
}

const lockOpenQuestionSQL = `
SELECT idx FROM session_questions
WHERE session_id = $1 AND closed_at IS NULL AND ($2 = false OR deadline <= $3)
FOR UPDATE`

const markClosedSQL = `UPDATE session_questions SET closed_at = $3 WHERE session_id = $1 AND idx = $2`

const distributionSQL = `
SELECT c, count(*) FROM answers, unnest(choices) AS c
WHERE session_id = $1 AND session_created_at = $2 AND question_id = $3 GROUP BY c`

const answeredSQL = `SELECT count(*) FROM answers WHERE session_id = $1 AND session_created_at = $2 AND question_id = $3`

// standingsSQL scores every participant who was not kicked (and anyone who
// answered without ever connecting), with their answer to the question.
const standingsSQL = `
WITH people AS (
	SELECT student_id FROM session_participants WHERE session_id = $1 AND kicked_at IS NULL
	UNION
	SELECT student_id FROM answers WHERE session_id = $1 AND session_created_at = $2
	EXCEPT
	SELECT student_id FROM session_participants WHERE session_id = $1 AND kicked_at IS NOT NULL
)
SELECT p.student_id, u.name,
	coalesce((SELECT sum(a.points) FROM answers a WHERE a.session_id = $1 AND a.session_created_at = $2 AND a.student_id = p.student_id), 0),
	(SELECT a.correct FROM answers a WHERE a.session_id = $1 AND a.session_created_at = $2 AND a.student_id = p.student_id AND a.question_id = $3),
	coalesce((SELECT a.points FROM answers a WHERE a.session_id = $1 AND a.session_created_at = $2 AND a.student_id = p.student_id AND a.question_id = $3), 0),
	EXISTS (SELECT 1 FROM answers a WHERE a.session_id = $1 AND a.session_created_at = $2 AND a.student_id = p.student_id AND a.question_id = $3)
FROM people p JOIN users u ON u.id = p.student_id`

// LeaderboardSize is how many participants the leaderboard lists.
const LeaderboardSize = 10

// closeOpen closes the session's open question (only an overdue one when
// dueOnly), broadcasting question.closed and leaderboard and preparing each
// participant's result. It reports whether it closed one.
func (s *SessionStore) closeOpen(ctx context.Context, c *command, dueOnly bool) (bool, error) {
	var idx int
	err := c.tx.QueryRow(ctx, lockOpenQuestionSQL, c.sess.ID, dueOnly, c.now).Scan(&idx)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, mapError(err)
	}
	if _, err := c.tx.Exec(ctx, markClosedSQL, c.sess.ID, idx, c.now); err != nil {
		return false, mapError(err)
	}
	rq, err := currentQuestion(ctx, c.tx, c.sess.ID, idx)
	if err != nil {
		return false, err
	}
	qid := rq.Question.ID
	dist := make(map[string]int, len(rq.Question.Options))
	for _, o := range rq.Question.Options {
		dist[o.ID] = 0
	}
	rows, err := c.tx.Query(ctx, distributionSQL, c.sess.ID, c.sess.CreatedAt, qid)
	if err != nil {
		return false, mapError(err)
	}
	for rows.Next() {
		var opt string
		var n int
		if err := rows.Scan(&opt, &n); err != nil {
			rows.Close()
			return false, mapError(err)
		}
		dist[opt] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, mapError(err)
	}
	var answered, participants int
	if err := c.tx.QueryRow(ctx, answeredSQL, c.sess.ID, c.sess.CreatedAt, qid).Scan(&answered); err != nil {
		return false, mapError(err)
	}
	if err := c.tx.QueryRow(ctx, participantCountSQL, c.sess.ID).Scan(&participants); err != nil {
		return false, mapError(err)
	}

	type mine struct {
		correct  *bool
		points   int
		answered bool
	}
	var standings []quiz.Standing
	per := map[string]mine{}
	rows, err = c.tx.Query(ctx, standingsSQL, c.sess.ID, c.sess.CreatedAt, qid)
	if err != nil {
		return false, mapError(err)
	}
	for rows.Next() {
		var st quiz.Standing
		var m mine
		if err := rows.Scan(&st.UserID, &st.Name, &st.Score, &m.correct, &m.points, &m.answered); err != nil {
			rows.Close()
			return false, mapError(err)
		}
		standings = append(standings, st)
		per[st.UserID] = m
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, mapError(err)
	}
	ranked := quiz.Rank(standings)

	correct := rq.Question.Correct
	if correct == nil {
		correct = []string{}
	}
	if err := c.broadcast(protocol.TypeQuestionClosed, protocol.QuestionClosed{
		QuestionID: qid, Correct: correct, Distribution: dist, Answered: answered, Participants: participants,
	}); err != nil {
		return false, err
	}
	top := ranked[:min(len(ranked), LeaderboardSize)]
	if top == nil {
		top = []quiz.Standing{}
	}
	if err := c.broadcast(protocol.TypeLeaderboard, protocol.Leaderboard{Top: top}); err != nil {
		return false, err
	}
	if c.results == nil {
		c.results = map[string][]byte{}
	}
	for _, st := range ranked {
		m := per[st.UserID]
		res := protocol.Result{QuestionID: qid, Points: m.points, Score: st.Score, Rank: st.Rank}
		if rq.Question.Kind != quiz.KindPoll {
			ok := m.answered && m.correct != nil && *m.correct
			res.Correct = &ok
		}
		f, err := protocol.Encode(protocol.TypeResult, res)
		if err != nil {
			return false, err
		}
		c.results[st.UserID] = f
	}
	c.event(quiz.EventQuestionClosed, map[string]any{"question_id": qid, "index": idx, "answered": answered,
		"participants": participants, "distribution": dist, "due": dueOnly})
	return true, nil
}

const dueSessionsSQL = `
SELECT s.school_id, s.id FROM session_questions sq JOIN sessions s ON s.id = sq.session_id
WHERE sq.closed_at IS NULL AND sq.deadline <= $1 ORDER BY sq.deadline LIMIT $2`

// SessionRef names a session with its school.
type SessionRef struct {
	SchoolID  string
	SessionID string
}

// DueSessions lists sessions whose open question is past its deadline.
func (s *SessionStore) DueSessions(ctx context.Context, now time.Time, limit int) ([]SessionRef, error) {
	rows, err := s.pool.Query(ctx, dueSessionsSQL, now, limit)
	if err != nil {
		return nil, mapError(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SessionRef, error) {
		var ref SessionRef
		err := r.Scan(&ref.SchoolID, &ref.SessionID)
		return ref, err
	})
	return out, mapError(err)
}

const joinSQL = `
WITH ins AS (
	INSERT INTO session_participants (school_id, session_id, student_id) VALUES ($1, $2, $3)
	ON CONFLICT DO NOTHING RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM ins),
	(SELECT count(*) FROM session_participants WHERE session_id = $2 AND kicked_at IS NULL) + (SELECT count(*) FROM ins)`

// Join records that a student connected to the session. first is true the
// first time; count is the participants after it.
func (s *SessionStore) Join(ctx context.Context, sess quiz.Session, studentID string) (first bool, count int, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, 0, mapError(err)
	}
	defer tx.Rollback(ctx)
	if err := tx.QueryRow(ctx, joinSQL, sess.SchoolID, sess.ID, studentID).Scan(&first, &count); err != nil {
		return false, 0, mapError(err)
	}
	if first {
		ev := quiz.Event{Name: quiz.EventStudentJoined, SchoolID: sess.SchoolID, ClassroomID: sess.ClassroomID,
			SessionID: sess.ID, QuizID: sess.QuizID, UserID: studentID, App: quiz.AppNotebook, Data: map[string]any{}}
		if err := insertEvents(ctx, tx, ev); err != nil {
			return false, 0, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, 0, mapError(err)
	}
	if first {
		s.afterCommit()
	}
	return first, count, nil
}

// Left records that a student's last socket on this node closed.
func (s *SessionStore) Left(ctx context.Context, sess quiz.Session, studentID string) error {
	ev := quiz.Event{Name: quiz.EventStudentLeft, SchoolID: sess.SchoolID, ClassroomID: sess.ClassroomID,
		SessionID: sess.ID, QuizID: sess.QuizID, UserID: studentID, App: quiz.AppNotebook, Data: map[string]any{}}
	if err := insertEvents(ctx, s.pool, ev); err != nil {
		return err
	}
	s.afterCommit()
	return nil
}

const kickSQL = `
INSERT INTO session_participants (school_id, session_id, student_id, kicked_at)
SELECT $1, $2, e.student_id, $4 FROM enrolments e WHERE e.classroom_id = $3 AND e.student_id = $5
ON CONFLICT (session_id, student_id) DO UPDATE SET kicked_at = coalesce(session_participants.kicked_at, EXCLUDED.kicked_at)`

// Kick removes a student of the classroom from the session for good and
// returns the participants left.
func (s *SessionStore) Kick(ctx context.Context, sess quiz.Session, studentID string) (int, error) {
	tag, err := s.pool.Exec(ctx, kickSQL, sess.SchoolID, sess.ID, sess.ClassroomID, time.Now().UTC(), studentID)
	if err != nil {
		return 0, mapError(err)
	}
	if tag.RowsAffected() == 0 {
		return 0, quiz.Errorf(quiz.CodeNotFound, "no such student in this classroom")
	}
	var n int
	err = s.pool.QueryRow(ctx, participantCountSQL, sess.ID).Scan(&n)
	return n, mapError(err)
}

const broadcastsSQL = `SELECT frame FROM session_broadcasts WHERE session_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq`

// Broadcasts returns the session's broadcasts with after < seq <= upto.
func (s *SessionStore) Broadcasts(ctx context.Context, sessionID string, after, upto int64) ([]protocol.Broadcast, error) {
	rows, err := s.pool.Query(ctx, broadcastsSQL, sessionID, after, upto)
	if err != nil {
		return nil, mapError(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (protocol.Broadcast, error) {
		var raw []byte
		if err := r.Scan(&raw); err != nil {
			return protocol.Broadcast{}, err
		}
		return protocol.ParseBroadcast(raw)
	})
	return out, mapError(err)
}

// Seqs returns the broadcast counters of sessions, in one query.
func (s *SessionStore) Seqs(ctx context.Context, sessionIDs []string) (map[string]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, seq FROM sessions WHERE id = ANY($1::uuid[])`, sessionIDs)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	out := make(map[string]int64, len(sessionIDs))
	for rows.Next() {
		var id string
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			return nil, mapError(err)
		}
		out[id] = seq
	}
	return out, mapError(rows.Err())
}

// Seq returns the session's current broadcast counter.
func (s *SessionStore) Seq(ctx context.Context, sessionID string) (int64, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, `SELECT seq FROM sessions WHERE id = $1`, sessionID).Scan(&seq)
	return seq, mapError(err)
}

const purgeBroadcastsSQL = `
DELETE FROM session_broadcasts WHERE (session_id, seq) IN (
	SELECT b.session_id, b.seq FROM session_broadcasts b JOIN sessions s ON s.id = b.session_id
	WHERE s.state = 'ended' AND s.ended_at < $1 LIMIT 5000)`

// PurgeBroadcasts deletes the recorded broadcasts of sessions that ended
// before the cutoff: they serve gap filling of live sessions only (a
// socket of an ended session gets the snapshot). It deletes in batches and
// returns how many it deleted.
func (s *SessionStore) PurgeBroadcasts(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, purgeBroadcastsSQL, before)
		if err != nil {
			return total, mapError(err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < 5000 {
			return total, nil
		}
	}
}

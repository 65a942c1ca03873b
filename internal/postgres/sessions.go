package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
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
// (an admin may use any of the school), created at now. Another teacher's
// classroom or quiz is not found.
func (s *SessionStore) Create(ctx context.Context, schoolID, userID string, admin bool, quizID, classroomID string, now time.Time) (quiz.Session, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return quiz.Session{}, mapError(err)
	}
	defer tx.Rollback(ctx)
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
	var participants int
	if err := q.QueryRow(ctx, participantCountSQL, sess.ID).Scan(&participants); err != nil {
		return protocol.Snapshot{}, mapError(err)
	}
	var current *quiz.RunQuestion
	if sess.CurrentIndex != nil {
		rq, err := currentQuestion(ctx, q, sess.ID, *sess.CurrentIndex)
		if err != nil {
			return protocol.Snapshot{}, err
		}
		current = &rq
	}
	return protocol.SnapshotOf(sess, current, participants), nil
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

// Decide turns what a command read under the session's lock into what it
// writes: the transition (by the rules of quiz.Apply) and its broadcasts,
// encoded once, in seq order. It runs between the command's two round
// trips, so it must not block.
type Decide func(quiz.Room) (quiz.Transition, []protocol.Broadcast, error)

// Committed is what a command changed: the transition and the broadcasts
// it recorded.
type Committed struct {
	Transition quiz.Transition
	Broadcasts []protocol.Broadcast
}

// lockSessionSQL serializes the commands of a session, then takes the
// session's answer lock exclusively, in one statement (a statement costs
// PostgreSQL ≈ 40 µs of CPU whatever it does; s is materialized so that
// the row is locked first, in the order a due close's claim takes both).
//
// The row lock: NO KEY UPDATE (the lock an UPDATE of non-key columns
// takes anyway) leaves the KEY SHARE that answers' foreign keys take on
// the session row free. It matches the creation time the caller gave too,
// so that the players' read, which takes that time as the answers'
// partition key, cannot read the wrong month: a wrong time finds no
// session.
//
// The answer lock (see answerLockKey) waits for the answer batches in
// flight, whose answers the players' read, a later statement, then sees;
// batches that come after wait for the command's commit and see the
// question as it left it.
const lockSessionSQL = `
WITH s AS MATERIALIZED (
	SELECT ` + sessionColumns + ` FROM sessions WHERE id = $1 AND school_id = $2 AND created_at = $3 FOR NO KEY UPDATE
)
SELECT s.* FROM s CROSS JOIN LATERAL (SELECT pg_advisory_xact_lock($4, hashtext(s.id::text))) l`

// lockCurrentSQL reads the session's current question (the session row's
// lock, taken before, keeps it from changing).
const lockCurrentSQL = `
SELECT sq.idx, sq.question_id, sq.opened_at, sq.deadline, sq.closed_at
FROM session_questions sq JOIN sessions s ON s.id = sq.session_id AND sq.idx = s.current_index
WHERE sq.session_id = $1`

// claimDueSQL claims a due close, in one statement: the session row,
// skipped when another node or a command holds it (that one closes the
// question), its overdue question, then — for the claimed row only, which
// is why c is materialized — the session's answer lock (as lockSessionSQL).
// Exactly one caller gets the row; losers wait for nothing.
const claimDueSQL = `
WITH c AS MATERIALIZED (
	SELECT s.id, s.school_id, s.classroom_id, s.quiz_id, s.quiz_version, s.teacher_id, s.state, s.seq,
		s.current_index, s.question_count, s.created_at, s.started_at, s.ended_at, sq.idx, sq.question_id, sq.opened_at, sq.deadline, sq.closed_at
	FROM sessions s JOIN session_questions sq ON sq.session_id = s.id AND sq.idx = s.current_index
	WHERE s.id = $1 AND s.school_id = $2 AND s.state = 'running' AND sq.closed_at IS NULL AND sq.deadline <= $3
	FOR NO KEY UPDATE OF s SKIP LOCKED
)
SELECT c.* FROM c CROSS JOIN LATERAL (SELECT pg_advisory_xact_lock($4, hashtext(c.id::text))) l`

// playersSQL reads every student who joined or answered, with their score
// over the session and their answer to the open question (none when no
// question is open). It runs as its own statement after the locks, so its
// snapshot holds every answer committed before the close. The session's
// creation time ($2) is the answers' partition key: as a parameter,
// PostgreSQL prunes the other months when the executor starts, where a
// subquery would leave every monthly partition to set up at each command
// (measured with 28 partitions, RETENTION_MONTHS' steady state: +0.3 ms of
// PostgreSQL CPU a command).
const playersSQL = `
WITH open AS (
	SELECT question_id FROM session_questions WHERE session_id = $1 AND closed_at IS NULL
), a AS (
	SELECT student_id, sum(points)::int AS score FROM answers
	WHERE session_id = $1 AND session_created_at = $2 AND EXISTS (SELECT 1 FROM open)
	GROUP BY student_id
), m AS (
	SELECT student_id, choices, correct, points FROM answers
	WHERE session_id = $1 AND session_created_at = $2 AND question_id = (SELECT question_id FROM open)
), p AS (
	SELECT student_id, kicked_at IS NOT NULL AS kicked FROM session_participants WHERE session_id = $1
)
SELECT x.id, (SELECT name FROM users WHERE id = x.id), x.joined, x.kicked, x.score,
	m.student_id IS NOT NULL, m.choices, m.correct, coalesce(m.points, 0)
FROM (
	SELECT coalesce(p.student_id, a.student_id) AS id, p.student_id IS NOT NULL AS joined,
		coalesce(p.kicked, false) AS kicked, coalesce(a.score, 0) AS score
	FROM p FULL JOIN a ON a.student_id = p.student_id
) x LEFT JOIN m ON m.student_id = x.id`

// writeSQL saves everything a command changed in one statement: the
// session, the close of its question, the opening of the next, the
// broadcasts and the outbox events.
const writeSQL = `
WITH s AS (
	UPDATE sessions SET state = $2, seq = $3, current_index = $4, started_at = $5, ended_at = $6 WHERE id = $1
), c AS (
	UPDATE session_questions SET closed_at = $8 WHERE session_id = $1 AND idx = $7 AND closed_at IS NULL
), o AS (
	INSERT INTO session_questions (school_id, session_id, idx, question_id, opened_at, deadline)
	SELECT $9, $1, $10, $11, $12, $13 WHERE $11::uuid IS NOT NULL
), b AS (
	INSERT INTO session_broadcasts (school_id, session_id, seq, frame)
	SELECT $9, $1, f.seq, f.frame::json FROM unnest($14::bigint[], $15::text[]) AS f(seq, frame)
), e AS (
	INSERT INTO outbox (school_id, event_id, name, payload, created_at)
	SELECT $9, e.id, e.name, e.payload, $8 FROM unnest($16::text[]::uuid[], $17::text[], $18::jsonb[]) AS e(id, name, payload)
)
SELECT 1`

func scanRunQuestion(idx *int, qid *string, rq *quiz.RunQuestion) []any {
	return []any{idx, qid, &rq.OpenedAt, &rq.Deadline, &rq.ClosedAt}
}

// Command runs one teacher command on the session in two round trips:
// [BEGIN; lock the session and its answers; read its current question;
// read the players], decide in Go, then [one statement writing
// everything; COMMIT]. A command decide refuses costs a third, the
// ROLLBACK. Of sess it uses the school, the id and the creation time
// (which never changes).
func (s *SessionStore) Command(ctx context.Context, sess quiz.Session, decide Decide) (Committed, error) {
	return s.command(ctx, sess, time.Time{}, decide)
}

const dueSQL = `SELECT EXISTS (SELECT 1 FROM session_questions WHERE session_id = $1 AND closed_at IS NULL AND deadline <= $2)`

// CloseDue closes the session's open question if its deadline has passed
// (decide applies quiz.CommandCloseDue). Nothing due costs one cheap
// statement. When due, exactly one caller — of any node, the hub's timer
// or a sweeper — claims it (SKIP LOCKED on the session row) and closes it
// in three more round trips (claim; read the players, whose partition
// key the claim returned; write and commit); the others give up at once
// with nothing committed (ok false).
func (s *SessionStore) CloseDue(ctx context.Context, schoolID, sessionID string, now time.Time, decide Decide) (c Committed, ok bool, err error) {
	var due bool
	if err := s.pool.QueryRow(ctx, dueSQL, sessionID, now).Scan(&due); err != nil || !due {
		return Committed{}, false, mapError(err)
	}
	c, err = s.command(ctx, quiz.Session{ID: sessionID, SchoolID: schoolID}, now, decide)
	if errors.Is(err, errNotClaimed) {
		return Committed{}, false, nil
	}
	return c, err == nil && c.Transition.Changed(), err
}

var errNotClaimed = errors.New("claimed by another")

// command locks and reads the session (claiming an overdue question only
// when due is set), hands it to decide and writes the outcome.
func (s *SessionStore) command(ctx context.Context, sess quiz.Session, due time.Time, decide Decide) (Committed, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return Committed{}, mapError(err)
	}
	defer conn.Release()
	room, err := readRoom(ctx, conn.Conn(), sess, due)
	if err != nil {
		rollback(conn.Conn())
		return Committed{}, err
	}
	t, recs, err := decide(room)
	if err == nil && !t.Changed() {
		err = errNotClaimed
	}
	if err != nil {
		rollback(conn.Conn())
		return Committed{}, err
	}
	if err := write(ctx, conn.Conn(), t, recs); err != nil {
		rollback(conn.Conn())
		return Committed{}, err
	}
	s.afterCommit()
	return Committed{Transition: t, Broadcasts: recs}, nil
}

// rollback ends a failed command's transaction; a connection where even
// that fails is not idle, so the pool closes it on release.
func rollback(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = conn.Exec(ctx, "ROLLBACK")
}

// readRoom is the command's first round trip (the first two for a due
// close, whose claim tells the players' read the session's creation time).
func readRoom(ctx context.Context, conn *pgx.Conn, sess quiz.Session, due time.Time) (quiz.Room, error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	// The players' read touches the partitioned answers table, where
	// PostgreSQL would plan it afresh at every command.
	b.Queue("SET LOCAL plan_cache_mode = force_generic_plan")
	if due.IsZero() {
		b.Queue(lockSessionSQL, sess.ID, sess.SchoolID, sess.CreatedAt, answerLockKey)
		b.Queue(lockCurrentSQL, sess.ID)
		b.Queue(playersSQL, sess.ID, sess.CreatedAt)
	} else {
		b.Queue(claimDueSQL, sess.ID, sess.SchoolID, due, answerLockKey)
	}
	br := conn.SendBatch(ctx, b)
	defer br.Close()
	for range 2 {
		if _, err := br.Exec(); err != nil {
			return quiz.Room{}, mapError(err)
		}
	}
	var room quiz.Room
	var idx int
	var qid string
	var rq quiz.RunQuestion
	if due.IsZero() {
		var err error
		if room.Session, err = scanSession(br.QueryRow()); err != nil {
			return room, mapError(err)
		}
		err = br.QueryRow().Scan(scanRunQuestion(&idx, &qid, &rq)...)
		switch {
		case err == nil:
			room.Current = &rq
		case !errors.Is(err, pgx.ErrNoRows):
			return room, mapError(err)
		}
	} else {
		s := &room.Session
		err := br.QueryRow().Scan(append([]any{&s.ID, &s.SchoolID, &s.ClassroomID, &s.QuizID, &s.QuizVersion, &s.TeacherID,
			&s.State, &s.Seq, &s.CurrentIndex, &s.QuestionCount, &s.CreatedAt, &s.StartedAt, &s.EndedAt},
			scanRunQuestion(&idx, &qid, &rq)...)...)
		if errors.Is(err, pgx.ErrNoRows) {
			return room, errNotClaimed
		}
		if err != nil {
			return room, mapError(err)
		}
		room.Current = &rq
		if err := br.Close(); err != nil {
			return room, mapError(err)
		}
		b := &pgx.Batch{}
		b.Queue(playersSQL, s.ID, s.CreatedAt)
		br = conn.SendBatch(ctx, b)
		defer br.Close()
	}
	if room.Current != nil {
		room.Current.Question.ID, room.Current.Question.Index = qid, idx
	}
	rows, err := br.Query()
	if err != nil {
		return room, mapError(err)
	}
	room.Players, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (quiz.Player, error) {
		var p quiz.Player
		var answered bool
		var a quiz.PlayerAnswer
		if err := r.Scan(&p.UserID, &p.Name, &p.Joined, &p.Kicked, &p.Score, &answered, &a.Choices, &a.Correct, &a.Points); err != nil {
			return p, err
		}
		if answered {
			p.Answer = &a
		}
		return p, nil
	})
	if err != nil {
		return room, mapError(err)
	}
	return room, mapError(br.Close())
}

// write is the command's second round trip: one statement, then COMMIT.
func write(ctx context.Context, conn *pgx.Conn, t quiz.Transition, recs []protocol.Broadcast) error {
	sess := t.Session
	var closedIdx *int
	if t.Closed != nil {
		closedIdx = &t.ClosedIndex
	}
	var openIdx *int
	var openID *string
	var openedAt, deadline *time.Time
	if t.Opened != nil {
		openIdx, openID = &t.Opened.Question.Index, &t.Opened.Question.ID
		openedAt, deadline = &t.Opened.OpenedAt, &t.Opened.Deadline
	}
	seqs := make([]int64, len(recs))
	frames := make([]string, len(recs))
	for i, r := range recs {
		seqs[i], frames[i] = r.Seq, string(r.Raw)
	}
	ids, names, payloads, err := outboxRows(t.Events)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(writeSQL, sess.ID, sess.State, sess.Seq, sess.CurrentIndex, sess.StartedAt, sess.EndedAt,
		closedIdx, t.Now, sess.SchoolID, openIdx, openID, openedAt, deadline, seqs, frames, ids, names, payloads)
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return mapError(err)
	}
	return nil
}

// outboxRows encodes events for writeSQL's unnest.
func outboxRows(evs []quiz.Event) (ids, names, payloads []string, err error) {
	for i := range evs {
		e := &evs[i]
		if e.EventID == "" {
			e.EventID = uuid.NewString()
		}
		if e.Data == nil {
			e.Data = map[string]any{}
		}
		p, err := json.Marshal(e)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("encode event %s: %w", e.Name, err)
		}
		ids, names, payloads = append(ids, e.EventID), append(names, string(e.Name)), append(payloads, string(p))
	}
	return ids, names, payloads, nil
}

// dueSessionsSQL is every node's sweep, every 250 ms: one table, through
// the partial index session_questions_open_idx.
const dueSessionsSQL = `
SELECT school_id, session_id FROM session_questions
WHERE closed_at IS NULL AND deadline <= $1 ORDER BY deadline LIMIT $2`

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

// Join records that a student connected to the session at now. first is
// true the first time; count is the participants after it.
func (s *SessionStore) Join(ctx context.Context, sess quiz.Session, studentID string, now time.Time) (first bool, count int, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, 0, mapError(err)
	}
	defer tx.Rollback(ctx)
	if err := tx.QueryRow(ctx, joinSQL, sess.SchoolID, sess.ID, studentID).Scan(&first, &count); err != nil {
		return false, 0, mapError(err)
	}
	if first {
		ev := quiz.Event{Name: quiz.EventStudentJoined, OccurredAt: now, SchoolID: sess.SchoolID, ClassroomID: sess.ClassroomID,
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

// Left records that a student's last socket on this node closed at now.
func (s *SessionStore) Left(ctx context.Context, sess quiz.Session, studentID string, now time.Time) error {
	ev := quiz.Event{Name: quiz.EventStudentLeft, OccurredAt: now, SchoolID: sess.SchoolID, ClassroomID: sess.ClassroomID,
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

// Kick removes a student of the classroom from the session for good, at
// now, and returns the participants left.
func (s *SessionStore) Kick(ctx context.Context, sess quiz.Session, studentID string, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, kickSQL, sess.SchoolID, sess.ID, sess.ClassroomID, now, studentID)
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
	rows, err := s.pool.Query(ctx, `SELECT id, seq FROM sessions WHERE id = ANY($1::text[]::uuid[])`, sessionIDs)
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

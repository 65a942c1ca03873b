package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/quiz"
)

// Answer is one answer to write. The caller has validated the choices and
// scored them against the question.
type Answer struct {
	ID               string
	SchoolID         string
	SessionID        string
	SessionCreatedAt time.Time
	ClassroomID      string
	QuizID           string
	QuestionID       string
	QuestionIdx      int
	StudentID        string
	Choices          []string // sorted
	Correct          *bool
	Points           int
	ReceivedAt       time.Time
	ResponseMs       int
	App              quiz.App
}

// Outcome says what became of an answer.
type Outcome int

// Outcomes of an answer write.
const (
	// Accepted: this answer is now committed.
	Accepted Outcome = iota + 1
	// Existing: the student had already answered; see Outcome.Choices.
	Existing
	// NotOpen: the question has not opened in this session.
	NotOpen
	// Closed: the question is closed or past its deadline.
	Closed
	// raced: a concurrent answer of the same student won; look again.
	raced
	// Kicked: the student was removed from the session, or from its
	// classroom.
	Kicked
)

// Written is the result of one answer: the answer that stands (this one or
// the earlier one) and its choices.
type Written struct {
	Outcome    Outcome
	AnswerID   string
	ReceivedAt time.Time
	Choices    []string
}

// answerLockKey is the first key of the per-session advisory locks that
// order answers and closes: an answer batch holds each of its sessions'
// lock shared, a command holds its session's exclusively
// (pg_advisory_xact_lock(answerLockKey, hashtext(session id))). A hash
// collision only makes two sessions wait for each other's closes.
const answerLockKey int32 = 0x7163616e // "qcan"

// lockAnswerSessionsSQL takes the shared locks of a batch's sessions, in
// one order, before writeAnswersSQL runs: as a statement of its own, so
// that writeAnswersSQL's snapshot is taken after the locks were granted
// and sees a close that committed while the batch waited for it. Shared
// locks live in the lock table only: unlike FOR SHARE on the question rows
// they write nothing (no WAL, no multixact) and batches never wait for
// each other.
const lockAnswerSessionsSQL = `
SELECT count(pg_advisory_xact_lock_shared($2, k))
FROM (SELECT DISTINCT hashtext(s::uuid::text) AS k FROM unnest($1::text[]) s ORDER BY 1) x`

// writeAnswersSQL writes a whole group-commit batch in one statement: it
// inserts each answer whose question is open, before its deadline, from a
// student who has not answered, was not kicked and is still enrolled in
// the session's classroom, writes the outbox
// event of each inserted one, and says per answer what happened (see
// Outcome; 5 is raced). It runs after lockAnswerSessionsSQL in the same
// transaction: a close holds its session's lock exclusively from before it
// reads the answers until it commits, so a close waits for the batches in
// flight and counts them, and a batch that comes after the close finds the
// question closed. Ids travel as text[] and become uuid[] in SQL: pgx has
// no binary encoding of []string as uuid[] and would fall back to text
// after a failed plan, at every batch.
const writeAnswersSQL = `
WITH i AS (
	SELECT * FROM unnest($1::text[]::uuid[], $2::text[]::uuid[], $3::text[]::uuid[], $4::timestamptz[], $5::text[]::uuid[],
		$6::text[]::uuid[], $7::text[]::uuid[], $8::int[], $9::text[]::uuid[], $10::jsonb[], $11::bool[], $12::int[],
		$13::timestamptz[], $14::int[], $15::jsonb[])
		WITH ORDINALITY AS i(id, school_id, session_id, created_at, classroom_id, quiz_id, question_id,
			idx, student_id, choices, correct, points, received_at, response_ms, payload, n)
), sq AS (
	SELECT q.session_id, q.question_id, q.closed_at, q.deadline
	FROM (SELECT DISTINCT session_id, question_id FROM i) k,
		-- OFFSET 0 keeps this a lookup by key per question of the batch,
		-- whatever the size of session_questions.
		LATERAL (SELECT * FROM session_questions s WHERE s.session_id = k.session_id AND s.question_id = k.question_id OFFSET 0) q
), kicked AS (
	-- Kicked from the session, or no longer enrolled in its classroom.
	-- OFFSET 0 keeps each test a lookup by key per answer: without it
	-- PostgreSQL may hash the whole enrolments table at every batch
	-- (measured: 0.36 ms a batch at 1,000 enrolments).
	SELECT DISTINCT i.session_id, i.student_id FROM i
	WHERE EXISTS (SELECT 1 FROM session_participants p
			WHERE p.session_id = i.session_id AND p.student_id = i.student_id AND p.kicked_at IS NOT NULL OFFSET 0)
		OR NOT EXISTS (SELECT 1 FROM enrolments e WHERE e.classroom_id = i.classroom_id AND e.student_id = i.student_id OFFSET 0)
), prev AS (
	-- $16 and $17 bound the batch's partition keys: as parameters,
	-- PostgreSQL prunes the months outside them when the executor starts,
	-- instead of setting up every monthly partition at every batch.
	SELECT a.session_id, a.question_id, a.student_id, a.id, a.received_at, a.choices FROM answers a JOIN i
		ON a.session_id = i.session_id AND a.session_created_at = i.created_at AND a.question_id = i.question_id
		AND a.student_id = i.student_id
	WHERE a.session_created_at BETWEEN $16 AND $17
), ins AS (
	INSERT INTO answers (id, school_id, session_id, session_created_at, classroom_id, quiz_id, question_id,
		question_idx, student_id, choices, correct, points, received_at, response_ms)
	SELECT i.id, i.school_id, i.session_id, i.created_at, i.classroom_id, i.quiz_id, i.question_id, i.idx, i.student_id,
		ARRAY(SELECT c FROM jsonb_array_elements_text(i.choices) WITH ORDINALITY AS e(c, k) ORDER BY k),
		i.correct, i.points, i.received_at, i.response_ms
	FROM i JOIN sq ON sq.session_id = i.session_id AND sq.question_id = i.question_id
	WHERE sq.closed_at IS NULL AND sq.deadline > i.received_at
		AND NOT EXISTS (SELECT 1 FROM prev p WHERE p.session_id = i.session_id AND p.question_id = i.question_id AND p.student_id = i.student_id)
		AND NOT EXISTS (SELECT 1 FROM kicked k WHERE k.session_id = i.session_id AND k.student_id = i.student_id)
	ON CONFLICT DO NOTHING
	RETURNING id, received_at
), ob AS (
	INSERT INTO outbox (school_id, event_id, name, payload, created_at)
	SELECT i.school_id, i.id, 'answer_submitted', i.payload, i.received_at FROM i JOIN ins ON ins.id = i.id
)
SELECT CASE
		WHEN k.student_id IS NOT NULL THEN 6
		WHEN ins.id IS NOT NULL THEN 1
		WHEN p.id IS NOT NULL THEN 2
		WHEN sq.question_id IS NULL THEN 3
		WHEN sq.closed_at IS NOT NULL OR sq.deadline <= i.received_at THEN 4
		ELSE 5 END,
	coalesce(ins.id, p.id), coalesce(ins.received_at, p.received_at), p.choices
FROM i
LEFT JOIN ins ON ins.id = i.id
LEFT JOIN prev p ON p.session_id = i.session_id AND p.question_id = i.question_id AND p.student_id = i.student_id
LEFT JOIN sq ON sq.session_id = i.session_id AND sq.question_id = i.question_id
LEFT JOIN kicked k ON k.session_id = i.session_id AND k.student_id = i.student_id
ORDER BY i.n`

// answerColumns are writeAnswersSQL's parameters, one array per column.
type answerColumns struct {
	ids, schools, sessions, classrooms, quizzes, questions, students []string
	created, received                                                []time.Time
	idx, points, ms                                                  []int
	choices, payloads                                                [][]byte
	correct                                                          []*bool
}

// answerEvent is the answer_submitted event with its data as a struct
// (its Data hides the event's map): encoding the map of seven values,
// boxed and sorted at every answer, was 3 % of a node's CPU at the 10 s
// pace. The fields are in the order a map's keys are encoded, so the bytes
// are the same (TestAnswerEventEncodesAsTheMap).
type answerEvent struct {
	quiz.Event
	Data struct {
		AnswerID   string   `json:"answer_id"`
		Choices    []string `json:"choices"`
		Correct    *bool    `json:"correct"`
		Index      int      `json:"index"`
		Points     int      `json:"points"`
		QuestionID string   `json:"question_id"`
		ResponseMs int      `json:"response_ms"`
	} `json:"data"`
}

func (c *answerColumns) add(a Answer) error {
	ev := answerEvent{Event: quiz.Event{EventID: a.ID, Name: quiz.EventAnswerSubmitted, OccurredAt: a.ReceivedAt, SchoolID: a.SchoolID,
		ClassroomID: a.ClassroomID, SessionID: a.SessionID, QuizID: a.QuizID, UserID: a.StudentID, App: a.App}}
	d := &ev.Data
	d.AnswerID, d.Choices, d.Correct, d.Index, d.Points, d.QuestionID, d.ResponseMs =
		a.ID, a.Choices, a.Correct, a.QuestionIdx, a.Points, a.QuestionID, a.ResponseMs
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode answer event: %w", err)
	}
	choices, err := json.Marshal(a.Choices)
	if err != nil {
		return fmt.Errorf("encode answer choices: %w", err)
	}
	c.ids, c.schools, c.sessions = append(c.ids, a.ID), append(c.schools, a.SchoolID), append(c.sessions, a.SessionID)
	c.created, c.classrooms, c.quizzes = append(c.created, a.SessionCreatedAt), append(c.classrooms, a.ClassroomID), append(c.quizzes, a.QuizID)
	c.questions, c.idx, c.students = append(c.questions, a.QuestionID), append(c.idx, a.QuestionIdx), append(c.students, a.StudentID)
	c.choices, c.correct, c.points = append(c.choices, choices), append(c.correct, a.Correct), append(c.points, a.Points)
	c.received, c.ms, c.payloads = append(c.received, a.ReceivedAt), append(c.ms, a.ResponseMs), append(c.payloads, payload)
	return nil
}

// writeBatch writes answers in one statement, so one round trip and one
// commit. An error fails them all.
func writeBatch(ctx context.Context, pool *pgxpool.Pool, answers []Answer) ([]Written, error) {
	var c answerColumns
	for _, a := range answers {
		if err := c.add(a); err != nil {
			return nil, err
		}
	}
	// Both statements go in one round trip, as one implicit transaction
	// (a batch without BEGIN commits at its end, or rolls back whole).
	b := &pgx.Batch{}
	b.Queue(lockAnswerSessionsSQL, c.sessions, answerLockKey)
	first, last := slices.MinFunc(c.created, time.Time.Compare), slices.MaxFunc(c.created, time.Time.Compare)
	b.Queue(writeAnswersSQL, c.ids, c.schools, c.sessions, c.created, c.classrooms, c.quizzes,
		c.questions, c.idx, c.students, c.choices, c.correct, c.points, c.received, c.ms, c.payloads, first, last)
	br := pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, mapError(err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, mapError(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Written, error) {
		var w Written
		var id *string
		var at *time.Time
		if err := r.Scan(&w.Outcome, &id, &at, &w.Choices); err != nil {
			return w, err
		}
		if id != nil {
			w.AnswerID = *id
		}
		if at != nil {
			w.ReceivedAt = *at
		}
		return w, nil
	})
	if err != nil {
		return nil, mapError(err)
	}
	if len(out) != len(answers) {
		return nil, fmt.Errorf("answer batch: %d outcomes for %d answers", len(out), len(answers))
	}
	if err := br.Close(); err != nil {
		return nil, mapError(err)
	}
	return out, nil
}

// AnswerWriter is the node's group commit: answers that arrive while a batch
// is being written wait and go together in the next one, so a burst of
// answers costs a few round trips and fsyncs instead of one each. Every
// answer is acknowledged only after its batch committed.
type AnswerWriter struct {
	// gathering is held by the one writer loop that is forming a batch:
	// the others wait for it rather than take answers from the queue
	// themselves, so one batch fills at a time while earlier ones commit.
	gathering sync.Mutex
	pool      *pgxpool.Pool
	log       *slog.Logger
	requests  chan answerRequest
	maxBatch  int
	writers   int
	linger    time.Duration
	after     func()
	stopped   chan struct{} // closed when Run has returned
}

type answerRequest struct {
	answer Answer
	reply  chan answerReply
}

type answerReply struct {
	written Written
	err     error
}

// AnswerWriterConfig tunes the group commit.
type AnswerWriterConfig struct {
	// Writers is how many batches may be in flight at once (default 4).
	Writers int
	// MaxBatch caps a batch (default 256).
	MaxBatch int
	// Linger is how long a batch waits for company once started (default
	// 1 ms); zero sends what is queued at once. Measured on two cores, a
	// batch costs PostgreSQL ≈ 0.5 ms of CPU whatever its size plus ≈ 0.11
	// ms per answer, so at a few hundred answers a second a linger of a
	// few milliseconds halves the CPU per answer.
	Linger time.Duration
	// AfterCommit (optional, must not block) runs after a batch committed
	// new answers, and so their outbox rows.
	AfterCommit func()
}

// NewAnswerWriter returns a writer; Run drives it.
func NewAnswerWriter(pool *pgxpool.Pool, log *slog.Logger, cfg AnswerWriterConfig) *AnswerWriter {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 4
	}
	if cfg.Linger < 0 {
		cfg.Linger = 0
	}
	if cfg.AfterCommit == nil {
		cfg.AfterCommit = func() {}
	}
	w := &AnswerWriter{pool: pool, log: log, requests: make(chan answerRequest, cfg.MaxBatch*cfg.Writers),
		maxBatch: cfg.MaxBatch, writers: cfg.Writers, linger: cfg.Linger, after: cfg.AfterCommit,
		stopped: make(chan struct{})}
	return w
}

// Run writes batches until ctx ends, with cfg.Writers batches in flight.
// Answers queued when ctx ends are still written, so a drain loses nothing.
func (w *AnswerWriter) Run(ctx context.Context) {
	defer close(w.stopped)
	done := make(chan struct{})
	for range w.writers {
		go func() {
			defer func() { done <- struct{}{} }()
			w.loop(ctx)
		}()
	}
	for range w.writers {
		<-done
	}
}

func (w *AnswerWriter) loop(ctx context.Context) {
	batch := make([]answerRequest, 0, w.maxBatch)
	for {
		var first answerRequest
		w.gathering.Lock()
		select {
		case first = <-w.requests:
		case <-ctx.Done():
			w.gathering.Unlock()
			// Drain what is already queued, then stop.
			for {
				select {
				case r := <-w.requests:
					w.flush(context.WithoutCancel(ctx), []answerRequest{r})
				default:
					return
				}
			}
		}
		batch = w.gather(append(batch[:0], first))
		w.gathering.Unlock()
		w.flush(context.WithoutCancel(ctx), batch)
	}
}

// gather adds what is queued to batch, waiting up to the linger for more.
func (w *AnswerWriter) gather(batch []answerRequest) []answerRequest {
	var timeout <-chan time.Time
	if w.linger > 0 {
		t := time.NewTimer(w.linger)
		defer t.Stop()
		timeout = t.C
	}
	for len(batch) < w.maxBatch {
		select {
		case r := <-w.requests:
			batch = append(batch, r)
			continue
		default:
		}
		if timeout == nil {
			return batch
		}
		select {
		case r := <-w.requests:
			batch = append(batch, r)
		case <-timeout:
			return batch
		}
	}
	return batch
}

// flush writes a batch; if the batch fails as a whole, each answer is
// retried alone so one bad answer cannot fail its neighbours.
func (w *AnswerWriter) flush(ctx context.Context, batch []answerRequest) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	answers := make([]Answer, len(batch))
	for i, r := range batch {
		answers[i] = r.answer
	}
	written, err := writeBatch(ctx, w.pool, answers)
	if err == nil {
		w.after()
		for i, r := range batch {
			w.finish(ctx, r, written[i])
		}
		return
	}
	if len(batch) > 1 {
		w.log.Warn("answer batch failed; writing one by one", "size", len(batch), "err", err)
	}
	for _, r := range batch {
		one, err := writeBatch(ctx, w.pool, []Answer{r.answer})
		if err != nil {
			r.reply <- answerReply{err: err}
			continue
		}
		w.after()
		w.finish(ctx, r, one[0])
	}
}

// finish answers a request; a raced answer is read again once the
// competing one has committed.
func (w *AnswerWriter) finish(ctx context.Context, r answerRequest, wr Written) {
	if wr.Outcome == raced {
		again, err := writeBatch(ctx, w.pool, []Answer{r.answer})
		if err != nil {
			r.reply <- answerReply{err: err}
			return
		}
		wr = again[0]
		if wr.Outcome == raced {
			r.reply <- answerReply{err: fmt.Errorf("answer raced twice: %w", quiz.ErrUnavailable)}
			return
		}
	}
	r.reply <- answerReply{written: wr}
}

// Write queues a and waits for its batch to commit.
func (w *AnswerWriter) Write(ctx context.Context, a Answer) (Written, error) {
	reply := make(chan answerReply, 1)
	select {
	case w.requests <- answerRequest{answer: a, reply: reply}:
	case <-ctx.Done():
		return Written{}, fmt.Errorf("queue answer: %w", quiz.ErrUnavailable)
	case <-w.stopped:
		return Written{}, fmt.Errorf("answer writer stopped: %w", quiz.ErrUnavailable)
	}
	// Once queued the answer will be written; wait for the outcome even if
	// the caller gives up, so nothing is acknowledged that is not stored.
	select {
	case r := <-reply:
		return r.written, r.err
	case <-w.stopped:
		select {
		case r := <-reply:
			return r.written, r.err
		default:
			// Queued after the final drain: never written.
			return Written{}, fmt.Errorf("answer writer stopped: %w", quiz.ErrUnavailable)
		}
	}
}

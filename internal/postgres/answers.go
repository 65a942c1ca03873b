package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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
	// Kicked: the student was removed from the session.
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

// writeAnswerSQL inserts the answer when its question is open, before the
// deadline, and the student has not answered; it writes the outbox event
// with it, and says what happened. FOR SHARE on the run question makes a
// concurrent close wait for the answers in flight (and them for it), so a
// committed answer is always counted by the close that follows.
const writeAnswerSQL = `
WITH sq AS (
	SELECT closed_at, deadline FROM session_questions
	WHERE session_id = $2 AND question_id = $6 FOR SHARE
), kicked AS (
	SELECT 1 FROM session_participants
	WHERE session_id = $2 AND student_id = $8 AND kicked_at IS NOT NULL
), prev AS (
	SELECT id, received_at, choices FROM answers
	WHERE session_id = $2 AND session_created_at = $3 AND question_id = $6 AND student_id = $8
), ins AS (
	INSERT INTO answers (id, school_id, session_id, session_created_at, classroom_id, quiz_id, question_id,
		question_idx, student_id, choices, correct, points, received_at, response_ms)
	SELECT $1, $4, $2, $3, $5, $13, $6, $7, $8, $9, $10, $11, $12, $14
	FROM sq WHERE sq.closed_at IS NULL AND sq.deadline > $12
		AND NOT EXISTS (SELECT 1 FROM prev) AND NOT EXISTS (SELECT 1 FROM kicked)
	ON CONFLICT DO NOTHING
	RETURNING id, received_at
), ob AS (
	INSERT INTO outbox (school_id, event_id, name, payload, created_at)
	SELECT $4, $15, 'answer_submitted', $16, $12 FROM ins
)
SELECT CASE
		WHEN EXISTS (SELECT 1 FROM kicked) THEN 6
		WHEN EXISTS (SELECT 1 FROM ins) THEN 1
		WHEN EXISTS (SELECT 1 FROM prev) THEN 2
		WHEN NOT EXISTS (SELECT 1 FROM sq) THEN 3
		WHEN (SELECT closed_at IS NOT NULL OR deadline <= $12 FROM sq) THEN 4
		ELSE 5 END,
	coalesce((SELECT id FROM ins), (SELECT id FROM prev)),
	coalesce((SELECT received_at FROM ins), (SELECT received_at FROM prev)),
	(SELECT choices FROM prev)`

func queueAnswer(b *pgx.Batch, a Answer) error {
	ev := quiz.Event{EventID: a.ID, Name: quiz.EventAnswerSubmitted, OccurredAt: a.ReceivedAt, SchoolID: a.SchoolID,
		ClassroomID: a.ClassroomID, SessionID: a.SessionID, QuizID: a.QuizID, UserID: a.StudentID, App: a.App,
		Data: map[string]any{"answer_id": a.ID, "question_id": a.QuestionID, "index": a.QuestionIdx,
			"choices": a.Choices, "correct": a.Correct, "points": a.Points, "response_ms": a.ResponseMs}}
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode answer event: %w", err)
	}
	b.Queue(writeAnswerSQL, a.ID, a.SessionID, a.SessionCreatedAt, a.SchoolID, a.ClassroomID, a.QuestionID,
		a.QuestionIdx, a.StudentID, a.Choices, a.Correct, a.Points, a.ReceivedAt, a.QuizID, a.ResponseMs,
		a.ID, payload)
	return nil
}

func scanWritten(r pgx.Row) (Written, error) {
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
}

// writeBatch writes answers in one round trip: the queries of a batch run in
// one implicit transaction, so they commit together. An error fails them all.
func writeBatch(ctx context.Context, pool *pgxpool.Pool, answers []Answer) ([]Written, error) {
	b := &pgx.Batch{}
	for _, a := range answers {
		if err := queueAnswer(b, a); err != nil {
			return nil, err
		}
	}
	br := pool.SendBatch(ctx, b)
	out := make([]Written, len(answers))
	for i := range answers {
		w, err := scanWritten(br.QueryRow())
		if err != nil {
			br.Close()
			return nil, mapError(err)
		}
		out[i] = w
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
	pool     *pgxpool.Pool
	log      *slog.Logger
	requests chan answerRequest
	maxBatch int
	writers  int
	linger   time.Duration
	after    func()
	stopped  chan struct{} // closed when Run has returned
}

type answerRequest struct {
	ctx    context.Context
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
	// 1 ms); zero sends what is queued at once.
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
		select {
		case first = <-w.requests:
		case <-ctx.Done():
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
	case w.requests <- answerRequest{ctx: ctx, answer: a, reply: reply}:
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

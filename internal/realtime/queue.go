package realtime

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/live"
	"github.com/quizcast/quizcast/internal/protocol"
	"github.com/quizcast/quizcast/internal/quiz"
)

// Limits bound the live work one node takes on, so that past its capacity
// it refuses at once instead of queueing without end: admitted work keeps
// its latency, refused work is retried by the client.
type Limits struct {
	// CommandWorkers is how many teacher commands run at once (default 8).
	CommandWorkers int
	// CommandQueue is how many may wait for a worker (default 256); a
	// command past it is refused with unavailable.
	CommandQueue int
	// CommandWait is the longest an admitted command waits for a worker
	// (default 2 s); one that waited that long is refused with unavailable
	// without having run, so the commands that do run are not ones the
	// teacher gave up on seconds ago.
	CommandWait time.Duration
	// AnswersInFlight bounds the answers being committed (default 8192).
	AnswersInFlight int
	// RetryAfter is what a refusal tells the client to wait (default 1 s).
	RetryAfter time.Duration
}

func (l *Limits) defaults() {
	if l.CommandWorkers <= 0 {
		l.CommandWorkers = 8
	}
	if l.CommandQueue <= 0 {
		l.CommandQueue = 256
	}
	if l.CommandWait <= 0 {
		l.CommandWait = 2 * time.Second
	}
	if l.AnswersInFlight <= 0 {
		l.AnswersInFlight = 8192
	}
	if l.RetryAfter <= 0 {
		l.RetryAfter = time.Second
	}
}

// Queue is the node's bounded queue of teacher commands (from sockets and
// REST alike) and its bound on answers in flight.
type Queue struct {
	limits  Limits
	workers chan struct{}
	waiting atomic.Int64 // admitted commands not yet finished
	answers atomic.Int64
	stats   *Metrics
}

// NewQueue returns a queue with limits (zero fields take their defaults).
func NewQueue(limits Limits, stats *Metrics) *Queue {
	limits.defaults()
	return &Queue{limits: limits, workers: make(chan struct{}, limits.CommandWorkers), stats: stats}
}

// Busy is the refusal of work past the node's capacity: contract code
// unavailable, REST 503 with Retry-After, socket error with retry_after_ms.
func (q *Queue) Busy(what string) *quiz.Error {
	return &quiz.Error{Code: quiz.CodeUnavailable, Message: "this server is busy; retry the " + what + " shortly",
		RetryAfter: max(int(q.limits.RetryAfter/time.Second), 1)}
}

// admit takes a place in the command queue, or refuses.
func (q *Queue) admit() error {
	if q.waiting.Add(1) > int64(q.limits.CommandWorkers+q.limits.CommandQueue) {
		q.waiting.Add(-1)
		q.stats.refused.WithLabelValues("command").Inc()
		return q.Busy("command")
	}
	return nil
}

// run runs an admitted command when a worker is free within CommandWait,
// or refuses it, and gives its place back.
func (q *Queue) run(ctx context.Context, f func(context.Context) error) error {
	defer q.waiting.Add(-1)
	wait := time.NewTimer(q.limits.CommandWait)
	defer wait.Stop()
	select {
	case q.workers <- struct{}{}:
	case <-wait.C:
		q.stats.refused.WithLabelValues("command").Inc()
		return q.Busy("command")
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-q.workers }()
	return f(ctx)
}

// Command runs f as a teacher command: it waits in the bounded queue for
// a worker, or is refused at once when the queue is full, or when no
// worker came free within CommandWait.
func (q *Queue) Command(ctx context.Context, f func(context.Context) error) error {
	if err := q.admit(); err != nil {
		return err
	}
	return q.run(ctx, f)
}

// admitAnswer takes a place among the answers in flight, or refuses.
func (q *Queue) admitAnswer() error {
	if q.answers.Add(1) > int64(q.limits.AnswersInFlight) {
		q.answers.Add(-1)
		q.stats.refused.WithLabelValues("answer").Inc()
		return q.Busy("answer")
	}
	return nil
}

func (q *Queue) answerDone() { q.answers.Add(-1) }

// RESTSessions is the session service as the REST API drives it.
type RESTSessions interface {
	Create(ctx context.Context, id auth.Identity, quizID, classroomID string) (protocol.Snapshot, error)
	Get(ctx context.Context, id auth.Identity, sessionID string) (protocol.Snapshot, error)
	ListByClassroom(ctx context.Context, id auth.Identity, classroomID string, live bool, p quiz.Page) ([]protocol.Snapshot, *quiz.Cursor, error)
	Do(ctx context.Context, id auth.Identity, sessionID string, cmd live.Command, app quiz.App) (protocol.Snapshot, error)
	AnswerREST(ctx context.Context, id auth.Identity, sessionID, questionID string, choices []string) (protocol.AnswerAccepted, bool, error)
	Kick(ctx context.Context, id auth.Identity, sessionID, studentID string) error
}

// Guarded is the session service as the REST API uses it, its commands
// and answers going through the node's queue like the sockets' do.
type Guarded struct {
	RESTSessions
	Queue *Queue
}

// Do runs a teacher's command through the queue.
func (g Guarded) Do(ctx context.Context, id auth.Identity, sessionID string, cmd live.Command, app quiz.App) (protocol.Snapshot, error) {
	var snap protocol.Snapshot
	err := g.Queue.Command(ctx, func(ctx context.Context) error {
		var err error
		snap, err = g.RESTSessions.Do(ctx, id, sessionID, cmd, app)
		return err
	})
	return snap, err
}

// Kick removes a student through the queue.
func (g Guarded) Kick(ctx context.Context, id auth.Identity, sessionID, studentID string) error {
	return g.Queue.Command(ctx, func(ctx context.Context) error {
		return g.RESTSessions.Kick(ctx, id, sessionID, studentID)
	})
}

// AnswerREST submits an answer within the bound on answers in flight.
func (g Guarded) AnswerREST(ctx context.Context, id auth.Identity, sessionID, questionID string, choices []string) (protocol.AnswerAccepted, bool, error) {
	if err := g.Queue.admitAnswer(); err != nil {
		return protocol.AnswerAccepted{}, false, err
	}
	defer g.Queue.answerDone()
	return g.RESTSessions.AnswerREST(ctx, id, sessionID, questionID, choices)
}

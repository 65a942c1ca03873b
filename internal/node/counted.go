package node

import (
	"context"
	"time"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/live"
	"github.com/quizcast/quizcast/internal/metrics"
	"github.com/quizcast/quizcast/internal/protocol"
	"github.com/quizcast/quizcast/internal/quiz"
)

// countedSessions is the live service as the REST API and the sockets call
// it, counting and timing every command and answer by outcome. REST
// enters through Do, AnswerREST and Kick, the sockets through Command,
// Answer and Kick, so each is counted once; the rest passes through.
type countedSessions struct {
	*live.Service
	m *metrics.Live
}

// outcome is ok when err is nil, else err's contract code.
func outcome(err error, ok string) string {
	if err == nil {
		return ok
	}
	return string(quiz.Describe(err).Code)
}

func answerOutcome(created bool, err error) string {
	if err == nil && !created {
		return "replayed"
	}
	return outcome(err, "accepted")
}

func (c countedSessions) Do(ctx context.Context, id auth.Identity, sessionID string, cmd live.Command, app quiz.App) (protocol.Snapshot, error) {
	start := time.Now()
	snap, err := c.Service.Do(ctx, id, sessionID, cmd, app)
	c.m.Command(string(cmd), outcome(err, "ok"), time.Since(start))
	return snap, err
}

func (c countedSessions) Command(ctx context.Context, id auth.Identity, sess quiz.Session, cmd live.Command, app quiz.App) (protocol.Snapshot, error) {
	start := time.Now()
	snap, err := c.Service.Command(ctx, id, sess, cmd, app)
	c.m.Command(string(cmd), outcome(err, "ok"), time.Since(start))
	return snap, err
}

func (c countedSessions) AnswerREST(ctx context.Context, id auth.Identity, sessionID, questionID string, choices []string) (protocol.AnswerAccepted, bool, error) {
	start := time.Now()
	acc, created, err := c.Service.AnswerREST(ctx, id, sessionID, questionID, choices)
	c.m.Answer(answerOutcome(created, err), time.Since(start))
	return acc, created, err
}

func (c countedSessions) Answer(ctx context.Context, id auth.Identity, sess quiz.Session, questionID string, choices []string, app quiz.App) (protocol.AnswerAccepted, bool, error) {
	start := time.Now()
	acc, created, err := c.Service.Answer(ctx, id, sess, questionID, choices, app)
	c.m.Answer(answerOutcome(created, err), time.Since(start))
	return acc, created, err
}

// Kick is counted as the command kick.
func (c countedSessions) Kick(ctx context.Context, id auth.Identity, sessionID, studentID string) error {
	start := time.Now()
	err := c.Service.Kick(ctx, id, sessionID, studentID)
	c.m.Command("kick", outcome(err, "ok"), time.Since(start))
	return err
}

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/reports"
)

// historyAnswerEventsSQL stores the answer_submitted event of each answer
// of the given sessions, as the worker would have (the event's id is the
// answer's, as the answer writer makes it).
const historyAnswerEventsSQL = `
INSERT INTO events (event_id, name, occurred_at, school_id, classroom_id, session_id, quiz_id, user_id, app, data)
SELECT a.id, 'answer_submitted', a.received_at, a.school_id, a.classroom_id, a.session_id, a.quiz_id, a.student_id, 'notebook',
	jsonb_build_object('answer_id', a.id, 'choices', to_jsonb(a.choices), 'correct', a.correct, 'index', a.question_idx,
		'points', a.points, 'question_id', a.question_id, 'response_ms', a.response_ms)
FROM answers a WHERE a.session_id = ANY ($1::uuid[])`

// seedHistory gives the sweep's database a past: ended sessions of the last
// day with `total` answers (questions per session each) and their events,
// rolled up into the report history as the worker would, the views
// refreshed once, and everything analyzed. A fresh database's tables are
// small, so PostgreSQL re-analyzes them (and plans again every statement
// that reads them) every few seconds under the sweep's load; a database in
// use does so rarely. It returns the sessions seeded.
func seedHistory(ctx context.Context, pool *pgxpool.Pool, seeded Seeded, total int64, questions int) (int, error) {
	sessions, err := seedAnswers(ctx, pool, seeded, total, questions, 1)
	if err != nil {
		return 0, fmt.Errorf("history answers: %w", err)
	}
	ids := make([]string, len(sessions))
	for i, s := range sessions {
		ids[i] = s.id
	}
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		if _, err := pool.Exec(ctx, historyAnswerEventsSQL, ids[:n]); err != nil {
			return 0, fmt.Errorf("history events: %w", err)
		}
		ids = ids[n:]
	}
	if _, err := reports.RollUpEnded(ctx, pool, time.Now()); err != nil {
		return 0, fmt.Errorf("history roll-up: %w", err)
	}
	if err := shrinkViews(ctx, pool); err != nil {
		return 0, fmt.Errorf("history views: %w", err)
	}
	// seedAnswers analyzed the answers and their sessions; the events are
	// new since, and the roll-up marked every session.
	if _, err := pool.Exec(ctx, `ANALYZE events, sessions`); err != nil {
		return 0, fmt.Errorf("history analyze: %w", err)
	}
	return len(sessions), nil
}

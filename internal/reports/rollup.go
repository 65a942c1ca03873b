package reports

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quizcast/quizcast/internal/quiz"
)

// The history tables of migrations/00005_report_rollups.sql: the views'
// rows of the sessions already rolled up.
const (
	HistoryStudentSessions   = "report_student_sessions_history"
	HistoryClassroomSessions = "report_classroom_sessions_history"
	HistoryQuestionStats     = "report_question_stats_history"
)

// DefaultRollupBatch is how many sessions one roll-up transaction takes:
// ~200 answers each, so a batch reads ~40k answers and commits in well
// under a second even on a busy machine.
const DefaultRollupBatch = 200

// rollupLockSQL serializes roll-ups across worker replicas (and a one-shot
// RollUpEnded beside them): each batch waits its turn, then picks sessions
// the previous holder left, so two never write the same session at once.
const rollupLockSQL = `SELECT pg_advisory_xact_lock(hashtext('quizcast_rollup'))`

// endedSQL picks ended sessions not rolled up yet that ended before $1,
// oldest first, through sessions_unrolled_idx.
const endedSQL = `
SELECT id FROM sessions
WHERE rolled_up_at IS NULL AND state = 'ended' AND ended_at < $1
ORDER BY ended_at, id
LIMIT $2`

// reconcileSQL picks rolled-up sessions that ended in [$1, $2), after the
// cursor ($3, $4), for re-rolling.
const reconcileSQL = `
SELECT id, ended_at FROM sessions
WHERE rolled_up_at IS NOT NULL AND state = 'ended' AND ended_at >= $1 AND ended_at < $2
  AND (ended_at, id) > ($3, $4::uuid)
ORDER BY ended_at, id
LIMIT $5`

// The upserts: the rows of the sessions $1 computed by the views' own SQL
// (the report_*_rows functions), replacing what an earlier roll-up of the
// same session wrote. Rolling a session up twice leaves one set of rows.
const (
	upsertStudentSessionsSQL = `
INSERT INTO report_student_sessions_history
SELECT * FROM report_student_session_rows($1::uuid[])
ON CONFLICT (school_id, session_id, student_id) DO UPDATE SET
    classroom_id = excluded.classroom_id, quiz_id = excluded.quiz_id, quiz_version = excluded.quiz_version,
    teacher_id = excluded.teacher_id, started_at = excluded.started_at, answers_all = excluded.answers_all,
    answered = excluded.answered, correct = excluded.correct, score = excluded.score,
    response_ms_sum = excluded.response_ms_sum, response_ms_all_sum = excluded.response_ms_all_sum,
    completed = excluded.completed, rank = excluded.rank`

	upsertClassroomSessionsSQL = `
INSERT INTO report_classroom_sessions_history
SELECT * FROM report_classroom_session_rows($1::uuid[])
ON CONFLICT (school_id, session_id) DO UPDATE SET
    classroom_id = excluded.classroom_id, quiz_id = excluded.quiz_id, quiz_version = excluded.quiz_version,
    teacher_id = excluded.teacher_id, started_at = excluded.started_at, ended_at = excluded.ended_at,
    asked = excluded.asked, participants = excluded.participants, completers = excluded.completers,
    answers_all = excluded.answers_all, response_ms_sum = excluded.response_ms_sum`

	upsertQuestionStatsSQL = `
INSERT INTO report_question_stats_history
SELECT * FROM report_question_stat_rows($1::uuid[])
ON CONFLICT (school_id, session_id, question_id) DO UPDATE SET
    classroom_id = excluded.classroom_id, quiz_id = excluded.quiz_id, quiz_version = excluded.quiz_version,
    teacher_id = excluded.teacher_id, started_at = excluded.started_at, idx = excluded.idx, kind = excluded.kind,
    attempts = excluded.attempts, scored = excluded.scored, correct = excluded.correct,
    response_ms_sum = excluded.response_ms_sum, rest_sum = excluded.rest_sum, rest_sq_sum = excluded.rest_sq_sum,
    rest_correct_sum = excluded.rest_correct_sum, distribution = excluded.distribution,
    wrong_picks = excluded.wrong_picks`

	markRolledUpSQL = `UPDATE sessions SET rolled_up_at = now() WHERE id = ANY ($1::uuid[]) AND rolled_up_at IS NULL`
)

// rollUpBatch writes the history rows of sessions ids and marks them
// rolled up, in tx (which holds the roll-up lock).
func rollUpBatch(ctx context.Context, tx pgx.Tx, ids []string) error {
	for _, sql := range []string{upsertStudentSessionsSQL, upsertClassroomSessionsSQL, upsertQuestionStatsSQL, markRolledUpSQL} {
		if _, err := tx.Exec(ctx, sql, ids); err != nil {
			return fmt.Errorf("roll up %d sessions: %w", len(ids), err)
		}
	}
	return nil
}

// inBatches runs batch in its own transaction, under the roll-up lock,
// until it reports that nothing is left; it returns how many sessions the
// batches handled in all.
func inBatches(ctx context.Context, pool *pgxpool.Pool, batch func(pgx.Tx) (n int, more bool, err error)) (int, error) {
	total := 0
	for {
		var n int
		var more bool
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, rollupLockSQL); err != nil {
				return fmt.Errorf("roll-up lock: %w", err)
			}
			var err error
			n, more, err = batch(tx)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

// RollUpEnded writes the report rows of every session that ended before
// `before` and is not rolled up yet into the history tables, in batches of
// DefaultRollupBatch sessions, one transaction each, and marks them rolled
// up; the views drop them at their next refresh. It returns how many
// sessions it rolled up. Idempotent and safe beside the worker's Rollup (an
// advisory lock takes turns). This is also the one-shot for data loaded in
// bulk (COPY into sessions and answers): RollUpEnded(ctx, pool, time.Now())
// then a refresh of each view.
func RollUpEnded(ctx context.Context, pool *pgxpool.Pool, before time.Time) (int, error) {
	return rollUpEnded(ctx, pool, before, DefaultRollupBatch)
}

func rollUpEnded(ctx context.Context, pool *pgxpool.Pool, before time.Time, size int) (int, error) {
	return inBatches(ctx, pool, func(tx pgx.Tx) (int, bool, error) {
		rows, _ := tx.Query(ctx, endedSQL, before, size)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return 0, false, fmt.Errorf("sessions to roll up: %w", err)
		}
		if len(ids) == 0 {
			return 0, false, nil
		}
		return len(ids), len(ids) == size, rollUpBatch(ctx, tx, ids)
	})
}

// Reconcile rolls up again every rolled-up session that ended in [from,
// to): their history rows are recomputed from the answers and replaced
// (nothing is counted twice). A session's answers cannot change once it
// ended, so this finds nothing to fix unless a row was lost or written by a
// faulty version; it is the nightly safety net of docs/reports.md. It
// returns how many sessions it rolled up again.
func Reconcile(ctx context.Context, pool *pgxpool.Pool, from, to time.Time) (int, error) {
	at, id := from, "00000000-0000-0000-0000-000000000000"
	return inBatches(ctx, pool, func(tx pgx.Tx) (int, bool, error) {
		rows, _ := tx.Query(ctx, reconcileSQL, from, to, at, id, DefaultRollupBatch)
		var ids []string
		_, err := pgx.ForEachRow(rows, []any{&id, &at}, func() error {
			ids = append(ids, id)
			return nil
		})
		if err != nil {
			return 0, false, fmt.Errorf("sessions to reconcile: %w", err)
		}
		if len(ids) == 0 {
			return 0, false, nil
		}
		return len(ids), len(ids) == DefaultRollupBatch, rollUpBatch(ctx, tx, ids)
	})
}

// ViewMarker hears that the views should be refreshed; *Refresher fits.
type ViewMarker interface {
	MarkAll()
}

// RollupConfig tunes a Rollup.
type RollupConfig struct {
	// Grace is how long after its end a session is rolled up (default 1
	// minute). Its answers are final at the end already (answers need an
	// open question and the end closes them all); the grace absorbs clock
	// skew between the node that stamped ended_at and the worker, and lets
	// the views show the session's last answers before it moves.
	Grace time.Duration
	// Sweep is the period of the fallback sweep for sessions whose
	// session_ended event was missed or arrived while the worker was down
	// (default 1 minute).
	Sweep time.Duration
	// Reconcile is the period of the reconciliation, which rolls up again
	// the sessions of the last Reconcile + 1 hour (default 24 hours).
	Reconcile time.Duration
	// Clock defaults to the real one.
	Clock Clock
}

// Rollup moves the report rows of ended sessions from the views into the
// history tables, so the views (and the cost of refreshing them) hold only
// live and just-ended sessions. The event worker calls Stored with the
// names of the events it stored: a session_ended schedules a roll-up once
// the grace has passed; a periodic sweep catches anything missed, and a
// daily reconciliation recomputes the last day's history. After rolling
// sessions up it marks the views for refresh, so they shrink.
type Rollup struct {
	pool  *pgxpool.Pool
	views ViewMarker
	log   *slog.Logger
	cfg   RollupConfig
	ended chan struct{}

	sessions prometheus.Counter
	failures prometheus.Counter
	duration prometheus.Histogram

	// passDone, if set (tests), is called after each pass of Run.
	passDone func()
}

// NewRollup returns the roll-up job; views may be nil. Its metrics are
// registered on reg.
func NewRollup(pool *pgxpool.Pool, views ViewMarker, reg prometheus.Registerer, log *slog.Logger, cfg RollupConfig) *Rollup {
	if cfg.Grace <= 0 {
		cfg.Grace = time.Minute
	}
	if cfg.Sweep <= 0 {
		cfg.Sweep = time.Minute
	}
	if cfg.Reconcile <= 0 {
		cfg.Reconcile = 24 * time.Hour
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	r := &Rollup{
		pool: pool, views: views, log: log, cfg: cfg, ended: make(chan struct{}, 1),
		sessions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quizcast_report_rollup_sessions_total",
			Help: "Ended sessions whose report rows were rolled up into the history tables.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quizcast_report_rollup_failures_total",
			Help: "Failed roll-up or reconciliation passes (retried at the next sweep).",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "quizcast_report_rollup_duration_seconds",
			Help:    "Duration of a roll-up pass.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
	}
	reg.MustRegister(r.sessions, r.failures, r.duration)
	return r
}

// Stored tells the roll-up which events were just stored; a session_ended
// schedules a pass after the grace. It never blocks.
func (r *Rollup) Stored(names []quiz.EventName) {
	for _, n := range names {
		if n == quiz.EventSessionEnded {
			select {
			case r.ended <- struct{}{}:
			default:
			}
			return
		}
	}
}

// Run rolls up ended sessions until ctx ends: once at start (sessions that
// ended while no worker ran), a grace after each session_ended, every Sweep
// otherwise; and reconciles every Reconcile period. A failed pass is
// retried at the next sweep.
func (r *Rollup) Run(ctx context.Context) error {
	now := r.cfg.Clock.Now()
	due, reconcileDue := now, now.Add(r.cfg.Reconcile)
	for {
		if wait := due.Sub(r.cfg.Clock.Now()); wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-r.ended:
				// A session ended just now: its ended_at is before now, so
				// it qualifies once the grace has passed (+1 s of slack).
				if at := r.cfg.Clock.Now().Add(r.cfg.Grace + time.Second); at.Before(due) {
					due = at
				}
				continue
			case <-r.cfg.Clock.After(wait):
				continue
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		now := r.cfg.Clock.Now()
		r.pass(ctx, now)
		if !now.Before(reconcileDue) {
			r.reconcile(ctx, now)
			reconcileDue = now.Add(r.cfg.Reconcile)
		}
		due = now.Add(r.cfg.Sweep)
		if r.passDone != nil {
			r.passDone()
		}
	}
}

// pass rolls up the sessions that ended before now minus the grace.
func (r *Rollup) pass(ctx context.Context, now time.Time) {
	t0 := time.Now()
	n, err := RollUpEnded(ctx, r.pool, now.Add(-r.cfg.Grace))
	r.duration.Observe(time.Since(t0).Seconds())
	r.sessions.Add(float64(n))
	if err != nil && ctx.Err() == nil {
		r.failures.Inc()
		r.log.Error("report roll-up failed", "rolled_up", n, "err", err)
	}
	if n > 0 {
		r.log.Info("report sessions rolled up", "sessions", n, "duration_ms", time.Since(t0).Milliseconds())
		if r.views != nil {
			r.views.MarkAll() // the views drop the rolled-up sessions
		}
	}
}

// reconcile rolls up again the sessions of the last period (+1 hour of
// overlap, so a late run leaves no gap).
func (r *Rollup) reconcile(ctx context.Context, now time.Time) {
	t0 := time.Now()
	n, err := Reconcile(ctx, r.pool, now.Add(-r.cfg.Reconcile-time.Hour), now)
	if err != nil && ctx.Err() == nil {
		r.failures.Inc()
		r.log.Error("report reconciliation failed", "sessions", n, "err", err)
		return
	}
	r.log.Info("report history reconciled", "sessions", n, "duration_ms", time.Since(t0).Milliseconds())
}

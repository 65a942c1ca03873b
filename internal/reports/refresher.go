package reports

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quizcast/quizcast/internal/quiz"
)

// Views lists the report views in the order a pass refreshes them.
func Views() []string {
	return []string{ViewStudentSessions, ViewClassroomSessions, ViewQuestionStats}
}

// ViewsAffectedBy returns the views whose rows an event can change. Events
// about who joined or left (participants in reports are students who
// answered), about quizzes (titles and texts are read live) and about lobby
// sessions (the views hold started sessions only) change none.
func ViewsAffectedBy(name quiz.EventName) []string {
	switch name {
	case quiz.EventAnswerSubmitted, quiz.EventQuestionDisplayed, quiz.EventQuestionClosed, quiz.EventSessionEnded:
		// An answer changes every view; an opened question adds an item
		// row and raises the bar of completion; a close or an end is when
		// a teacher looks: make sure the last answers are in.
		return Views()
	case quiz.EventSessionStarted:
		// A started session appears in the engagement list at once.
		return []string{ViewClassroomSessions}
	default:
		return nil
	}
}

// Clock is the time source of the Refresher; tests drive a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Invalidator drops cached report answers after a refresh; *Cache fits.
type Invalidator interface {
	Invalidate(ctx context.Context) error
}

// RefresherConfig tunes a Refresher.
type RefresherConfig struct {
	// Interval is the least time between two refreshes of one view
	// (config.Worker.RefreshInterval; default 5 s).
	Interval time.Duration
	// MaxDuty bounds the share of time a view may spend refreshing
	// (config.Worker.RefreshMaxDuty; default 0.02): after a refresh that
	// took d, the next one of that view waits at least d × (1/MaxDuty − 1).
	// A view's refresh rereads every live session's answers, so at scale it
	// is the interval, not the events, that must give way; as_of says how
	// fresh a report is. 1 disables the bound.
	MaxDuty float64
	// Clock defaults to the real one.
	Clock Clock
}

// Refresher keeps the report views fresh. The event worker calls Stored
// with the names of the events it stored; Run refreshes each view that such
// events affect, at most once per interval, with REFRESH MATERIALIZED VIEW
// CONCURRENTLY (reports keep reading the old rows meanwhile), records the
// refresh in view_refreshes (the reports' as_of) and invalidates the cache.
type Refresher struct {
	pool     *pgxpool.Pool
	cache    Invalidator
	log      *slog.Logger
	interval time.Duration
	maxDuty  float64
	clock    Clock
	duration *prometheus.HistogramVec
	failures *prometheus.CounterVec

	mu    sync.Mutex
	dirty map[string]bool
	last  map[string]time.Time     // start of the last refresh attempt
	took  map[string]time.Duration // duration of the last successful refresh
	wake  chan struct{}

	// passDone, if set (tests), is called after each pass of Run.
	passDone func()
}

// NewRefresher returns a refresher of the report views; cache may be nil.
// Its metrics are registered on reg.
func NewRefresher(pool *pgxpool.Pool, cache Invalidator, reg prometheus.Registerer, log *slog.Logger, cfg RefresherConfig) *Refresher {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.MaxDuty <= 0 || cfg.MaxDuty > 1 {
		cfg.MaxDuty = DefaultMaxDuty
	}
	r := &Refresher{
		pool: pool, cache: cache, log: log, interval: cfg.Interval, maxDuty: cfg.MaxDuty, clock: cfg.Clock,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "quizcast_view_refresh_duration_seconds",
			Help:    "Duration of REFRESH MATERIALIZED VIEW CONCURRENTLY per view.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"view"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quizcast_view_refresh_failures_total",
			Help: "Failed view refreshes per view (retried after the interval).",
		}, []string{"view"}),
		dirty: map[string]bool{},
		last:  map[string]time.Time{},
		took:  map[string]time.Duration{},
		wake:  make(chan struct{}, 1),
	}
	reg.MustRegister(r.duration, r.failures)
	// Every series exists from the start, so a missing failure is a 0.
	for _, v := range Views() {
		r.failures.WithLabelValues(v)
		r.duration.WithLabelValues(v)
	}
	return r
}

// Stored tells the refresher which events were just stored. It never
// blocks: it marks the affected views and wakes Run.
func (r *Refresher) Stored(names []quiz.EventName) {
	marked := false
	r.mu.Lock()
	for _, n := range names {
		for _, v := range ViewsAffectedBy(n) {
			r.dirty[v] = true
			marked = true
		}
	}
	r.mu.Unlock()
	if marked {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// MarkAll marks every view for refresh and wakes Run; the Rollup calls it
// after moving sessions into history, so the views drop them. It never
// blocks.
func (r *Refresher) MarkAll() {
	r.mu.Lock()
	for _, v := range Views() {
		r.dirty[v] = true
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run refreshes views until ctx ends. At start every view is refreshed once:
// events stored before a restart may not have been refreshed yet.
func (r *Refresher) Run(ctx context.Context) error {
	r.mu.Lock()
	for _, v := range Views() {
		r.dirty[v] = true
	}
	r.mu.Unlock()
	for {
		due, wait := r.due()
		refreshed := false
		for _, v := range due {
			err := r.Refresh(ctx, v)
			refreshed = refreshed || err == nil
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				r.failures.WithLabelValues(v).Inc()
				r.log.Error("view refresh failed", "view", v, "err", err)
				r.mu.Lock()
				r.dirty[v] = true // retried once the interval has passed
				r.mu.Unlock()
				if wait <= 0 || r.interval < wait {
					wait = r.interval
				}
			}
		}
		if refreshed && r.cache != nil {
			// One bump per pass drops every answer computed before it.
			if err := r.cache.Invalidate(ctx); err != nil {
				// The cache's TTL is the backstop.
				r.log.Warn("report cache invalidation failed", "err", err)
			}
		}
		var timer <-chan time.Time
		if wait > 0 {
			timer = r.clock.After(wait)
		}
		if r.passDone != nil {
			r.passDone()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-timer:
		}
	}
}

// due takes the dirty views whose interval has passed (clearing their mark
// and stamping their start) and returns how long until the next dirty one
// is due (0: none waiting).
func (r *Refresher) due() ([]string, time.Duration) {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var due []string
	var wait time.Duration
	for _, v := range Views() {
		if !r.dirty[v] {
			continue
		}
		next := r.last[v].Add(r.gap(v))
		if last, ok := r.last[v]; !ok || !now.Before(next) || now.Before(last) {
			// Events arriving during the refresh mark the view again: the
			// refresh may have started before they were committed.
			r.dirty[v] = false
			r.last[v] = now
			due = append(due, v)
			continue
		}
		if d := next.Sub(now); wait == 0 || d < wait {
			wait = d
		}
	}
	return due, wait
}

// DefaultMaxDuty is RefresherConfig.MaxDuty's default: a view refreshes at
// most 2 % of the time, so 50 × its last refresh's duration apart.
const DefaultMaxDuty = 0.02

// gap is the least time between two refreshes of v: the interval, or more
// when the last refresh was long (MaxDuty). Called with r.mu held.
func (r *Refresher) gap(v string) time.Duration {
	return max(r.interval, time.Duration(float64(r.took[v])*(1/r.maxDuty-1)))
}

const refreshLockSQL = `SELECT pg_advisory_xact_lock(hashtext('quizcast_refresh_' || $1))`

const recordRefreshSQL = `
INSERT INTO view_refreshes (view_name, refreshed_at, duration_ms)
VALUES ($1, $2, $3)
ON CONFLICT (view_name) DO UPDATE SET refreshed_at = excluded.refreshed_at, duration_ms = excluded.duration_ms`

// Refresh refreshes one view now, CONCURRENTLY, and records it (Run then
// invalidates the cache once per pass). Replicas of
// the worker take turns per view (an advisory lock) rather than refreshing
// the same view side by side. as_of is the start of the refresh: every
// answer committed before it is in the view.
func (r *Refresher) Refresh(ctx context.Context, view string) error {
	ident := pgx.Identifier{view}.Sanitize()
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("refresh %s: %w", view, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, refreshLockSQL, view); err != nil {
		return fmt.Errorf("refresh %s: lock: %w", view, err)
	}
	var started time.Time
	if err := tx.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&started); err != nil {
		return fmt.Errorf("refresh %s: clock: %w", view, err)
	}
	t0 := time.Now()
	if _, err := tx.Exec(ctx, "REFRESH MATERIALIZED VIEW CONCURRENTLY "+ident); err != nil {
		return fmt.Errorf("refresh %s: %w", view, err)
	}
	took := time.Since(t0)
	if _, err := tx.Exec(ctx, recordRefreshSQL, view, started, took.Milliseconds()); err != nil {
		return fmt.Errorf("refresh %s: record: %w", view, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("refresh %s: commit: %w", view, err)
	}
	r.duration.WithLabelValues(view).Observe(took.Seconds())
	r.mu.Lock()
	r.took[view] = took
	r.mu.Unlock()
	r.log.Debug("view refreshed", "view", view, "duration_ms", took.Milliseconds())
	return nil
}

package reports

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quizcast/quizcast/internal/quiz"
)

// TestMeasureRefresh measures, for each size in QUIZCAST_MEASURE_ANSWERS
// (comma separated, e.g. 100000,1000000): the time of a full refresh of
// each view (every session in the view), of the one-shot roll-up of every
// session but the most recent QUIZCAST_MEASURE_RECENT (default 50), then
// the time (QUIZCAST_MEASURE_RUNS times each, default 3) of REFRESH
// MATERIALIZED VIEW CONCURRENTLY of each view over the recent sessions, and
// the latency of each report (uncached) over history ∪ recent.
// It prints figures and asserts nothing about time; docs/reports.md holds
// the results. Skipped unless the variable is set.
func TestMeasureRefresh(t *testing.T) {
	sizes := os.Getenv("QUIZCAST_MEASURE_ANSWERS")
	if sizes == "" {
		t.Skip("set QUIZCAST_MEASURE_ANSWERS=100000,1000000 to measure")
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(s, func(t *testing.T) { measure(t, n) })
	}
}

func measure(t *testing.T, n int) {
	ctx := context.Background()
	pool := newDB(t)
	schools := max(20, n/50_000)
	t0 := time.Now()
	v := seedVolume(t, pool, schools, n)
	t.Logf("seeded %d answers in %d schools in %s", v.answers, schools, time.Since(t0).Round(time.Second))
	var answersSize string
	_ = pool.QueryRow(ctx, `SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'answers'::regclass`).Scan(&answersSize)
	t.Logf("answers with indexes: %s", answersSize)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := NewRefresher(pool, nil, prometheus.NewRegistry(), log, RefresherConfig{})
	// The first fill, over every session: what a refresh cost before the
	// roll-up (00003's full views).
	for _, view := range Views() {
		start := time.Now()
		if err := r.Refresh(ctx, view); err != nil {
			t.Fatal(err)
		}
		t.Logf("MEASURE answers=%d view=%s full_refresh=%s", v.answers, view, time.Since(start).Round(time.Millisecond))
	}
	// Every session rolled up but the most recent ones (QUIZCAST_MEASURE_RECENT,
	// default 50 ≈ 10k answers: the sessions running or just ended).
	recent := 50
	if s := os.Getenv("QUIZCAST_MEASURE_RECENT"); s != "" {
		recent, _ = strconv.Atoi(s)
	}
	var cutoff time.Time
	if err := pool.QueryRow(ctx, `SELECT ended_at + interval '1 microsecond' FROM sessions ORDER BY ended_at DESC OFFSET $1 LIMIT 1`, recent).Scan(&cutoff); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rolled, err := RollUpEnded(ctx, pool, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("MEASURE answers=%d rollup sessions=%d total=%s per_session=%s", v.answers, rolled, took.Round(time.Millisecond), (took / time.Duration(max(rolled, 1))).Round(time.Microsecond))
	var recentAnswers int64
	_ = pool.QueryRow(ctx, `SELECT coalesce(sum(answers_all), 0) FROM report_classroom_session_rows(ARRAY(SELECT id FROM sessions WHERE rolled_up_at IS NULL))`).Scan(&recentAnswers)
	t.Logf("MEASURE answers=%d recent_sessions=%d recent_answers=%d", v.answers, recent, recentAnswers)
	refreshAll(t, r) // the views drop the rolled-up sessions
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	repeat := 3
	if s := os.Getenv("QUIZCAST_MEASURE_RUNS"); s != "" {
		repeat, _ = strconv.Atoi(s)
		repeat = max(repeat, 1)
	}
	for _, view := range Views() {
		var runs []time.Duration
		for range repeat {
			start := time.Now()
			if err := r.Refresh(ctx, view); err != nil {
				t.Fatal(err)
			}
			runs = append(runs, time.Since(start))
		}
		slices.Sort(runs)
		var rows int64
		var size string
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM `+view).Scan(&rows)
		_ = pool.QueryRow(ctx, `SELECT pg_size_pretty(pg_total_relation_size($1::regclass))`, view).Scan(&size)
		t.Logf("MEASURE answers=%d view=%s rows=%d size=%s refresh_concurrently median=%s min=%s max=%s",
			v.answers, view, rows, size, runs[len(runs)/2].Round(time.Millisecond), runs[0].Round(time.Millisecond), runs[len(runs)-1].Round(time.Millisecond))
	}

	// Report latency through the service, uncached, as an admin.
	svc := NewService(NewStore(pool), nil, log)
	admin := as(v.admin, v.school, quiz.RoleAdmin)
	for _, c := range []struct {
		kind Kind
		id   string
	}{{KindPerformance, v.student}, {KindEngagement, v.classroom}, {KindEffectiveness, v.quiz}, {KindSession, v.session}} {
		var runs []time.Duration
		for range 21 {
			start := time.Now()
			if _, err := svc.Report(admin, Query{Kind: c.kind, SubjectID: c.id, Limit: DefaultLimit}); err != nil {
				t.Fatal(err)
			}
			runs = append(runs, time.Since(start))
		}
		slices.Sort(runs)
		t.Logf("MEASURE answers=%d report=%s p50=%s p95=%s", v.answers, c.kind, runs[10].Round(10*time.Microsecond), runs[19].Round(10*time.Microsecond))
	}
}

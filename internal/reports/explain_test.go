package reports

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// seqScanBad matches a sequential scan of the big tables (answers, events,
// any of their partitions) or of the report views and history tables.
var seqScanBad = regexp.MustCompile(`Seq Scan on (answers|events|report_\w+)\b`)

// TestReportPlansUseIndexes seeds a realistic volume (200k answers over 20
// schools, 2026 in monthly partitions), rolls half the sessions up into
// history, refreshes and analyzes, then checks
// the plan of every report query, both the custom plan for the values and
// the generic plan a cached prepared statement ends up with: none reads
// answers, events or a whole view sequentially.
func TestReportPlansUseIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 200k answers")
	}
	pool := newDB(t)
	v := seedVolume(t, pool, 20, 200_000)
	r := NewRefresher(pool, nil, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)), RefresherConfig{})
	ctx := context.Background()
	// About half the sessions (those ended before mid-June) rolled up: both
	// the history tables and the views hold a realistic share, and each
	// must be read by index.
	rolled, err := RollUpEnded(ctx, pool, time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC))
	if err != nil || rolled == 0 {
		t.Fatalf("rolled up %d sessions: %v", rolled, err)
	}
	refreshAll(t, r)
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d answers, rolled up %d sessions", v.answers, rolled)

	q := Query{Limit: DefaultLimit}
	from, to := q.span()
	at, sid := q.sessionCursor()
	ver, idx := q.questionCursor()
	// A narrower range as well: the plans must hold for both.
	mFrom, mTo := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		sql  string
		args []any
	}{
		{"subject student", studentSubjectSQL, []any{v.school, v.student, v.teacher}},
		{"subject classroom", classroomSubjectSQL, []any{v.school, v.classroom}},
		{"subject quiz", quizSubjectSQL, []any{v.school, v.quiz}},
		{"subject session", sessionSubjectSQL, []any{v.school, v.session}},
		{"as_of", asOfSQL, []any{Views()}},
		{"performance totals", perfTotalsSQL, []any{v.school, v.student, from, to, nil}},
		{"performance totals (teacher)", perfTotalsSQL, []any{v.school, v.student, mFrom, mTo, v.teacher}},
		{"performance by day", perfByDaySQL, []any{v.school, v.student, from, to, v.teacher}},
		{"performance sessions", perfSessionsSQL, []any{v.school, v.student, from, to, nil, at, sid, DefaultLimit + 1}},
		{"enrolled", enrolledSQL, []any{v.school, v.classroom}},
		{"engagement totals", engagementTotalsSQL, []any{v.school, v.classroom, from, to}},
		{"engagement totals (month)", engagementTotalsSQL, []any{v.school, v.classroom, mFrom, mTo}},
		{"engagement sessions", engagementSessionsSQL, []any{v.school, v.classroom, from, to, at, sid, DefaultLimit + 1}},
		{"effectiveness sessions", quizSessionsSQL, []any{v.school, v.quiz, from, to}},
		{"effectiveness questions", quizQuestionStatsSQL, []any{v.school, v.quiz, from, to, ver, idx, DefaultLimit + 1}},
		{"effectiveness questions (month)", quizQuestionStatsSQL, []any{v.school, v.quiz, mFrom, mTo, ver, idx, DefaultLimit + 1}},
		{"session participants", sessionParticipantsSQL, []any{v.school, v.session, from, to}},
		{"session questions", sessionQuestionStatsSQL, []any{v.school, v.session, from, to, ver, idx, DefaultLimit + 1}},
		{"session leaderboard", leaderboardSQL, []any{v.school, v.session, from, to}},
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Custom plan: the values are known to the planner.
			plan := explain(t, ctx, conn, "EXPLAIN "+c.sql, c.args...)
			if m := seqScanBad.FindString(plan); m != "" {
				t.Errorf("custom plan has %q:\n%s", m, plan)
			}
			t.Logf("custom plan:\n%s", plan)
			// Generic plan, as for a statement prepared and reused.
			name := fmt.Sprintf("plan_check_%d", i)
			if _, err := conn.Exec(ctx, "PREPARE "+name+" AS "+c.sql); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
				t.Fatal(err)
			}
			defer func() { _, _ = conn.Exec(ctx, "RESET plan_cache_mode; DEALLOCATE "+name) }()
			plan = explain(t, ctx, conn, "EXPLAIN EXECUTE "+name+"("+literals(c.args)+")")
			if m := seqScanBad.FindString(plan); m != "" {
				t.Errorf("generic plan has %q:\n%s", m, plan)
			}
		})
	}
}

// literals writes args as SQL literals for EXECUTE.
func literals(args []any) string {
	out := make([]string, len(args))
	for i, a := range args {
		switch x := a.(type) {
		case nil:
			out[i] = "NULL"
		case string:
			out[i] = "'" + strings.ReplaceAll(x, "'", "''") + "'"
		case time.Time:
			out[i] = "'" + x.UTC().Format(time.RFC3339Nano) + "'"
		case int:
			out[i] = fmt.Sprint(x)
		case []string:
			out[i] = "ARRAY['" + strings.Join(x, "','") + "']"
		default:
			panic(fmt.Sprintf("literal of %T", a))
		}
	}
	return strings.Join(out, ", ")
}

func explain(t *testing.T, ctx context.Context, conn *pgxpool.Conn, sql string, args ...any) string {
	t.Helper()
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/testenv"
)

// everyReport asks the world's every report (JSON without as_of, and CSV),
// as the admin and as a teacher whose view of a student is bounded, with
// and without a range, and page by page: the answers a roll-up must leave
// unchanged.
func (w *world) everyReport(t *testing.T) map[string]string {
	t.Helper()
	svc := NewService(w.store, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	callers := map[string]context.Context{
		"admin":    as(w.admin, w.school, quiz.RoleAdmin),
		"teacher2": as(w.teacher2, w.school, quiz.RoleTeacher),
	}
	subjects := []struct {
		kind Kind
		id   string
	}{{KindEffectiveness, w.quiz}, {KindEngagement, w.c}, {KindEngagement, w.c2},
		{KindSession, w.s1}, {KindSession, w.s2}, {KindSession, w.s3}}
	for _, id := range w.students {
		subjects = append(subjects, struct {
			kind Kind
			id   string
		}{KindPerformance, id})
	}
	ranges := map[string][2]time.Time{
		"all":       {},
		"september": {dayS1, dayS3},
	}
	out := map[string]string{}
	for who, ctx := range callers {
		for _, s := range subjects {
			for rn, rg := range ranges {
				for _, limit := range []int{DefaultLimit, 1} {
					q := Query{Kind: s.kind, SubjectID: s.id, From: rg[0], To: rg[1], Limit: limit}
					for page := 0; ; page++ {
						key := fmt.Sprintf("%s %s %s %s limit %d page %d", who, s.kind, s.id, rn, limit, page)
						raw, err := svc.Report(ctx, q)
						if err != nil {
							out[key] = codeOf(err)
							break
						}
						var m map[string]any
						if err := json.Unmarshal(raw, &m); err != nil {
							t.Fatal(err)
						}
						delete(m, "as_of")
						canon, _ := json.Marshal(m)
						out[key] = string(canon)
						next, _ := m["next_cursor"].(string)
						if next == "" {
							break
						}
						q.Cursor = next
					}
				}
				var csv bytes.Buffer
				err := svc.ExportCSV(ctx, Query{Kind: s.kind, SubjectID: s.id, From: rg[0], To: rg[1], CSV: true},
					func(string) io.Writer { return &csv })
				out[fmt.Sprintf("%s %s %s %s csv", who, s.kind, s.id, rn)] = codeOf(err) + "\n" + csv.String()
			}
		}
	}
	return out
}

func sameReports(t *testing.T, stage string, want, got map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s changed:\nbefore %s\nafter  %s", stage, k, v, got[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d reports, want %d", stage, len(got), len(want))
	}
}

// count returns the number of rows of a table or view.
func (w *world) count(t *testing.T, rel string) int {
	t.Helper()
	var n int
	if err := w.pool.QueryRow(w.ctx, `SELECT count(*) FROM `+rel).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRollupKeepsEveryReport rolls the world's sessions up in steps (some,
// before and after the views' refresh; all; again; and again after the
// marks were lost) and checks that every report answers exactly what it
// answered from the full views.
func TestRollupKeepsEveryReport(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	want := w.everyReport(t)
	if w.count(t, ViewStudentSessions) == 0 {
		t.Fatal("the views are empty before any roll-up")
	}

	// S1 and S2 ended (at start + 1 h) before S2's end + 1 h; S3 after.
	n, err := RollUpEnded(ctx, w.pool, dayS2.Add(2*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("rolled up %d sessions (%v), want 2", n, err)
	}
	sameReports(t, "S1, S2 rolled up, views not refreshed", want, w.everyReport(t))
	refreshAll(t, w.refresher)
	if got := w.count(t, ViewClassroomSessions); got != 1 {
		t.Fatalf("report_classroom_sessions has %d rows after the roll-up of 2 of 3 sessions", got)
	}
	sameReports(t, "S1, S2 rolled up, views refreshed", want, w.everyReport(t))

	if n, err := RollUpEnded(ctx, w.pool, time.Now()); err != nil || n != 1 {
		t.Fatalf("rolled up %d sessions (%v), want 1", n, err)
	}
	sameReports(t, "all rolled up, views not refreshed", want, w.everyReport(t))
	refreshAll(t, w.refresher)
	for _, v := range Views() {
		if got := w.count(t, v); got != 0 {
			t.Fatalf("%s has %d rows after every session was rolled up", v, got)
		}
	}
	sameReports(t, "all rolled up, views refreshed", want, w.everyReport(t))
	history := map[string]int{}
	for _, h := range []string{HistoryStudentSessions, HistoryClassroomSessions, HistoryQuestionStats} {
		history[h] = w.count(t, h)
	}
	if history[HistoryClassroomSessions] != 3 || history[HistoryStudentSessions] != 6+2+1 || history[HistoryQuestionStats] != 5+1+1 {
		t.Fatalf("history rows %v", history)
	}

	if n, err := RollUpEnded(ctx, w.pool, time.Now()); err != nil || n != 0 {
		t.Fatalf("a second roll-up took %d sessions (%v), want 0", n, err)
	}
	// Rolled up twice: the reconciliation replaces the rows.
	if n, err := Reconcile(ctx, w.pool, dayS1, time.Now()); err != nil || n != 3 {
		t.Fatalf("reconciled %d sessions (%v), want 3", n, err)
	}
	sameReports(t, "reconciled", want, w.everyReport(t))
	// The marks lost (the views take every session again) and everything
	// rolled up once more: history wins over the view, nothing counts twice.
	w.exec(`UPDATE sessions SET rolled_up_at = NULL WHERE school_id = $1`, w.school)
	refreshAll(t, w.refresher)
	if got := w.count(t, ViewClassroomSessions); got != 3 {
		t.Fatalf("report_classroom_sessions has %d rows, want 3", got)
	}
	sameReports(t, "in history and in the views", want, w.everyReport(t))
	if n, err := RollUpEnded(ctx, w.pool, time.Now()); err != nil || n != 3 {
		t.Fatalf("rolled up %d sessions again (%v), want 3", n, err)
	}
	sameReports(t, "rolled up twice", want, w.everyReport(t))
	for h, rows := range history {
		if got := w.count(t, h); got != rows {
			t.Errorf("%s: %d rows after rolling up twice, want %d", h, got, rows)
		}
	}
}

// TestRollupSkipsLiveSessions: a running session, or one that ended after
// the cut-off, stays in the views.
func TestRollupSkipsLiveSessions(t *testing.T) {
	w := newWorld(t)
	w.exec(`UPDATE sessions SET state = 'running', ended_at = NULL WHERE id = $1`, w.s3)
	want := w.everyReport(t)
	n, err := RollUpEnded(context.Background(), w.pool, dayS1.Add(time.Hour)) // S1 ended exactly then
	if err != nil || n != 0 {
		t.Fatalf("rolled up %d sessions (%v), want 0", n, err)
	}
	if n, err = RollUpEnded(context.Background(), w.pool, time.Now()); err != nil || n != 2 {
		t.Fatalf("rolled up %d sessions (%v), want 2 (S3 is running)", n, err)
	}
	var rolled bool
	if err := w.pool.QueryRow(w.ctx, `SELECT rolled_up_at IS NOT NULL FROM sessions WHERE id = $1`, w.s3).Scan(&rolled); err != nil || rolled {
		t.Fatalf("the running session rolled up: %v %v", rolled, err)
	}
	refreshAll(t, w.refresher)
	if got := w.count(t, ViewClassroomSessions); got != 1 {
		t.Fatalf("the views hold %d sessions, want the running one", got)
	}
	sameReports(t, "S1, S2 rolled up, S3 running", want, w.everyReport(t))
}

// marks counts MarkAll calls.
type marks struct{ n atomic.Int32 }

func (m *marks) MarkAll() { m.n.Add(1) }

// TestRollupRunFollowsSessionEnded drives the roll-up job with a fake
// clock: a pass at start takes the sessions that ended before; a session
// that ends later is rolled up once session_ended was stored and the grace
// has passed, not before; the views are marked for refresh after each pass
// that moved sessions.
func TestRollupRunFollowsSessionEnded(t *testing.T) {
	w := newWorld(t)
	clock := &fakeClock{now: time.Now()}
	views := &marks{}
	r := NewRollup(w.pool, views, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)),
		RollupConfig{Grace: time.Minute, Sweep: time.Hour, Clock: clock})
	passes := make(chan struct{}, 10)
	r.passDone = func() { passes <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitPass(t, passes)
	if got := w.count(t, HistoryClassroomSessions); got != 3 || views.n.Load() != 1 {
		t.Fatalf("after the first pass: %d sessions in history, %d marks; want 3, 1", got, views.n.Load())
	}
	rolledUp := func(id string) bool {
		var ok bool
		if err := w.pool.QueryRow(w.ctx, `SELECT rolled_up_at IS NOT NULL FROM sessions WHERE id = $1`, id).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}

	// A session that ends now (the fixture ends sessions an hour after
	// their start).
	s4 := w.session(w.c, w.quiz, w.teacher, clock.Now().Add(-time.Hour), 0)
	w.answer(s4, w.students["s1"], 0, []string{"a"}, 700, 1500)
	r.Stored([]quiz.EventName{quiz.EventAnswerSubmitted, quiz.EventSessionEnded})
	// Run schedules a pass a grace (+1 s) from now.
	testenv.Eventually(t, 10*time.Second, "a pass scheduled after the grace", func() bool {
		clock.mu.Lock()
		defer clock.mu.Unlock()
		for _, tm := range clock.timers {
			if tm.at.Equal(clock.now.Add(time.Minute + time.Second)) {
				return true
			}
		}
		return false
	})
	clock.Advance(time.Minute + time.Second)
	waitPass(t, passes)
	if !rolledUp(s4) || views.n.Load() != 2 {
		t.Fatalf("after session_ended and the grace: rolled up %v, %d marks", rolledUp(s4), views.n.Load())
	}
}

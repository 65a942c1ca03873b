package reports

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/testenv"
)

// fakeClock is driven by the test: time moves only on Advance.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
			continue
		}
		kept = append(kept, t)
	}
	c.timers = kept
}

// refreshCounts reads how many refreshes of each view the histogram saw.
func refreshCounts(t *testing.T, reg *prometheus.Registry) map[string]uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "quizcast_view_refresh_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

func waitPass(t *testing.T, passes <-chan struct{}) {
	t.Helper()
	select {
	case <-passes:
	case <-time.After(60 * time.Second):
		t.Fatal("the refresher made no pass")
	}
}

func generation(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	n, err := rdb.Get(context.Background(), GenerationKey).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	return n
}

func TestRefresherRefreshesAffectedViewsAtMostOncePerInterval(t *testing.T) {
	w := newWorld(t)
	rdb := testenv.Redis(t)
	reg := prometheus.NewRegistry()
	clock := &fakeClock{now: time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)}
	cache := NewCache(rdb, time.Minute, reg)
	r := NewRefresher(w.pool, cache, reg, slog.New(slog.NewTextHandler(io.Discard, nil)),
		RefresherConfig{Interval: time.Minute, Clock: clock})
	passes := make(chan struct{}, 1000)
	r.passDone = func() { passes <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	s2 := w.students["s2"]
	answered := func() int64 {
		rep, err := w.store.Performance(context.Background(), w.scope(s2), Person{}, Query{Kind: KindPerformance})
		if err != nil {
			t.Fatal(err)
		}
		return rep.Answered
	}

	// Start: every view once (events may have been stored before a restart).
	waitPass(t, passes)
	if c := refreshCounts(t, reg); c[ViewStudentSessions] != 1 || c[ViewClassroomSessions] != 1 || c[ViewQuestionStats] != 1 {
		t.Fatalf("refreshes after start = %v, want one each", c)
	}
	gen0 := generation(t, rdb)
	var at0 time.Time
	if err := w.pool.QueryRow(ctx, `SELECT refreshed_at FROM view_refreshes WHERE view_name = $1`, ViewQuestionStats).Scan(&at0); err != nil {
		t.Fatal(err)
	}

	// New answers within the interval: noted, not refreshed yet, however
	// many batches arrive.
	w.answer(w.s2, s2, 0, []string{"a"}, 500, 700)
	for range 3 {
		// The loop is idle between passes: each batch wakes it once.
		r.Stored([]quiz.EventName{quiz.EventAnswerSubmitted, quiz.EventAnswerSubmitted})
		waitPass(t, passes)
		if c := refreshCounts(t, reg); c[ViewStudentSessions] != 1 || c[ViewClassroomSessions] != 1 || c[ViewQuestionStats] != 1 {
			t.Fatalf("refreshes within the interval = %v, want still one each", c)
		}
	}
	eqInt(t, "answered before the interval passed", answered(), 4)

	// The interval passes: one refresh of each view for all the batches.
	clock.Advance(time.Minute)
	waitPass(t, passes)
	if c := refreshCounts(t, reg); c[ViewStudentSessions] != 2 || c[ViewClassroomSessions] != 2 || c[ViewQuestionStats] != 2 {
		t.Fatalf("refreshes after the interval = %v, want two each", c)
	}
	eqInt(t, "answered after the refresh", answered(), 5)
	if gen := generation(t, rdb); gen != gen0+1 {
		t.Errorf("cache generation = %d, want one bump after %d", gen, gen0)
	}
	var at1 time.Time
	var ms int
	if err := w.pool.QueryRow(ctx, `SELECT refreshed_at, duration_ms FROM view_refreshes WHERE view_name = $1`, ViewQuestionStats).Scan(&at1, &ms); err != nil {
		t.Fatal(err)
	}
	if !at1.After(at0) || ms < 0 {
		t.Errorf("view_refreshes: refreshed_at %v (was %v), duration_ms %d", at1, at0, ms)
	}

	// Events that change no view wake nothing; session_started refreshes
	// the engagement view alone.
	clock.Advance(time.Minute)
	r.Stored([]quiz.EventName{quiz.EventStudentJoined, quiz.EventQuizCreated, quiz.EventSessionCreated})
	r.Stored([]quiz.EventName{quiz.EventSessionStarted})
	waitPass(t, passes)
	if c := refreshCounts(t, reg); c[ViewStudentSessions] != 2 || c[ViewClassroomSessions] != 3 || c[ViewQuestionStats] != 2 {
		t.Errorf("refreshes after session_started = %v, want one more of %s alone", c, ViewClassroomSessions)
	}
	select {
	case <-passes:
		t.Error("an event that changes no view woke the refresher")
	default:
	}
}

func TestRefreshIsConcurrentWithReads(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	// A reader holds the view open in a transaction (its ACCESS SHARE lock
	// lasts until commit). A plain REFRESH would wait for it; CONCURRENTLY
	// does not.
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var before int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM report_student_sessions`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	w.answer(w.s2, w.students["s2"], 0, []string{"a"}, 500, 700)

	// Reports keep answering throughout.
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		defer close(readErr)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := w.store.Engagement(ctx, w.scope(w.c), Classroom{}, Query{Kind: KindEngagement}); err != nil {
				readErr <- err
				return
			}
		}
	}()
	refreshed := make(chan error, 1)
	go func() {
		for _, v := range Views() {
			if err := w.refresher.Refresh(ctx, v); err != nil {
				refreshed <- err
				return
			}
		}
		refreshed <- nil
	}()
	select {
	case err := <-refreshed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the refresh waited for the reader: not concurrent")
	}
	close(stop)
	if err := <-readErr; err != nil {
		t.Fatalf("a report failed during the refresh: %v", err)
	}
	// The reader's transaction still reads; the new snapshot has the answer.
	var again int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM report_student_sessions`).Scan(&again); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var after int
	if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM report_student_sessions`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	eqInt(t, "rows after the refresh (s2 joins S2)", after, before+1)
}

func TestViewsAffectedBy(t *testing.T) {
	for _, tc := range []struct {
		name quiz.EventName
		want int
	}{
		{quiz.EventAnswerSubmitted, 3}, {quiz.EventQuestionDisplayed, 3}, {quiz.EventQuestionClosed, 3},
		{quiz.EventSessionEnded, 3}, {quiz.EventSessionStarted, 1},
		{quiz.EventStudentJoined, 0}, {quiz.EventStudentLeft, 0}, {quiz.EventQuizCreated, 0},
		{quiz.EventQuizUpdated, 0}, {quiz.EventSessionCreated, 0},
	} {
		if got := len(ViewsAffectedBy(tc.name)); got != tc.want {
			t.Errorf("%s affects %d views, want %d", tc.name, got, tc.want)
		}
	}
}

// TestLongRefreshesAreSpacedByTheDutyBound: a view whose last refresh took
// 2 s waits 49 × 2 s at the default 2 % duty, not the 5 s interval; a quick
// one keeps the interval.
func TestLongRefreshesAreSpacedByTheDutyBound(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)}
	r := NewRefresher(nil, nil, prometheus.NewRegistry(), slog.New(slog.DiscardHandler),
		RefresherConfig{Interval: 5 * time.Second, Clock: clock})
	r.Stored([]quiz.EventName{quiz.EventAnswerSubmitted})
	due, _ := r.due()
	if len(due) != len(Views()) {
		t.Fatalf("first pass: %v due, want every view", due)
	}
	r.took[ViewStudentSessions] = 2 * time.Second
	r.took[ViewClassroomSessions] = 10 * time.Millisecond
	r.Stored([]quiz.EventName{quiz.EventAnswerSubmitted})

	clock.Advance(5 * time.Second)
	due, wait := r.due()
	if len(due) != 2 || due[0] != ViewClassroomSessions || due[1] != ViewQuestionStats {
		t.Fatalf("after the interval: %v due, want the quick views only", due)
	}
	if want := 98*time.Second - 5*time.Second; wait != want {
		t.Fatalf("student view waits %v more, want %v (49 × its 2 s refresh)", wait, want)
	}
	clock.Advance(wait - time.Millisecond)
	if due, _ := r.due(); len(due) != 0 {
		t.Fatalf("1 ms early: %v due", due)
	}
	clock.Advance(time.Millisecond)
	if due, _ := r.due(); len(due) != 1 || due[0] != ViewStudentSessions {
		t.Fatalf("at 98 s: %v due, want the student view", due)
	}
}

package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/testenv"
)

func pipelineEvent(name quiz.EventName, at time.Time) quiz.Event {
	return quiz.Event{EventID: uuid.NewString(), Name: name, OccurredAt: at, SchoolID: uuid.NewString(), App: quiz.AppServer}
}

func TestEventStoreStoresEachEventOnce(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	s := postgres.NewEventStore(pool)
	now := time.Now().UTC()
	a, b := pipelineEvent(quiz.EventQuizCreated, now), pipelineEvent(quiz.EventSessionStarted, now)
	b.SessionID, b.Data = uuid.NewString(), map[string]any{"n": 1}
	// a appears twice in one batch, as after a relay retry.
	fresh, err := s.Store(ctx, []quiz.Event{a, b, a})
	if err != nil || len(fresh) != 2 {
		t.Fatalf("first store: new %v, %v; want 2 new", fresh, err)
	}
	fresh, err = s.Store(ctx, []quiz.Event{b, a})
	if err != nil || len(fresh) != 0 {
		t.Fatalf("second store: new %v, %v; want none", fresh, err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE classroom_id IS NULL`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("events: %d (%v), want 2 with empty ids stored as NULL", n, err)
	}
}

func TestEventStoreCreatesMissingPartitions(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	// 14 months ago: older than anything the migration created.
	old := time.Now().UTC().AddDate(0, -14, 0)
	if _, err := postgres.NewEventStore(pool).Store(ctx, []quiz.Event{pipelineEvent(quiz.EventSessionEnded, old)}); err != nil {
		t.Fatalf("store an event of a month without partition: %v", err)
	}
	var part string
	if err := pool.QueryRow(ctx, `SELECT tableoid::regclass::text FROM events`).Scan(&part); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("events_%04d_%02d", old.Year(), old.Month()); part != want {
		t.Fatalf("event in %s, want %s", part, want)
	}
}

func TestEventStoreSortsDataErrorsFromOutages(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	s := postgres.NewEventStore(pool)
	bad := pipelineEvent(quiz.EventAnswerSubmitted, time.Now().UTC())
	bad.Data = map[string]any{"text": "\u0000"}
	_, err := s.Store(ctx, []quiz.Event{bad})
	if err == nil || errors.Is(err, quiz.ErrUnavailable) {
		t.Fatalf("jsonb refusing \\u0000: got %v, want a data error (not unavailable)", err)
	}
	pool.Close()
	_, err = s.Store(ctx, []quiz.Event{pipelineEvent(quiz.EventAnswerSubmitted, time.Now().UTC())})
	if !errors.Is(err, quiz.ErrUnavailable) {
		t.Fatalf("closed pool: got %v, want unavailable", err)
	}
}

func TestOutboxDrainPublishesInOrderAndDeletesOnlyAfterSuccess(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	s := postgres.NewOutboxStore(pool)
	var evs []quiz.Event
	session := uuid.NewString() // one session: one partition, in order
	for range 5 {
		evs = append(evs, sessionEvent(session))
	}
	if err := s.Append(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx)
	if err != nil || st.Depth != 5 || st.Estimated || st.Oldest.IsZero() {
		t.Fatalf("stats: %+v %v; want exactly 5 with an oldest time", st, err)
	}

	failure := errors.New("rabbitmq down")
	n, err := s.Drain(ctx, 0, 1, 3, func(context.Context, []postgres.OutboxRow) error { return failure })
	if !errors.Is(err, failure) || n != 0 {
		t.Fatalf("failed publish: %d %v", n, err)
	}
	var got []string
	for {
		n, err := s.Drain(ctx, 0, 1, 3, func(_ context.Context, rows []postgres.OutboxRow) error {
			for _, r := range rows {
				got = append(got, r.EventID)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if len(got) != len(evs) {
		t.Fatalf("published %d events after the failure, want %d", len(got), len(evs))
	}
	for i := range evs {
		if got[i] != evs[i].EventID {
			t.Fatalf("published out of order: %v", got)
		}
	}
	if st, err := s.Stats(ctx); err != nil || st.Depth != 0 || !st.Oldest.IsZero() {
		t.Fatalf("stats after drain: %+v %v", st, err)
	}
}

// sessionEvent is an event of session.
func sessionEvent(session string) quiz.Event {
	e := pipelineEvent(quiz.EventStudentLeft, time.Time{})
	e.SessionID = session
	return e
}

// While one relay drains a partition, another finds that partition taken
// and leaves its rows alone (one drainer per partition keeps each session's
// events in order), but drains another session's partition at the same
// time; the partition is computed by PostgreSQL from the payload.
func TestOutboxOneDrainerPerPartition(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	s := postgres.NewOutboxStore(pool)
	partOf := func(session string) int {
		var p int
		if err := pool.QueryRow(ctx, `SELECT abs(hashtext($1) % 16)`, session).Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := uuid.NewString()
	b := uuid.NewString()
	for partOf(b) == partOf(a) {
		b = uuid.NewString()
	}
	if err := s.Append(ctx, sessionEvent(a), sessionEvent(a), sessionEvent(b)); err != nil {
		t.Fatal(err)
	}
	var parts []int
	if err := pool.QueryRow(ctx, `SELECT array_agg(part ORDER BY id) FROM outbox`).Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 || parts[0] != partOf(a) || parts[1] != partOf(a) || parts[2] != partOf(b) {
		t.Fatalf("outbox.part %v, want [%d %d %d]", parts, partOf(a), partOf(a), partOf(b))
	}
	inside, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		n, err := s.Drain(ctx, partOf(a), 1, 1, func(_ context.Context, rows []postgres.OutboxRow) error {
			close(inside)
			<-release
			return nil
		})
		if err != nil || n != 1 {
			t.Errorf("first drainer: %d %v", n, err)
		}
	})
	<-inside
	var second []postgres.OutboxRow
	n, err := s.Drain(ctx, partOf(a), 1, 10, func(_ context.Context, rows []postgres.OutboxRow) error {
		second = rows
		return nil
	})
	if err != nil || n != 1 || len(second) != 1 {
		t.Fatalf("second drainer: %d %v; want session b's one event", n, err)
	}
	var secondSession string
	if err := pool.QueryRow(ctx, `SELECT $1::jsonb->>'session_id'`, string(second[0].Payload)).Scan(&secondSession); err != nil || secondSession != b {
		t.Fatalf("second drainer published session %q (%v), want %q: it entered a held partition", secondSession, err, b)
	}
	n, err = s.Drain(ctx, partOf(a), 1, 10, func(context.Context, []postgres.OutboxRow) error {
		t.Error("a drainer published from a partition another one holds")
		return nil
	})
	if err != nil || n != 0 {
		t.Fatalf("third drainer: %d %v; want 0", n, err)
	}
	close(release)
	wg.Wait()
	if st, _ := s.Stats(ctx); st.Depth != 1 {
		t.Fatalf("depth %d, want 1", st.Depth)
	}
}

// TestOutboxListenWakesOnNotify: a node's Notify after its commit (the
// debounced outbox.Waker) wakes the relays listening.
func TestOutboxListenWakesOnNotify(t *testing.T) {
	pool, _ := testenv.Database(t)
	s := postgres.NewOutboxStore(pool)
	ctx, cancel := context.WithCancel(context.Background())
	wakes := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() { done <- s.Listen(ctx, func() { wakes <- struct{}{} }) }()
	<-wakes // the first wake-up: listening
	if err := s.Append(context.Background(), pipelineEvent(quiz.EventStudentLeft, time.Time{})); err != nil {
		t.Fatal(err)
	}
	if err := s.Notify(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wakes:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up after a notify")
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("Listen returned nil; want why it stopped")
	}
}

// BenchmarkEventStore measures the worker's insert: batches of 500 new
// events, one statement each.
func BenchmarkEventStore(b *testing.B) {
	pool, _ := testenv.Database(b)
	s := postgres.NewEventStore(pool)
	ctx := context.Background()
	const batch = 500
	evs := make([]quiz.Event, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		b.StopTimer()
		n := min(batch, b.N-done)
		for i := range n {
			evs[i] = pipelineEvent(quiz.EventAnswerSubmitted, time.Now().UTC())
			evs[i].SessionID, evs[i].UserID = uuid.NewString(), uuid.NewString()
			evs[i].Data = map[string]any{"question_id": uuid.NewString(), "choices": []string{"a"}, "correct": true, "points": 870}
		}
		b.StartTimer()
		if _, err := s.Store(ctx, evs[:n]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// A round may take several partitions (the relay's first round after a
// wake-up takes every free one): it publishes their rows in id order, so
// each session's events keep their order, and leaves held partitions alone.
func TestOutboxDrainsSeveralPartitionsInOneRound(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	s := postgres.NewOutboxStore(pool)
	var evs []quiz.Event
	sessions := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	for range 3 {
		for _, sess := range sessions {
			evs = append(evs, sessionEvent(sess))
		}
	}
	if err := s.Append(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	var published []postgres.OutboxRow
	n, err := s.Drain(ctx, 0, postgres.OutboxPartitions, 100, func(_ context.Context, rows []postgres.OutboxRow) error {
		published = rows
		return nil
	})
	if err != nil || n != len(evs) {
		t.Fatalf("one round over every partition: %d %v, want all %d events", n, err, len(evs))
	}
	for i := 1; i < len(published); i++ {
		if published[i].ID <= published[i-1].ID {
			t.Fatalf("published out of id order: %d after %d", published[i].ID, published[i-1].ID)
		}
	}
	if st, _ := s.Stats(ctx); st.Depth != 0 {
		t.Fatalf("depth %d after the round, want 0", st.Depth)
	}
}

// A round reads a partition from above the highest id the node drained
// there, but ids are taken at insert: a row whose transaction commits after
// a later row of its partition was drained sits below that mark. It is
// still published (once) when the marks are reset, and nothing is lost.
func TestOutboxPublishesARowThatCommitsBelowTheMark(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	s := postgres.NewOutboxStore(pool)
	s.MarkReset = 200 * time.Millisecond
	session := uuid.NewString()
	late, early := sessionEvent(session), sessionEvent(session)
	late.OccurredAt, early.OccurredAt = time.Now().UTC(), time.Now().UTC()

	tx, err := pool.Begin(ctx) // takes the lower id, commits last
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	payload, err := json.Marshal(late)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO outbox (school_id, event_id, name, payload, created_at) VALUES ($1, $2, $3, $4, $5)`,
		late.SchoolID, late.EventID, string(late.Name), payload, late.OccurredAt); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, early); err != nil {
		t.Fatal(err)
	}
	published := map[string]int{}
	drain := func() int {
		t.Helper()
		n, err := s.Drain(ctx, 0, postgres.OutboxPartitions, 100, func(_ context.Context, rows []postgres.OutboxRow) error {
			for _, o := range rows {
				published[o.EventID]++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := drain(); n != 1 || published[early.EventID] != 1 {
		t.Fatalf("first round published %d rows (%v), want the committed one", n, published)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the late row published", func() bool {
		drain()
		return published[late.EventID] > 0
	})
	drain()
	if published[late.EventID] != 1 || published[early.EventID] != 1 {
		t.Fatalf("published %v, want each row once", published)
	}
	if st, _ := s.Stats(ctx); st.Depth != 0 {
		t.Fatalf("depth %d, want 0", st.Depth)
	}
}

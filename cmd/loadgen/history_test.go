package main

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/quizcast/quizcast/internal/testenv"
)

// TestSeedHistory seeds a small past on a real database: every answer gets
// the event the answer writer would have sent (same id, same data keys),
// and every seeded session is rolled up into the report history.
func TestSeedHistory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, _ := testenv.Database(t)
	seeded, rows := plan(3, 4, 12, 2, "pw", "hash")
	if err := copyAll(ctx, pool, rows); err != nil {
		t.Fatal(err)
	}
	n, err := seedHistory(ctx, pool, seeded, 240, 10)
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 { // 240 answers, 4 students × 10 questions a session
		t.Fatalf("%d sessions seeded, want 6", n)
	}
	var answers, events, matched, notRolled, history int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM answers), (SELECT count(*) FROM events),
			(SELECT count(*) FROM answers a JOIN events e ON e.event_id = a.id AND e.occurred_at = a.received_at
				AND e.name = 'answer_submitted' AND e.user_id = a.student_id AND e.session_id = a.session_id),
			(SELECT count(*) FROM sessions WHERE rolled_up_at IS NULL),
			(SELECT count(DISTINCT session_id) FROM report_classroom_sessions_history)`).
		Scan(&answers, &events, &matched, &notRolled, &history); err != nil {
		t.Fatal(err)
	}
	if answers != 240 || events != 240 || matched != 240 {
		t.Fatalf("answers %d, events %d, events matching their answer %d; want 240 each", answers, events, matched)
	}
	if notRolled != 0 || history != 6 {
		t.Fatalf("%d sessions not rolled up, %d in the history; want 0 and 6", notRolled, history)
	}
	// The data of a seeded event has the answer writer's keys.
	var raw []byte
	if err := pool.QueryRow(ctx, `SELECT data FROM events LIMIT 1`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"answer_id", "choices", "correct", "index", "points", "question_id", "response_ms"}; !slices.Equal(keys, want) {
		t.Fatalf("event data keys %v, want %v", keys, want)
	}
}

package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/quizcast/quizcast/internal/clock"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/testenv"
)

// A clock anchored on PostgreSQL tells PostgreSQL's time: a reading of
// clock_timestamp() taken between two of its instants lies between them,
// give or take the anchor's uncertainty (half its round trip), and the
// earlier anchors' while the clock holds still after a re-anchor.
func TestClockAnchorsOnPostgres(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	read := postgres.ReadClock(pool)
	clk, err := clock.New(ctx, read, clock.ProcessMonotonic(), clock.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// A new anchor behind the instants already given holds the clock still
	// (it never goes back), by at most the largest uncertainty of the
	// anchors before it (the first one, on a fresh connection, is often the
	// widest).
	prev := clk.Uncertainty()
	for i := range 20 {
		if i%5 == 4 {
			prev = max(prev, clk.Uncertainty())
			if err := clk.Anchor(ctx); err != nil {
				t.Fatal(err)
			}
		}
		before := clk.Now()
		db, err := read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		after := clk.Now()
		// PostgreSQL keeps microseconds.
		slack := clk.Uncertainty() + prev + time.Microsecond
		if db.Before(before.Add(-slack)) || db.After(after.Add(slack)) {
			t.Fatalf("PostgreSQL said %s, the clock %s .. %s around it (uncertainty %s)",
				db.UTC().Format(time.RFC3339Nano), before.Format(time.RFC3339Nano), after.Format(time.RFC3339Nano), slack)
		}
		if before.Location() != time.UTC {
			t.Fatal("the clock is not in UTC")
		}
	}
}

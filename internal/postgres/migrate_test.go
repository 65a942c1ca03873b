package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/testenv"
	"github.com/quizcast/quizcast/migrations"
)

// Several `server migrate` start at once on an empty database, as in a
// rolling deploy: every one succeeds and each migration is applied once.
// Without the lock they race on CREATE TABLE and goose's version table.
func TestConcurrentMigrateRunsAreLocked(t *testing.T) {
	pool, dbURL := testenv.EmptyDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const runs = 4
	errs := make([]error, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() {
			p, err := postgres.Connect(ctx, dbURL, 2)
			if err != nil {
				errs[i] = err
				return
			}
			defer p.Close()
			errs[i] = postgres.Migrate(ctx, p)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrate run %d: %v", i, err)
		}
	}
	files, err := migrations.FS.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, f := range files {
		if len(f.Name()) > 4 && f.Name()[len(f.Name())-4:] == ".sql" {
			want++
		}
	}
	var applied, distinct int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	if applied != want || distinct != want {
		t.Fatalf("goose_db_version: %d rows, %d versions; want each of the %d migrations once", applied, distinct, want)
	}
}

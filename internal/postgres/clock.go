package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ReadClock reads PostgreSQL's clock_timestamp(), the reference every
// node's clock (internal/clock) carries forward: one clock for all the
// instants the live path stores, whatever the nodes' wall clocks say.
func ReadClock(pool *pgxpool.Pool) func(context.Context) (time.Time, error) {
	return func(ctx context.Context) (time.Time, error) {
		var now time.Time
		err := pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&now)
		return now, mapError(err)
	}
}

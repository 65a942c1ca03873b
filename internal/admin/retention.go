package admin

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/background"
	"github.com/quizcast/quizcast/internal/postgres"
)

// RetentionStore is what the retention job needs from the database.
type RetentionStore interface {
	RemoveBefore(ctx context.Context, horizon time.Time, batch int) (postgres.Retained, error)
	DropAuditBefore(ctx context.Context, horizon time.Time) ([]string, error)
	PurgeExpiredResets(ctx context.Context) (int64, error)
	// Exclusively runs fn unless another node is running it (false).
	Exclusively(ctx context.Context, key string, fn func(context.Context) error) (bool, error)
}

// Retention removes what is older than the retention periods, once a day.
type Retention struct {
	Store RetentionStore
	Redis redis.UniversalClient
	// Months is RETENTION_MONTHS: sessions started before now minus Months
	// are removed with everything about them.
	Months int
	// AuditMonths is AUDIT_RETENTION_MONTHS: the audit log's own period.
	AuditMonths int
	// Refresher and Views: the report views rebuilt after a removal.
	Refresher Refresher
	Views     []string
	Log       *slog.Logger
}

// Horizon is the start of the retained window for months at now: the
// first instant of the month months before now's month, so that whole
// monthly partitions fall out of it.
func Horizon(now time.Time, months int) time.Time {
	y, m, _ := now.UTC().Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).AddDate(0, -months, 0)
}

// Run runs a pass at once, then daily, until ctx ends; a node whose turn
// another node holds skips it.
func (r *Retention) Run(ctx context.Context) {
	background.Every(ctx, 24*time.Hour, true, func(ctx context.Context) {
		// One node at a time; the others skip this day's turn.
		ran, err := r.Store.Exclusively(ctx, "quizcast_retention", func(ctx context.Context) error { return r.Pass(ctx, time.Now()) })
		switch {
		case err != nil && ctx.Err() == nil:
			r.Log.Error("retention pass failed", "err", err)
		case !ran:
			r.Log.Debug("retention pass skipped: another node runs it")
		}
	})
}

// Pass removes, as of now, the sessions before the horizon with everything
// about them, the audit partitions past their period and expired reset
// codes; then the Redis keys of the removed sessions and the cached
// reports, and rebuilds the report views so they cover the window only.
func (r *Retention) Pass(ctx context.Context, now time.Time) error {
	res, err := r.Store.RemoveBefore(ctx, Horizon(now, r.Months), 500)
	if err != nil {
		return err
	}
	audit, err := r.Store.DropAuditBefore(ctx, Horizon(now, r.AuditMonths))
	if err != nil {
		return err
	}
	resets, err := r.Store.PurgeExpiredResets(ctx)
	if err != nil {
		return err
	}
	if res.Sessions > 0 || len(res.DroppedPartitions) > 0 {
		if err := ForgetSessions(ctx, r.Redis, res.SessionIDs, true); err != nil {
			return err
		}
		if err := FlushReportCache(ctx, r.Redis); err != nil {
			return err
		}
		if r.Refresher != nil {
			for _, v := range r.Views {
				if err := r.Refresher.Refresh(ctx, v); err != nil {
					return err
				}
			}
		}
	}
	r.Log.Info("retention pass", "sessions_removed", res.Sessions, "partitions_dropped", len(res.DroppedPartitions),
		"audit_partitions_dropped", len(audit), "reset_codes_purged", resets)
	return nil
}

// Package background holds the loop every periodic job of a process runs
// in: the deadline sweeper, the hubs' resync, the progress sender, the
// revocation watch, partition upkeep, the clock (at a pace of its own).
package background

import (
	"context"
	"time"
)

// Every calls fn every interval (counted from the end of the call before)
// until ctx ends; with now set, it calls fn once at once as well. Calls
// never overlap.
func Every(ctx context.Context, interval time.Duration, now bool, fn func(context.Context)) {
	if now {
		fn(ctx)
	}
	Paced(ctx, func() time.Duration { return interval }, fn)
}

// Paced is Every with an interval that can change: it waits wait(), calls
// fn, and asks wait() again, until ctx ends (the clock reads again sooner
// while its anchor is uncertain). Calls never overlap.
func Paced(ctx context.Context, wait func() time.Duration, fn func(context.Context)) {
	t := time.NewTimer(wait())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
			t.Reset(wait())
		}
	}
}

package outbox

import (
	"context"
	"log/slog"
	"time"
)

// Waker tells the relays that outbox rows were committed: after a commit a
// store calls Kick (never blocks), and Run sends at most one notification
// per interval however many commits there were.
type Waker struct {
	notify   func(context.Context) error
	interval time.Duration
	log      *slog.Logger
	kicks    chan struct{}
}

// NewWaker returns a waker that calls notify (OutboxStore.Notify).
func NewWaker(notify func(context.Context) error, interval time.Duration, log *slog.Logger) *Waker {
	if interval <= 0 {
		interval = 20 * time.Millisecond
	}
	return &Waker{notify: notify, interval: interval, log: log, kicks: make(chan struct{}, 1)}
}

// Kick records that rows were committed.
func (w *Waker) Kick() {
	select {
	case w.kicks <- struct{}{}:
	default:
	}
}

// Run notifies after kicks until ctx ends.
func (w *Waker) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kicks:
		}
		if err := w.notify(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("waking the outbox relays failed; they poll", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.interval):
		}
	}
}

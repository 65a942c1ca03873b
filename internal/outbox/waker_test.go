package outbox

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// TestWakerFoldsKicks: however many commits kick it, the waker sends one
// notification per interval (here an hour, so exactly one), and Kick never
// blocks.
func TestWakerFoldsKicks(t *testing.T) {
	var sent atomic.Int32
	first := make(chan struct{})
	w := NewWaker(func(context.Context) error {
		if sent.Add(1) == 1 {
			close(first)
		}
		return nil
	}, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	for range 1000 {
		w.Kick()
	}
	<-first
	for range 1000 {
		w.Kick()
	}
	cancel()
	<-done
	if n := sent.Load(); n != 1 {
		t.Fatalf("%d notifications for 2000 kicks within one interval, want 1", n)
	}
}

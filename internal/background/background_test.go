package background

import (
	"context"
	"testing"
	"time"
)

// Paced asks for the wait again after every call, so a job can change its
// pace as it goes, and returns once ctx ends.
func TestPacedAsksForTheWaitAfterEveryCall(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var waits, calls int
	done := make(chan struct{})
	go func() {
		defer close(done)
		Paced(ctx, func() time.Duration {
			waits++
			return time.Duration(waits) * time.Millisecond
		}, func(context.Context) {
			calls++
			if calls == 3 {
				cancel()
			}
		})
	}()
	<-done
	if calls != 3 || waits != 4 {
		t.Fatalf("calls %d, waits asked %d; want 3 calls and a wait asked before each and after the last", calls, waits)
	}
}

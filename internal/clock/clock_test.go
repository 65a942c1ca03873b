package clock

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fake is a reference clock and a monotonic clock the test moves by hand.
// A read of the reference takes rtt of monotonic time, the reference being
// read at its midpoint.
type fake struct {
	mu   sync.Mutex
	mono time.Duration // the node's monotonic clock
	ref  time.Time     // the reference at mono == 0, before its own steps
	step time.Duration // the reference's own step
	rtt  time.Duration
	err  error
}

func (f *fake) monotonic() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mono
}

func (f *fake) source(context.Context) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return time.Time{}, f.err
	}
	f.mono += f.rtt / 2
	at := f.ref.Add(f.mono + f.step)
	f.mono += f.rtt - f.rtt/2
	return at, nil
}

func (f *fake) advance(d time.Duration) {
	f.mu.Lock()
	f.mono += d
	f.mu.Unlock()
}

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func newFake(t *testing.T, f *fake) *Clock {
	t.Helper()
	c, err := New(context.Background(), f.source, f.monotonic, Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The anchor is the reading at the midpoint of its round trip; between
// anchors the clock advances by the monotonic clock only.
func TestNowFollowsTheMonotonicClockFromTheMidpoint(t *testing.T) {
	f := &fake{ref: t0, rtt: 40 * time.Millisecond}
	c := newFake(t, f)
	if got := c.Now(); !got.Equal(t0.Add(40 * time.Millisecond)) {
		t.Fatalf("right after the anchor: %s, want %s", got, t0.Add(40*time.Millisecond))
	}
	f.advance(10 * time.Second)
	if got, want := c.Now(), t0.Add(10*time.Second+40*time.Millisecond); !got.Equal(want) {
		t.Fatalf("10 s later: %s, want %s", got, want)
	}
	if c.Now().Location() != time.UTC {
		t.Fatal("not in UTC")
	}
}

// A re-anchor follows the reference forward; one behind what Now already
// returned holds Now still until it has caught up: never backwards.
func TestReanchorNeverGoesBackwards(t *testing.T) {
	f := &fake{ref: t0}
	c := newFake(t, f)
	f.advance(time.Second)
	before := c.Now()
	f.step = 300 * time.Millisecond // the reference is ahead: follow it
	if err := c.Anchor(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Now(), before.Add(300*time.Millisecond); !got.Equal(want) {
		t.Fatalf("after a forward correction %s, want %s", got, want)
	}
	held := c.Now()
	f.step = -200 * time.Millisecond // now 500 ms behind what was returned
	if err := c.Anchor(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{0, 100 * time.Millisecond, 499 * time.Millisecond} {
		f.mu.Lock()
		f.mono = time.Second + d
		f.mu.Unlock()
		if got := c.Now(); !got.Equal(held) {
			t.Fatalf("%s after a backward correction of 500 ms: %s, want it held at %s", d, got, held)
		}
	}
	f.advance(time.Second)
	if got, want := c.Now(), t0.Add(2*time.Second+499*time.Millisecond-200*time.Millisecond); !got.Equal(want) {
		t.Fatalf("once caught up %s, want %s", got, want)
	}
}

// A failed or too slow reading keeps the last anchor.
func TestFailedReanchorKeepsTheLastAnchor(t *testing.T) {
	f := &fake{ref: t0}
	c := newFake(t, f)
	f.advance(30 * time.Second)
	f.err = errors.New("connection refused")
	f.step = time.Hour
	if err := c.Anchor(context.Background()); err == nil {
		t.Fatal("a failed reading reported no error")
	}
	f.err = nil
	f.rtt = 2 * time.Second
	if err := c.Anchor(context.Background()); !errors.Is(err, errSlowReading) {
		t.Fatalf("a reading with a 2 s round trip: %v, want errSlowReading", err)
	}
	if got, want := c.Now(), t0.Add(32*time.Second); !got.Equal(want) {
		t.Fatalf("after failed readings %s, want %s (the first anchor, carried forward)", got, want)
	}
}

// A first anchor read while PostgreSQL was slow is kept (there is nothing
// better) but replaced by any better reading, even one above MaxRoundTrip,
// and Run reads again every RetryInterval until the anchor is trusted.
func TestSlowFirstAnchorIsReplacedSoon(t *testing.T) {
	f := &fake{ref: t0, rtt: 4 * time.Second}
	c := newFake(t, f)
	if got := c.Uncertainty(); got != 2*time.Second {
		t.Fatalf("uncertainty of a 4 s first reading: %s", got)
	}
	if got := c.wait(); got != time.Second {
		t.Fatalf("next reading of an uncertain clock in %s, want the retry interval (1 s)", got)
	}
	f.rtt = 2 * time.Second // slow, but better than the anchor
	if err := c.Anchor(context.Background()); err != nil {
		t.Fatalf("a better reading was refused: %v", err)
	}
	if got := c.Uncertainty(); got != time.Second {
		t.Fatalf("uncertainty after a 2 s reading: %s, want 1 s", got)
	}
	f.rtt = 3 * time.Second // slow and worse than the anchor
	if err := c.Anchor(context.Background()); !errors.Is(err, errSlowReading) {
		t.Fatalf("a worse slow reading: %v, want errSlowReading", err)
	}
	f.rtt = 20 * time.Millisecond
	if err := c.Anchor(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := c.wait(); got != 30*time.Second {
		t.Fatalf("next reading of a trusted clock in %s, want the interval (30 s)", got)
	}
	// The reference was read at the midpoint of the last round trip:
	// t0 plus every round trip so far (4 + 2 + 3 s) plus half of this one.
	if got, want := c.Now(), t0.Add(9*time.Second+20*time.Millisecond); !got.Equal(want) {
		t.Fatalf("after the good reading %s, want %s", got, want)
	}
}

// The first reading must succeed: a clock without one has nothing to say.
func TestNewNeedsAReading(t *testing.T) {
	f := &fake{ref: t0, err: errors.New("connection refused")}
	if _, err := New(context.Background(), f.source, f.monotonic, Config{}, nil); err == nil {
		t.Fatal("New without a reading succeeded")
	}
}

// Now never goes backwards under concurrent calls and re-anchors.
func TestNowIsMonotonicUnderConcurrency(t *testing.T) {
	f := &fake{ref: t0, rtt: time.Millisecond}
	c := newFake(t, f)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			prev := c.Now()
			for i := range 2000 {
				if g == 0 && i%100 == 0 {
					f.mu.Lock()
					f.step = time.Duration(i%300-150) * time.Millisecond
					f.mu.Unlock()
					_ = c.Anchor(context.Background())
				}
				f.advance(time.Microsecond)
				now := c.Now()
				if now.Before(prev) {
					t.Errorf("Now went back from %s to %s", prev, now)
					return
				}
				prev = now
			}
		})
	}
	wg.Wait()
}

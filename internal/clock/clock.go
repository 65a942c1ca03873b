// Package clock holds the one source of the instants a node stores on the
// live path (a command's opened_at, deadline and closed_at, an answer's
// received_at, the sweeper's "overdue", a kick): PostgreSQL's clock,
// carried forward between readings by the process's monotonic clock. A
// node's wall clock may step (a manual date, an NTP step after a suspend, a
// wrong RTC at boot): its instants do not move, because the wall clock is
// never read. Every node reads the same reference, so nodes agree with each
// other and with PostgreSQL's now() to within a read's round trip.
package clock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/quizcast/quizcast/internal/background"
)

// Source reads the reference clock (PostgreSQL's clock_timestamp()).
type Source func(ctx context.Context) (time.Time, error)

// Monotonic is the local clock that never steps: the time elapsed since a
// fixed origin of the process.
type Monotonic func() time.Duration

// ProcessMonotonic is the process's monotonic clock: time.Since of a
// reading taken now, which Go measures with the monotonic reading only.
func ProcessMonotonic() Monotonic {
	origin := time.Now()
	return func() time.Duration { return time.Since(origin) }
}

// Config tunes a clock; zero values take the defaults.
type Config struct {
	// Interval is how often Run reads the reference again (default 30 s).
	Interval time.Duration
	// MaxRoundTrip rejects a reading whose round trip took longer (default
	// 500 ms): its midpoint could be off by half of it. The first reading
	// is kept whatever its round trip, there being nothing better, and so
	// is any later one that beats the anchor's; while the anchor's round
	// trip is above MaxRoundTrip (a node started while PostgreSQL was
	// slow), Run reads again every RetryInterval rather than every
	// Interval.
	MaxRoundTrip time.Duration
	// RetryInterval is how often Run reads again while the anchor is
	// uncertain (default 1 s, at most Interval).
	RetryInterval time.Duration
	// Timeout bounds one reading (default 5 s).
	Timeout time.Duration
}

// Clock is the node's clock for stored instants. Now is safe for
// concurrent use and never goes backwards.
type Clock struct {
	source Source
	mono   Monotonic
	cfg    Config
	log    *slog.Logger

	mu   sync.Mutex
	ref  time.Time     // the reference's reading, at the midpoint of its round trip
	at   time.Duration // the monotonic clock at that midpoint
	half time.Duration // half that reading's round trip
	last time.Time     // the latest instant Now returned (the clamp)
}

// New reads the reference once (a clock without a reading has nothing to
// tell) and returns the clock; Run keeps it anchored.
func New(ctx context.Context, source Source, mono Monotonic, cfg Config, log *slog.Logger) (*Clock, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.MaxRoundTrip <= 0 {
		cfg.MaxRoundTrip = 500 * time.Millisecond
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Second
	}
	cfg.RetryInterval = min(cfg.RetryInterval, cfg.Interval)
	c := &Clock{source: source, mono: mono, cfg: cfg, log: log}
	if err := c.Anchor(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// errSlowReading is a reading whose round trip was too long to trust.
var errSlowReading = errors.New("clock reading too slow")

// Anchor reads the reference and carries it forward from the midpoint of
// the read's round trip. A failed reading keeps the previous anchor, and so
// does one too slow to trust (above MaxRoundTrip) unless it is still
// better than the anchor's. A reading behind the instants already handed
// out does not move Now back: Now stands still until the new anchor passes
// them.
func (c *Clock) Anchor(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	before := c.mono()
	ref, err := c.source(ctx)
	after := c.mono()
	if err != nil {
		return fmt.Errorf("read the reference clock: %w", err)
	}
	rtt := after - before
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ref.IsZero() && rtt > c.cfg.MaxRoundTrip && rtt >= 2*c.half {
		return fmt.Errorf("%w: round trip %s", errSlowReading, rtt)
	}
	if held := c.last.Sub(ref.Add(after - (before + rtt/2))); held > time.Second {
		c.log.Warn("clock: the reference is behind the instants already given; holding until it passes them", "by", held)
	}
	c.ref, c.at, c.half = ref.UTC(), before+rtt/2, rtt/2
	return nil
}

// Now is the reference's time now: the anchor plus the monotonic time since
// it, never earlier than an instant it returned before. It is in UTC and
// carries no monotonic reading.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.ref.Add(c.mono() - c.at)
	if now.Before(c.last) {
		return c.last
	}
	c.last = now
	return now
}

// Uncertainty bounds how far Now may be from the reference (besides the
// monotonic clock's drift since the anchor, and the clamp): half the round
// trip of the reading it is anchored on.
func (c *Clock) Uncertainty() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.half
}

// Run reads the reference again every Interval (every RetryInterval while
// the anchor is uncertain) until ctx ends; a failure is logged and the
// clock runs on from its last anchor.
func (c *Clock) Run(ctx context.Context) {
	background.Paced(ctx, c.wait, func(ctx context.Context) {
		if err := c.Anchor(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("clock: keeping the last anchor", "err", err, "uncertainty", c.Uncertainty())
		}
	})
}

// wait is how long Run waits before its next reading: RetryInterval while
// the anchor's round trip was above MaxRoundTrip, else Interval.
func (c *Clock) wait() time.Duration {
	if 2*c.Uncertainty() > c.cfg.MaxRoundTrip {
		return c.cfg.RetryInterval
	}
	return c.cfg.Interval
}

// Package outbox is the relay of the transactional outbox: it moves the
// events that stores wrote to the outbox table, in the transaction of the
// change they describe, to RabbitMQ, and deletes them once RabbitMQ has
// confirmed them. It runs in every server node.
package outbox

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quizcast/quizcast/internal/background"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/rabbitmq"
)

// Store is the outbox table as the relay sees it: postgres.OutboxStore fits.
type Store interface {
	// Drain takes up to parts free, non-empty partitions (searching from
	// start), claims a batch of their oldest rows, hands them to publish
	// and deletes them when it returns nil, in one transaction; (0, nil)
	// when no partition is both free and non-empty.
	Drain(ctx context.Context, start, parts, limit int, publish func(context.Context, []postgres.OutboxRow) error) (int, error)
	// Stats measures the backlog.
	Stats(ctx context.Context) (postgres.OutboxStats, error)
	// Listen calls wake whenever rows may have been added, until ctx ends
	// or its connection fails.
	Listen(ctx context.Context, wake func()) error
	// Lease renews this node's leases on its share of the partitions for
	// ttl, taking free ones and giving back the excess; from its first
	// call on, Drain takes only the partitions held.
	Lease(ctx context.Context, ttl time.Duration) (postgres.OutboxLeases, error)
	// Release gives this node's leases back at once.
	Release(ctx context.Context) error
}

// Publisher publishes a batch and returns nil only when RabbitMQ confirmed
// all of it: rabbitmq.Publisher fits.
type Publisher interface {
	Publish(ctx context.Context, msgs []rabbitmq.Message) error
}

// Config tunes the relay; zero values take the defaults.
type Config struct {
	// BatchSize is the most rows claimed and published at once (default
	// 500, at most rabbitmq.MaxBatch).
	BatchSize int
	// PollInterval is how often the relay looks without a notification
	// (default 500 ms): notifications can be missed while the listening
	// connection is down, and a node that found a partition held by another
	// must look again in case that one died.
	PollInterval time.Duration
	// StatsInterval is how often the backlog is measured (default 5 s).
	StatsInterval time.Duration
	// BatchTimeout bounds one claim-publish-delete round (default 30 s); it
	// must exceed the publisher's confirm timeout.
	BatchTimeout time.Duration
	// MaxBackoff caps the wait between failed rounds (default 10 s).
	MaxBackoff time.Duration
	// Linger is how long the first worker waits after a notification
	// before its round (default 200 ms), so that the rows of many commits
	// leave in one batch rather than one round each (measured at ~1,000
	// events/s: rounds of 3 events cost more PostgreSQL CPU than the
	// events); negative: none. A backlog does not wait: full rounds follow
	// each other at once.
	Linger time.Duration
	// LeaseTTL is how long a partition's lease lasts without renewal
	// (default 10 s): how long the partitions of a node that died without
	// releasing them wait before another node takes them.
	LeaseTTL time.Duration
	// LeaseRenew is how often the leases are renewed and the shares
	// recomputed (default LeaseTTL/3): a node joining gets its share
	// within about two of these.
	LeaseRenew time.Duration
}

func (c *Config) defaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	c.BatchSize = min(c.BatchSize, rabbitmq.MaxBatch)
	if c.PollInterval <= 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.StatsInterval <= 0 {
		c.StatsInterval = 5 * time.Second
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = 30 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 10 * time.Second
	}
	if c.LeaseRenew <= 0 || c.LeaseRenew > c.LeaseTTL/2 {
		c.LeaseRenew = c.LeaseTTL / 3
	}
	switch {
	case c.Linger == 0:
		c.Linger = 200 * time.Millisecond
	case c.Linger < 0:
		c.Linger = 0
	}
}

// Relay drains the outbox to RabbitMQ with one worker per publisher.
//
// Sharing: each node's relay leases its fair share of the outbox's
// postgres.OutboxPartitions partitions (ceil(partitions / live nodes)),
// renews the leases every LeaseRenew and drains only what it holds, so the
// nodes drain disjoint partitions and each node's reads skip the rows it
// deleted itself (postgres.OutboxStore). A node joining gets its share
// within a few renewals, a node stopping releases its leases after its
// last round, and a node that died loses them after LeaseTTL.
//
// Order: the events of a session are in one partition; a worker holds the
// advisory lock of each partition it drains until its round committed, so
// one worker in the whole cluster drains a partition at a time, also while
// a lease changes hands or next to a node that does not lease. Each round
// publishes its rows in id order on the worker's own channel, so RabbitMQ
// receives the events of a session in the order they were written, while
// the workers publish different partitions in parallel, each waiting for
// its own confirms. A failed round is rolled back and retried whole, so an
// event may be published twice (the worker drops the copy) but never lost
// or overtaken by a later one on first delivery.
type Relay struct {
	store Store
	pubs  []Publisher
	cfg   Config
	m     *Metrics
	log   *slog.Logger

	unleased bool // the last lease round found no outbox_leases (logged once)
}

// NewRelay returns a relay from store to RabbitMQ with one worker per
// publisher in pubs (at least one). m may be nil (not measured).
func NewRelay(store Store, pubs []Publisher, cfg Config, m *Metrics, log *slog.Logger) *Relay {
	cfg.defaults()
	if m == nil {
		m = NewMetrics(nil)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{store: store, pubs: pubs, cfg: cfg, m: m, log: log}
}

// Run relays until ctx ends. While RabbitMQ (or PostgreSQL) fails each
// worker backs off and retries; the rows wait in the outbox meanwhile. The
// rounds in flight when ctx ends are finished, within BatchTimeout, and
// then the leases are released.
//
// Workers join in as the backlog needs them: notifications and the poll
// wake the first worker only, and a worker whose round filled a whole
// batch wakes the next one, so an idle node costs one round per
// notification (lingered) or poll, and a backlog is drained by every
// worker of every node.
func (r *Relay) Run(ctx context.Context) {
	wakes := make([]chan struct{}, len(r.pubs))
	for i := range wakes {
		wakes[i] = make(chan struct{}, 1)
	}
	nudge := func(i int) {
		select {
		case wakes[i%len(wakes)] <- struct{}{}:
		default:
		}
	}
	// The first lease round comes before any drain, so a node joining
	// does not drain partitions another one holds (which would be safe,
	// under the advisory locks, but would cost both nodes their floors).
	r.lease(ctx, func() {})
	var wg sync.WaitGroup
	wg.Go(func() { r.listen(ctx, func() { nudge(0) }) })
	wg.Go(func() { r.watch(ctx) })
	wg.Go(func() {
		background.Every(ctx, r.cfg.LeaseRenew, false, func(ctx context.Context) { r.lease(ctx, func() { nudge(0) }) })
	})
	// Worker i starts at the node's i-th partition (the store counts
	// among the partitions the node holds) and moves on by one after each
	// round, so the workers of a node drain different partitions; the
	// random offset spreads nodes that do not lease (an older schema).
	offset := rand.IntN(postgres.OutboxPartitions)
	for i, pub := range r.pubs {
		wg.Go(func() { r.work(ctx, i, pub, offset+i, wakes[i], func() { nudge(i + 1) }) })
	}
	wg.Wait()
	r.release(ctx)
}

// lease runs a lease round and wakes a worker when partitions were gained
// (rows may be waiting there); a failed round keeps the leases held until
// they lapse, and the next round tries again.
func (r *Relay) lease(ctx context.Context, wake func()) {
	l, err := r.store.Lease(ctx, r.cfg.LeaseTTL)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("outbox lease renewal failed", "err", err, "held", l.Held)
		}
		r.m.leased.Set(float64(l.Held))
		return
	}
	if l.Unleased != r.unleased {
		r.unleased = l.Unleased
		if l.Unleased {
			r.log.Warn("no outbox_leases table (migration 00016 not applied): draining every partition under advisory locks")
		}
	}
	r.m.leased.Set(float64(l.Held))
	if l.Gained > 0 {
		r.log.Debug("outbox partitions leased", "held", l.Held, "gained", l.Gained)
		wake()
	}
}

// release gives the leases back once the last round is over, so the other
// nodes take the partitions at their next renewal rather than after the TTL.
func (r *Relay) release(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.store.Release(rctx); err != nil {
		r.log.Warn("outbox lease release failed; the partitions move after the TTL", "err", err)
	}
	r.m.leased.Set(0)
}

// work is worker i's loop: rounds while there is work, else a wait for a
// wake-up (worker 0 also polls). A round that filled a whole batch wakes
// the next worker to help.
func (r *Relay) work(ctx context.Context, i int, pub Publisher, start int, wake <-chan struct{}, help func()) {
	b := rabbitmq.Backoff{Min: 100 * time.Millisecond, Max: r.cfg.MaxBackoff}
	failing := false
	var poll <-chan time.Time
	if i == 0 {
		t := time.NewTicker(r.cfg.PollInterval)
		defer t.Stop()
		poll = t.C
	}
	// After a notification or a poll, the first worker's first round takes
	// every free partition (a light load leaves in one round); the rounds
	// that follow, and the helpers' rounds, take one partition each, so the
	// workers sharing a backlog find partitions free.
	sweep := func() int {
		if i == 0 {
			return postgres.OutboxPartitions
		}
		return 1
	}
	parts := sweep()
	for {
		n, err := r.round(ctx, pub, start, parts)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.m.failures.Inc()
			r.log.Warn("outbox relay round failed; events wait in the outbox", "err", err)
			failing = true
			if !rabbitmq.Sleep(ctx, b.Next()) {
				return
			}
			continue
		}
		if failing {
			r.log.Info("outbox relay recovered")
			failing = false
		}
		b.Reset()
		if n >= r.cfg.BatchSize {
			help()
		}
		if n > 0 && (parts == 1 || n >= r.cfg.BatchSize) {
			// The next round looks at the next partition first, so a busy
			// partition does not starve the others. A round over every
			// free partition that did not fill its batch took what there
			// was: the next notification or poll brings the rest.
			start++
			parts = 1
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
			if i == 0 && r.cfg.Linger > 0 && !rabbitmq.Sleep(ctx, r.cfg.Linger) {
				return
			}
		case <-poll:
		}
		parts = sweep()
	}
}

// Flush publishes what the outbox holds now with the first publisher,
// round after round, until no partition is both free and non-empty. It
// returns how many events it published; Run does the same forever, this is
// for one-off drains, tests and benchmarks.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	total := 0
	for start := 0; ; start++ {
		n, err := r.round(ctx, r.pubs[0], start, 1)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// round claims, publishes and deletes one batch of up to parts partitions.
func (r *Relay) round(ctx context.Context, pub Publisher, start, parts int) (int, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.BatchTimeout)
	defer cancel()
	return r.store.Drain(rctx, start, parts, r.cfg.BatchSize, func(ctx context.Context, rows []postgres.OutboxRow) error {
		msgs := make([]rabbitmq.Message, len(rows))
		for i, row := range rows {
			msgs[i] = rabbitmq.Message{RoutingKey: string(row.Name), MessageID: row.EventID, Body: row.Payload, Timestamp: row.CreatedAt}
		}
		start := time.Now()
		if err := pub.Publish(ctx, msgs); err != nil {
			return err
		}
		r.m.confirm.Observe(time.Since(start).Seconds())
		r.m.published.Add(float64(len(msgs)))
		return nil
	})
}

// listen keeps a LISTEN connection up; while it is down the poll covers.
func (r *Relay) listen(ctx context.Context, wake func()) {
	b := rabbitmq.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		err := r.store.Listen(ctx, func() { b.Reset(); wake() })
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("outbox listener lost; polling until it is back", "err", err)
		if !rabbitmq.Sleep(ctx, b.Next()) {
			return
		}
	}
}

// watch measures the backlog every StatsInterval.
func (r *Relay) watch(ctx context.Context) {
	background.Every(ctx, r.cfg.StatsInterval, true, r.measure)
}

func (r *Relay) measure(ctx context.Context) {
	st, err := r.store.Stats(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		r.log.Warn("outbox stats failed", "err", err)
	case err == nil:
		r.m.depth.Set(float64(st.Depth))
		if st.Oldest.IsZero() {
			r.m.oldest.Store(0)
		} else {
			r.m.oldest.Store(st.Oldest.UnixNano())
		}
	}
}

// Metrics are the relay's collectors. Every node reports the same
// backlog (the outbox is shared): aggregate depth with max, not sum.
type Metrics struct {
	depth     prometheus.Gauge
	leased    prometheus.Gauge
	oldest    atomic.Int64 // unix nanos of the oldest row; 0 when empty
	published prometheus.Counter
	failures  prometheus.Counter
	confirm   prometheus.Histogram
}

// NewMetrics registers the relay's metrics on reg (nil: kept unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "quizcast_outbox_depth",
			Help: "Events waiting in the outbox (exact up to 100000, then estimated from the id range); measured every few seconds.",
		}),
		leased: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "quizcast_outbox_partitions_leased",
			Help: "Outbox partitions this node's relay holds a lease on and drains (0 without the outbox_leases table: every partition, under advisory locks); the nodes' sum is 16 once the leases have settled.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quizcast_outbox_published_total", Help: "Events published to RabbitMQ and confirmed by it."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quizcast_outbox_publish_failures_total",
			Help: "Relay rounds that failed (RabbitMQ down, nack, confirm timeout, database error); their batch is retried."}),
		confirm: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "quizcast_outbox_confirm_latency_seconds",
			Help:    "Time to publish a batch and receive all its confirms.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
	}
	oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "quizcast_outbox_oldest_age_seconds",
		Help: "Age of the oldest event waiting in the outbox; 0 when it is empty.",
	}, func() float64 {
		ns := m.oldest.Load()
		if ns == 0 {
			return 0
		}
		return max(0, time.Since(time.Unix(0, ns)).Seconds())
	})
	if reg != nil {
		reg.MustRegister(m.depth, oldest, m.leased, m.published, m.failures, m.confirm)
	}
	return m
}

package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/quizcast/quizcast/internal/quiz"
)

// EventStore stores a batch of events in one transaction and returns the
// ids of those that were new. An error wrapping quiz.ErrUnavailable may
// pass on retry; any other error is about the data of some event.
// postgres.EventStore fits.
type EventStore interface {
	Store(ctx context.Context, evs []quiz.Event) (fresh []string, err error)
}

// StoredNotifier hears which kinds of events were newly stored, after the
// batch committed (the reports' view refresher implements it). Stored must
// return quickly: it runs on the consumer's goroutine.
type StoredNotifier interface {
	Stored(names []quiz.EventName)
}

// ReasonHeader carries, on a message the worker dead-letters itself, why
// it could not be stored.
const ReasonHeader = "x-quizcast-reason"

// ConsumerOptions tune a Consumer; zero values take the defaults.
type ConsumerOptions struct {
	// Name identifies the connection and prefixes the consumer tag.
	Name string
	// Prefetch is the window of unacknowledged deliveries (default 1000);
	// keep it at least BatchSize or batches never fill.
	Prefetch int
	// BatchSize is the most events stored in one transaction (default 500).
	BatchSize int
	// Linger is how long a started batch waits for more (default 50 ms).
	Linger time.Duration
	// StoreTimeout bounds one attempt to store a batch (default 30 s).
	StoreTimeout time.Duration
	// Metrics may be nil (not measured); Notifier may be nil.
	Metrics  *ConsumerMetrics
	Notifier StoredNotifier
	Log      *slog.Logger
}

// Consumer is the event worker's side of RabbitMQ: it consumes the
// topology's queue, stores the events in batches and acknowledges each
// delivery only after its batch committed. It reconnects after any loss of
// RabbitMQ. Several consumers (in one process or many) may share the
// queue: the store is idempotent by event id.
type Consumer struct {
	url   string
	topo  Topology
	store EventStore
	opts  ConsumerOptions
}

// NewConsumer returns a consumer of topo.Queue at url storing into store.
func NewConsumer(url string, topo Topology, store EventStore, opts ConsumerOptions) *Consumer {
	if opts.Name == "" {
		opts.Name = "quizcast-eventworker"
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 1000
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.Linger <= 0 {
		opts.Linger = 50 * time.Millisecond
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = 30 * time.Second
	}
	if opts.Metrics == nil {
		opts.Metrics = NewConsumerMetrics(nil)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Consumer{url: url, topo: topo, store: store, opts: opts}
}

// Run consumes until ctx ends, reconnecting with backoff. When ctx ends it
// stops taking deliveries, stores and acknowledges those in hand, and
// returns nil.
func (c *Consumer) Run(ctx context.Context) error {
	b := Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		err := c.session(ctx, &b)
		if ctx.Err() != nil {
			return nil
		}
		c.opts.Log.Warn("event consumer lost RabbitMQ; reconnecting", "err", err)
		if !Sleep(ctx, b.Next()) {
			return nil
		}
	}
}

// session is one connection's life: connect, declare, consume until the
// connection fails or ctx ends.
func (c *Consumer) session(ctx context.Context, b *Backoff) error {
	conn, err := dial(ctx, c.url, c.opts.Name, nil)
	if err != nil {
		return err
	}
	defer func() { _ = conn.CloseDeadline(time.Now().Add(closeTimeout)) }()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("rabbitmq: open channel: %w", err)
	}
	if err := ch.Qos(c.opts.Prefetch, 0, false); err != nil {
		return fmt.Errorf("rabbitmq: qos: %w", err)
	}
	// Poison messages are republished, with their reason, on a channel of
	// their own in confirm mode (it also declares the topology).
	dlq, err := confirmChannel(conn, c.topo)
	if err != nil {
		return err
	}
	tag := c.opts.Name + "-" + uuid.NewString()[:8]
	deliveries, err := ch.Consume(c.topo.Queue, tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("rabbitmq: consume %s: %w", c.topo.Queue, err)
	}
	b.Reset()
	c.opts.Log.Info("event consumer started", "queue", c.topo.Queue, "prefetch", c.opts.Prefetch, "batch", c.opts.BatchSize)

	stop := ctx.Done()
	for {
		batch, open := c.collect(deliveries, stop)
		if len(batch) > 0 {
			c.process(ctx, ch, dlq, batch)
		}
		if !open {
			if ctx.Err() != nil {
				return nil
			}
			select {
			case err := <-closed:
				return fmt.Errorf("rabbitmq: connection closed: %w", err)
			default:
				return errors.New("rabbitmq: delivery channel closed")
			}
		}
		if stop != nil && ctx.Err() != nil {
			// Shutting down: no new deliveries; the client still hands
			// over those already received, then closes deliveries.
			stop = nil
			if err := ch.Cancel(tag, false); err != nil {
				return nil // the channel is gone; unacked messages return to the queue
			}
		}
	}
}

// collect waits for a first delivery, then gathers more until the batch is
// full, Linger passes or stop closes. open is false once deliveries is
// closed.
func (c *Consumer) collect(deliveries <-chan amqp.Delivery, stop <-chan struct{}) (batch []amqp.Delivery, open bool) {
	select {
	case d, ok := <-deliveries:
		if !ok {
			return nil, false
		}
		batch = append(batch, d)
	case <-stop:
		return nil, true
	}
	linger := time.NewTimer(c.opts.Linger)
	defer linger.Stop()
	for len(batch) < c.opts.BatchSize {
		select {
		case d, ok := <-deliveries:
			if !ok {
				return batch, false
			}
			batch = append(batch, d)
		case <-linger.C:
			return batch, true
		case <-stop: // shutting down: store what is in hand now
			return batch, true
		}
	}
	return batch, true
}

// process stores one batch and settles every delivery in it: acked when
// stored (or dead-lettered with its reason), requeued when it could not be
// stored, where the queue's delivery limit bounds the attempts.
func (c *Consumer) process(ctx context.Context, ch, dlq *amqp.Channel, batch []amqp.Delivery) {
	m := c.opts.Metrics
	m.consumed.Add(float64(len(batch)))
	// The batch in hand is finished even when ctx ends (graceful stop).
	work := context.WithoutCancel(ctx)
	requeue := make([]bool, len(batch))
	now := time.Now()
	var evs []quiz.Event
	var at []int // index in batch of each event in evs
	var poison []int
	var reasons []string
	for i, d := range batch {
		e, err := DecodeEvent(d.Body, now)
		if err != nil {
			poison = append(poison, i)
			reasons = append(reasons, strings.ReplaceAll(err.Error(), "\n", "; "))
			continue
		}
		evs = append(evs, e)
		at = append(at, i)
	}
	if len(poison) > 0 {
		if err := c.deadLetter(work, dlq, batch, poison, reasons); err != nil {
			c.opts.Log.Error("dead-lettering poison messages failed; requeued", "err", err, "count", len(poison))
			for _, i := range poison {
				requeue[i] = true
			}
		} else {
			m.deadLettered.Add(float64(len(poison)))
			for k, i := range poison {
				c.opts.Log.Warn("poison message dead-lettered", "message_id", batch[i].MessageId, "routing_key", batch[i].RoutingKey, "reason", reasons[k])
			}
		}
	}
	for _, j := range c.storeBatch(ctx, work, evs) {
		requeue[at[j]] = true
	}
	c.settle(ch, batch, requeue)
}

// storeBatch stores evs and returns the indexes of those it could not
// store. While the database is unavailable it retries the whole batch with
// backoff (the deliveries stay unacknowledged, so nothing is lost and
// nothing is counted against the delivery limit) until ctx ends. When the
// batch is refused for its data, each event is stored alone so that one
// bad event does not hold back the others.
func (c *Consumer) storeBatch(ctx, work context.Context, evs []quiz.Event) []int {
	if len(evs) == 0 {
		return nil
	}
	b := Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		err := c.storeOnce(work, evs)
		if err == nil {
			return nil
		}
		if !errors.Is(err, quiz.ErrUnavailable) {
			c.opts.Log.Warn("batch refused by the database; storing its events one by one", "err", err, "events", len(evs))
			return c.storeEach(work, evs)
		}
		c.opts.Log.Warn("storing events failed; retrying", "err", err, "events", len(evs))
		if ctx.Err() != nil || !Sleep(ctx, b.Next()) {
			return allIndexes(len(evs))
		}
	}
}

func (c *Consumer) storeEach(work context.Context, evs []quiz.Event) []int {
	var failed []int
	for i := range evs {
		if err := c.storeOnce(work, evs[i:i+1]); err != nil {
			c.opts.Log.Error("event not stored; requeued", "err", err, "event_id", evs[i].EventID, "name", evs[i].Name)
			failed = append(failed, i)
		}
	}
	return failed
}

// storeOnce makes one attempt and accounts for what it stored.
func (c *Consumer) storeOnce(work context.Context, evs []quiz.Event) error {
	sctx, cancel := context.WithTimeout(work, c.opts.StoreTimeout)
	defer cancel()
	fresh, err := c.store.Store(sctx, evs)
	if err != nil {
		return err
	}
	now := time.Now()
	m := c.opts.Metrics
	m.stored.Add(float64(len(fresh)))
	m.duplicates.Add(float64(len(evs) - len(fresh)))
	if len(fresh) == 0 {
		return nil
	}
	isFresh := make(map[string]bool, len(fresh))
	for _, id := range fresh {
		isFresh[id] = true
	}
	var names []quiz.EventName
	seen := map[quiz.EventName]bool{}
	for _, e := range evs {
		if !isFresh[e.EventID] {
			continue
		}
		isFresh[e.EventID] = false // an event twice in one batch counts once
		m.lag.Observe(now.Sub(e.OccurredAt).Seconds())
		if !seen[e.Name] {
			seen[e.Name] = true
			names = append(names, e.Name)
		}
	}
	if c.opts.Notifier != nil {
		c.opts.Notifier.Stored(names)
	}
	return nil
}

// settle requeues what was not stored, then acknowledges the rest with one
// multiple ack up to the highest stored tag: every delivery at or below it
// on this channel is either in this batch and settled here, or settled by
// an earlier batch. A failure means the channel is gone, and RabbitMQ
// redelivers what was not acknowledged.
func (c *Consumer) settle(ch *amqp.Channel, batch []amqp.Delivery, requeue []bool) {
	var last uint64
	for i, d := range batch {
		if requeue[i] {
			if err := ch.Nack(d.DeliveryTag, false, true); err != nil {
				c.opts.Log.Warn("nack failed; the message will be redelivered", "err", err)
			}
			continue
		}
		last = max(last, d.DeliveryTag)
	}
	if last > 0 {
		if err := ch.Ack(last, true); err != nil {
			c.opts.Log.Warn("ack failed; the batch will be redelivered and deduplicated", "err", err)
		}
	}
}

// deadLetter republishes the poison deliveries to the dead-letter exchange
// with their reason and waits for the confirms; only then may they be
// acknowledged. Rejecting them instead would lose the reason.
func (c *Consumer) deadLetter(ctx context.Context, dlq *amqp.Channel, batch []amqp.Delivery, poison []int, reasons []string) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	confirms := make([]*amqp.DeferredConfirmation, 0, len(poison))
	for k, i := range poison {
		d := batch[i]
		headers := amqp.Table{}
		for name, v := range d.Headers {
			headers[name] = v
		}
		reason := reasons[k]
		if len(reason) > 1000 {
			reason = reason[:1000]
		}
		headers[ReasonHeader] = reason
		dc, err := dlq.PublishWithDeferredConfirmWithContext(wctx, c.topo.DeadLetterExchange, d.RoutingKey, false, false, amqp.Publishing{
			Headers:      headers,
			ContentType:  d.ContentType,
			DeliveryMode: amqp.Persistent,
			MessageId:    d.MessageId,
			Timestamp:    d.Timestamp,
			Body:         d.Body,
		})
		if err != nil {
			return fmt.Errorf("publish to %s: %w", c.topo.DeadLetterExchange, err)
		}
		confirms = append(confirms, dc)
	}
	for _, dc := range confirms {
		ok, err := dc.WaitContext(wctx)
		if err != nil {
			return fmt.Errorf("confirm from %s: %w", c.topo.DeadLetterExchange, err)
		}
		if !ok {
			return fmt.Errorf("%s nacked a dead letter", c.topo.DeadLetterExchange)
		}
	}
	return nil
}

func allIndexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// ConsumerMetrics are the event worker's collectors.
type ConsumerMetrics struct {
	consumed     prometheus.Counter
	stored       prometheus.Counter
	duplicates   prometheus.Counter
	deadLettered prometheus.Counter
	lag          prometheus.Histogram
}

// NewConsumerMetrics registers the worker's metrics on r (nil: kept
// unregistered).
func NewConsumerMetrics(r prometheus.Registerer) *ConsumerMetrics {
	m := &ConsumerMetrics{
		consumed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quizcast_events_consumed_total", Help: "Deliveries taken from the events queue, redeliveries included."}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quizcast_events_stored_total", Help: "Events newly stored in the events table."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quizcast_events_duplicates_total", Help: "Deliveries of events already stored, dropped."}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quizcast_events_dead_lettered_total", Help: "Unparseable messages sent to the dead-letter queue by the worker."}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "quizcast_event_lag_seconds",
			Help:    "End-to-end lag of newly stored events: stored minus occurred.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800},
		}),
	}
	if r != nil {
		r.MustRegister(m.consumed, m.stored, m.duplicates, m.deadLettered, m.lag)
	}
	return m
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/rabbitmq"
)

// BrokerResult is what one queue variant costs RabbitMQ per message, with
// the relay's publisher and the worker's consumer (storing nowhere).
type BrokerResult struct {
	Variant string `json:"variant"`
	// PublishUsPer and ConsumeUsPer: the broker's CPU of each half, for a
	// split variant only.
	PublishUsPer float64 `json:"broker_publish_cpu_us_per_message,omitempty"`
	ConsumeUsPer float64 `json:"broker_consume_cpu_us_per_message,omitempty"`
	Messages     int     `json:"messages"`
	Seconds      float64 `json:"seconds"`
	PerSecond    float64 `json:"per_sec"`
	BrokerUsPer  float64 `json:"broker_cpu_us_per_message"`
	ClientUsPer  float64 `json:"client_cpu_us_per_message"`
	LoadAverage  float64 `json:"load_average"`
}

// brokerVariant is one configuration measured by loadgen broker.
type brokerVariant struct {
	name       string
	kind       rabbitmq.QueueKind
	batch      int // messages per Publish (the relay's OUTBOX_BATCH_SIZE)
	publishers int // connections publishing (the relay's OUTBOX_RELAYS)
	consumers  int // consumers (WORKER_CONSUMERS)
	ackBatch   int // deliveries per multiple ack (WORKER_BATCH_SIZE)
	padding    int // extra bytes in each event's data
	prefetch   int // WORKER_PREFETCH
	// uncorked publishes as rabbitmq.Publisher did before it corked its
	// socket: one write per message (amqp091 flushes after each).
	uncorked bool
	// bare (with uncorked) publishes without mandatory and without the
	// message id, timestamp and content type: what the relay's properties
	// cost.
	bare bool
	// split publishes everything before the consumers start, and reports
	// the broker's CPU for each half.
	split bool
}

// brokerCmd measures RabbitMQ's CPU per message (utime+stime of the broker
// process from /proc, over the messages published) for the queue kinds the
// pipeline could use, with the production code on both sides: publishers
// are rabbitmq.Publisher (pipelined confirms, batch by batch, one
// connection each, as the relay's workers), consumers are
// rabbitmq.Consumer (prefetch window, batches settled by one multiple ack)
// over a store that keeps nothing, so only the broker and the client
// libraries are measured. Publishing and consuming run at the same time,
// at -rate, as in the pipeline.
func brokerCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("broker", flag.ExitOnError)
	n := fs.Int("messages", 100000, "messages per variant")
	rate := fs.Int("rate", 20000, "messages per second offered (0: as fast as the publishers go)")
	pidFlag := fs.Int("rabbit-pid", 0, "RabbitMQ's process (default: the pid file under $QUIZCAST_SERVICES_DIR)")
	only := fs.String("variants", "", "comma-separated variant names to run (default: all)")
	repeat := fs.Int("repeat", 3, "runs of the variant list (interleaved); the summary gives each variant's median")
	out := fs.String("json", "", "write the results as JSON to this file")
	fs.String("timeout", "10m", "give up after")
	_ = fs.Parse(args)
	ctx, cancel := bounded(ctx, fs)
	defer cancel()
	url := os.Getenv("RABBITMQ_URL")
	if url == "" {
		return errors.New("broker: RABBITMQ_URL is required")
	}
	if err := loopback(url); err != nil {
		return err
	}
	pid := *pidFlag
	if pid == 0 {
		var err error
		if pid, err = rabbitPID(); err != nil {
			return err
		}
	}
	if *n < 1000 || *n > 2_000_000 || *rate < 0 {
		return errors.New("broker: -messages 1000..2000000, -rate ≥ 0")
	}
	want := map[string]bool{}
	for _, v := range strings.Split(*only, ",") {
		if v = strings.TrimSpace(v); v != "" {
			want[v] = true
		}
	}
	base := brokerVariant{kind: rabbitmq.QueueQuorum, batch: 500, publishers: 4, consumers: 2, ackBatch: 500, prefetch: 1000}
	vary := func(name string, f func(*brokerVariant)) brokerVariant {
		v := base
		v.name = name
		f(&v)
		return v
	}
	variants := []brokerVariant{
		vary("quorum", func(*brokerVariant) {}),
		vary("classic-v2", func(v *brokerVariant) { v.kind = rabbitmq.QueueClassic }),
		vary("stream", func(v *brokerVariant) { v.kind = rabbitmq.QueueStream; v.consumers = 1 }),
		vary("quorum-batch-100", func(v *brokerVariant) { v.batch = 100 }),
		vary("quorum-batch-2000", func(v *brokerVariant) { v.batch = 2000 }),
		vary("quorum-1-publisher", func(v *brokerVariant) { v.publishers = 1 }),
		vary("quorum-1-consumer", func(v *brokerVariant) { v.consumers = 1 }),
		vary("quorum-ack-50", func(v *brokerVariant) { v.ackBatch = 50 }),
		vary("quorum-prefetch-3000", func(v *brokerVariant) { v.prefetch = 3000; v.ackBatch = 1000 }),
		vary("quorum-uncorked", func(v *brokerVariant) { v.uncorked = true }),
		vary("quorum-bare", func(v *brokerVariant) { v.uncorked, v.bare = true, true }),
		vary("quorum-split", func(v *brokerVariant) { v.split = true }),
		vary("classic-v2-split", func(v *brokerVariant) { v.kind = rabbitmq.QueueClassic; v.split = true }),
		vary("quorum-body+2k", func(v *brokerVariant) { v.padding = 2048 }),
		vary("classic-v2-body+2k", func(v *brokerVariant) { v.kind = rabbitmq.QueueClassic; v.padding = 2048 }),
	}
	if *repeat < 1 || *repeat > 20 {
		return errors.New("broker: -repeat 1..20")
	}
	var results []BrokerResult
	byVariant := map[string][]BrokerResult{}
	var order []string
	header := func() {
		fmt.Printf("%-20s %9s %8s %10s %14s %14s %6s\n", "variant", "messages", "seconds", "msgs/s", "broker µs/msg", "client µs/msg", "load")
	}
	header()
	for range *repeat {
		for _, v := range variants {
			if len(want) > 0 && !want[v.name] {
				continue
			}
			r, err := measureBroker(ctx, url, pid, v, *n, *rate)
			if err != nil {
				return fmt.Errorf("broker %s: %w", v.name, err)
			}
			printBroker(r)
			if byVariant[v.name] == nil {
				order = append(order, v.name)
			}
			byVariant[v.name] = append(byVariant[v.name], r)
			results = append(results, r)
		}
	}
	if *repeat > 1 {
		fmt.Printf("\nmedian of %d runs (by broker µs/msg)\n", *repeat)
		header()
		for _, name := range order {
			rs := byVariant[name]
			sort.Slice(rs, func(i, j int) bool { return rs[i].BrokerUsPer < rs[j].BrokerUsPer })
			printBroker(rs[len(rs)/2])
		}
	}
	return writeJSON(*out, results)
}

func printBroker(r BrokerResult) {
	fmt.Printf("%-20s %9d %8.1f %10.0f %14.1f %14.1f %6.2f", r.Variant, r.Messages, r.Seconds, r.PerSecond, r.BrokerUsPer, r.ClientUsPer, r.LoadAverage)
	if r.PublishUsPer > 0 {
		fmt.Printf("   (broker: publish %.1f + consume %.1f µs/msg)", r.PublishUsPer, r.ConsumeUsPer)
	}
	fmt.Println()
}

// rabbitPID reads the pid file scripts/services.sh gives RabbitMQ.
func rabbitPID() (int, error) {
	dir := os.Getenv("QUIZCAST_SERVICES_DIR")
	if dir == "" {
		return 0, errors.New("broker: -rabbit-pid or QUIZCAST_SERVICES_DIR is required")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "rabbit", "rabbit.pid"))
	if err != nil {
		return 0, fmt.Errorf("broker: %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(string(raw)))
}

// selfCPU is this process's utime+stime.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countingStore stores nothing and counts what it was given.
type countingStore struct{ n atomic.Int64 }

func (s *countingStore) Store(_ context.Context, evs []quiz.Event) ([]string, error) {
	s.n.Add(int64(len(evs)))
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.EventID
	}
	return ids, nil
}

func measureBroker(ctx context.Context, url string, pid int, v brokerVariant, n, rate int) (BrokerResult, error) {
	topo := rabbitmq.DefaultTopology().Suffixed(".bench." + uuid.NewString()[:8])
	topo.Kind = v.kind
	defer deleteTopology(url, topo)

	// The messages are built before the clock starts: the relay reads
	// them ready-made from the outbox.
	school := uuid.NewString()
	run := uuid.NewString()
	msgs := make([]rabbitmq.Message, 0, n)
	for len(msgs) < n {
		ids, payloads, ats, err := eventPayloads(school, run, min(2000, n-len(msgs)))
		if err != nil {
			return BrokerResult{}, err
		}
		for i := range ids {
			body := payloads[i]
			if v.padding > 0 {
				body = padEvent(body, v.padding)
			}
			msgs = append(msgs, rabbitmq.Message{RoutingKey: string(quiz.EventAnswerSubmitted), MessageID: ids[i], Body: body, Timestamp: ats[i]})
		}
	}

	store := &countingStore{}
	cctx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	var cwg sync.WaitGroup
	startConsumers := func() error {
		for i := range v.consumers {
			c := rabbitmq.NewConsumer(url, topo, store, rabbitmq.ConsumerOptions{
				Name: fmt.Sprintf("quizcast-broker-bench-%d", i), Prefetch: v.prefetch, BatchSize: v.ackBatch,
				Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			})
			cwg.Go(func() { _ = c.Run(cctx) })
		}
		// The consumers declare the topology; wait until they consume, so
		// a stream consumer (which starts at the tail) sees every message.
		if v.kind == rabbitmq.QueueStream {
			if err := waitConsumers(ctx, url, topo.Queue, 0); err != nil { // a stream's declare-ok counts no consumer
				return err
			}
			time.Sleep(time.Second) // for basic.consume to follow the declare
			return nil
		}
		return waitConsumers(ctx, url, topo.Queue, v.consumers)
	}
	if !v.split {
		if err := startConsumers(); err != nil {
			return BrokerResult{}, err
		}
	}

	want := int64(n)
	if v.kind == rabbitmq.QueueStream {
		want *= int64(v.consumers) // every stream consumer reads everything
	}
	cpu0, err := processCPU(pid)
	if err != nil {
		return BrokerResult{}, err
	}
	self0 := selfCPU()
	start := time.Now()
	var next atomic.Int64
	var pwg sync.WaitGroup
	errs := make(chan error, v.publishers)
	for i := range v.publishers {
		var pub publisher = rabbitmq.NewPublisher(url, fmt.Sprintf("quizcast-broker-bench-pub-%d", i), topo, 10*time.Second)
		if v.uncorked {
			bp, err := newUncorkedPublisher(url, topo, v.bare)
			if err != nil {
				return BrokerResult{}, err
			}
			pub = bp
		}
		pwg.Go(func() {
			defer pub.Close()
			for ctx.Err() == nil {
				hi := int(next.Add(int64(v.batch)))
				lo := hi - v.batch
				if lo >= n {
					return
				}
				hi = min(hi, n)
				if rate > 0 { // the batch is published when it is due
					due := start.Add(time.Duration(float64(hi) / float64(rate) * float64(time.Second)))
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
				}
				if err := pub.Publish(ctx, msgs[lo:hi]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	pwg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return BrokerResult{}, err
	}
	var published time.Duration
	if v.split {
		cpu, err := processCPU(pid)
		if err != nil {
			return BrokerResult{}, err
		}
		published = cpu - cpu0
		if err := startConsumers(); err != nil {
			return BrokerResult{}, err
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for store.n.Load() < want {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return BrokerResult{}, fmt.Errorf("consumed %d of %d", store.n.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cpu1, err := processCPU(pid)
	if err != nil {
		return BrokerResult{}, err
	}
	self1 := selfCPU()
	stopConsumers()
	cwg.Wait()
	res := BrokerResult{
		Variant:     v.name,
		Messages:    n,
		Seconds:     elapsed.Seconds(),
		PerSecond:   float64(n) / elapsed.Seconds(),
		BrokerUsPer: float64((cpu1 - cpu0).Microseconds()) / float64(n),
		ClientUsPer: float64((self1 - self0).Microseconds()) / float64(n),
		LoadAverage: loadAverage(),
	}
	if v.split {
		res.PublishUsPer = float64(published.Microseconds()) / float64(n)
		res.ConsumeUsPer = float64((cpu1 - cpu0 - published).Microseconds()) / float64(n)
	}
	return res, nil
}

// padEvent adds a filler string of size bytes to the event's data, to see
// what the message size costs.
func padEvent(body []byte, size int) []byte {
	i := strings.LastIndex(string(body), `"data":{`)
	if i < 0 {
		return body
	}
	i += len(`"data":{`)
	out := append([]byte{}, body[:i]...)
	out = append(out, `"pad":"`...)
	out = append(out, strings.Repeat("x", size)...)
	out = append(out, `",`...)
	return append(out, body[i:]...)
}

// waitConsumers waits until queue exists and has want consumers.
func waitConsumers(ctx context.Context, url, queue string, want int) error {
	conn, err := amqp.Dial(url)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ch, err := conn.Channel()
		if err == nil {
			q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
			_ = ch.Close()
			if err == nil && q.Consumers >= want {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("queue %s: fewer than %d consumers", queue, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deleteTopology removes a variant's exchanges and queues.
func deleteTopology(url string, topo rabbitmq.Topology) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return
	}
	defer conn.Close()
	if ch, err := conn.Channel(); err == nil {
		_ = topo.Delete(ch)
	}
}

// publisher is rabbitmq.Publisher or the bare one.
type publisher interface {
	Publish(ctx context.Context, msgs []rabbitmq.Message) error
	Close() error
}

// uncorkedPublisher publishes like rabbitmq.Publisher (pipelined confirms,
// a batch at a time, persistent, mandatory, the same properties) on a
// plain amqp091 connection, which writes each message on its own; bare,
// without mandatory and with no property besides the delivery mode.
type uncorkedPublisher struct {
	conn *amqp.Connection
	ch   *amqp.Channel
	topo rabbitmq.Topology
	bare bool
}

func newUncorkedPublisher(url string, topo rabbitmq.Topology, bare bool) (*uncorkedPublisher, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err == nil {
		err = topo.Declare(ch)
	}
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &uncorkedPublisher{conn: conn, ch: ch, topo: topo, bare: bare}, nil
}

func (p *uncorkedPublisher) Publish(ctx context.Context, msgs []rabbitmq.Message) error {
	confirms := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	for _, m := range msgs {
		msg := amqp.Publishing{DeliveryMode: amqp.Persistent, Body: m.Body}
		if !p.bare {
			msg.ContentType, msg.MessageId, msg.Timestamp = "application/json", m.MessageID, m.Timestamp
		}
		dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, p.topo.Exchange, m.RoutingKey, !p.bare, false, msg)
		if err != nil {
			return err
		}
		confirms = append(confirms, dc)
	}
	for _, dc := range confirms {
		if ok, err := dc.WaitContext(ctx); err != nil || !ok {
			return fmt.Errorf("not confirmed: %v", err)
		}
	}
	return nil
}

func (p *uncorkedPublisher) Close() error { return p.conn.Close() }

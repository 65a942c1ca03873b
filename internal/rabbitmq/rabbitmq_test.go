package rabbitmq_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/rabbitmq"
	"github.com/quizcast/quizcast/internal/rabbitmq/rabbitmqtest"
	"github.com/quizcast/quizcast/internal/testenv"
)

// env is one test's private pipeline end: its own database, its own queues.
type env struct {
	url   string
	topo  rabbitmq.Topology
	pool  *pgxpool.Pool
	store *postgres.EventStore
	pub   *rabbitmq.Publisher
}

func newEnv(t *testing.T) *env {
	t.Helper()
	url := testenv.RabbitMQURL(t)
	pool, _ := testenv.Database(t)
	topo := rabbitmqtest.Topology(t, url)
	e := &env{url: url, topo: topo, pool: pool, store: postgres.NewEventStore(pool),
		pub: rabbitmq.NewPublisher(url, "test-publisher", topo, 10*time.Second)}
	t.Cleanup(func() { _ = e.pub.Close() })
	return e
}

// consumer runs a consumer until the test ends and returns its metrics.
func (e *env) consumer(t *testing.T, opts rabbitmq.ConsumerOptions) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Metrics = rabbitmq.NewConsumerMetrics(reg)
	c := rabbitmq.NewConsumer(e.url, e.topo, e.store, opts)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.Run(ctx); err != nil {
			t.Errorf("consumer: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return reg
}

func newEvent(name quiz.EventName, data map[string]any) quiz.Event {
	return quiz.Event{
		EventID: uuid.NewString(), Name: name, OccurredAt: time.Now().UTC().Truncate(time.Microsecond),
		SchoolID: uuid.NewString(), SessionID: uuid.NewString(), App: quiz.AppServer, Data: data,
	}
}

func message(t testing.TB, e quiz.Event) rabbitmq.Message {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return rabbitmq.Message{RoutingKey: string(e.Name), MessageID: e.EventID, Body: b}
}

func (e *env) publish(t *testing.T, msgs ...rabbitmq.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.pub.Publish(ctx, msgs); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func (e *env) stored(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return rabbitmqtest.Metric(t, reg, name)
}

// handled counts the deliveries a consumer has settled for good: stored,
// found stored already, or dead-lettered.
func handled(t *testing.T, reg *prometheus.Registry) float64 {
	return metric(t, reg, "quizcast_events_stored_total") + metric(t, reg, "quizcast_events_duplicates_total") +
		metric(t, reg, "quizcast_events_dead_lettered_total")
}

// deadLetters takes every message from the dead-letter queue.
func (e *env) deadLetters(t *testing.T) []amqp.Delivery {
	t.Helper()
	conn, err := amqp.Dial(e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	var out []amqp.Delivery
	for {
		d, ok, err := ch.Get(e.topo.DeadLetterQueue, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, d)
	}
}

func TestSameMessageTwiceIsStoredOnce(t *testing.T) {
	e := newEnv(t)
	reg := e.consumer(t, rabbitmq.ConsumerOptions{})
	ev := newEvent(quiz.EventAnswerSubmitted, map[string]any{"points": 900})
	m := message(t, ev)
	e.publish(t, m, m)
	testenv.Eventually(t, 20*time.Second, "both deliveries handled", func() bool { return handled(t, reg) == 2 })
	// Later, a third copy in a batch of its own.
	e.publish(t, m)
	testenv.Eventually(t, 20*time.Second, "third delivery handled", func() bool { return handled(t, reg) == 3 })
	if n := e.stored(t); n != 1 {
		t.Fatalf("events stored: %d, want 1", n)
	}
	if s, d := metric(t, reg, "quizcast_events_stored_total"), metric(t, reg, "quizcast_events_duplicates_total"); s != 1 || d != 2 {
		t.Fatalf("stored %v duplicates %v, want 1 and 2", s, d)
	}
	var points string
	if err := e.pool.QueryRow(context.Background(), `SELECT data->>'points' FROM events WHERE event_id = $1`, ev.EventID).Scan(&points); err != nil || points != "900" {
		t.Fatalf("stored data: %q %v", points, err)
	}
}

func TestPoisonMessageIsDeadLetteredWithItsReason(t *testing.T) {
	e := newEnv(t)
	reg := e.consumer(t, rabbitmq.ConsumerOptions{})
	noSchool := newEvent(quiz.EventStudentJoined, nil)
	noSchool.SchoolID = ""
	future := newEvent(quiz.EventStudentJoined, nil)
	future.OccurredAt = time.Now().Add(48 * time.Hour)
	msgs := []rabbitmq.Message{
		message(t, newEvent(quiz.EventSessionStarted, nil)),
		{RoutingKey: "session_started", MessageID: "garbage", Body: []byte("{not json")},
		message(t, noSchool),
		message(t, future),
		message(t, newEvent(quiz.EventSessionEnded, nil)),
	}
	e.publish(t, msgs...)
	testenv.Eventually(t, 20*time.Second, "poison messages dead-lettered", func() bool {
		return metric(t, reg, "quizcast_events_dead_lettered_total") == 3
	})
	if n := e.stored(t); n != 2 {
		t.Fatalf("events stored: %d, want the 2 good ones", n)
	}
	// The rest keep flowing.
	e.publish(t, message(t, newEvent(quiz.EventQuizCreated, nil)))
	testenv.Eventually(t, 20*time.Second, "a later event stored", func() bool { return e.stored(t) == 3 })

	got := map[string]string{}
	for _, d := range e.deadLetters(t) {
		reason, _ := d.Headers[rabbitmq.ReasonHeader].(string)
		got[d.MessageId] = reason
	}
	want := map[string]string{
		"garbage":        "not a JSON event",
		noSchool.EventID: "school_id is missing",
		future.EventID:   "occurred_at",
	}
	for id, sub := range want {
		if !strings.Contains(got[id], sub) {
			t.Errorf("dead letter %s: reason %q, want it to mention %q (all: %v)", id, got[id], sub, got)
		}
	}
}

// An event that parses but that PostgreSQL refuses (jsonb cannot hold
// \u0000) is retried alone, up to the delivery limit, then dead-lettered by
// the queue; the events batched with it are stored at once.
func TestUnstorableEventIsRetriedThenDeadLettered(t *testing.T) {
	e := newEnv(t)
	reg := e.consumer(t, rabbitmq.ConsumerOptions{Linger: 200 * time.Millisecond})
	bad := newEvent(quiz.EventAnswerSubmitted, map[string]any{"text": "nul \u0000 byte"})
	e.publish(t, message(t, newEvent(quiz.EventQuestionDisplayed, nil)), message(t, bad), message(t, newEvent(quiz.EventQuestionClosed, nil)))
	testenv.Eventually(t, 30*time.Second, "the bad event in the dead-letter queue", func() bool {
		ds := e.deadLetters(t)
		if len(ds) == 0 {
			return false
		}
		if len(ds) != 1 || ds[0].MessageId != bad.EventID {
			t.Fatalf("dead letters: %d, first %q; want only %s", len(ds), ds[0].MessageId, bad.EventID)
		}
		return true
	})
	if n := e.stored(t); n != 2 {
		t.Fatalf("events stored: %d, want 2", n)
	}
	limit := rabbitmq.DefaultTopology().DeliveryLimit
	if c := metric(t, reg, "quizcast_events_consumed_total"); c < float64(2+limit) {
		t.Fatalf("consumed %v deliveries, want the bad one retried up to the limit %d", c, limit)
	}
}

// A worker that dies after its commit and before its ack: RabbitMQ
// redelivers the batch to the next worker, which stores nothing twice.
func TestRedeliveryAfterCommitIsNotStoredTwice(t *testing.T) {
	e := newEnv(t)
	const n = 50
	var msgs []rabbitmq.Message
	for range n {
		msgs = append(msgs, message(t, newEvent(quiz.EventAnswerSubmitted, nil)))
	}
	e.publish(t, msgs...) // declares the topology too

	// The worker that dies: consume, store and commit, then lose the
	// channel without acknowledging.
	conn, err := amqp.Dial(e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(e.topo.Queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var evs []quiz.Event
	for len(evs) < n {
		d := <-deliveries
		ev, err := rabbitmq.DecodeEvent(d.Body, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	fresh, err := e.store.Store(context.Background(), evs)
	if err != nil || len(fresh) != n {
		t.Fatalf("first store: %d new, %v", len(fresh), err)
	}
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}

	reg := e.consumer(t, rabbitmq.ConsumerOptions{})
	testenv.Eventually(t, 20*time.Second, "the batch redelivered", func() bool {
		return metric(t, reg, "quizcast_events_duplicates_total") == n
	})
	if got := e.stored(t); got != n {
		t.Fatalf("events stored: %d, want %d", got, n)
	}
	if s := metric(t, reg, "quizcast_events_stored_total"); s != 0 {
		t.Fatalf("the redelivered batch stored %v new events, want 0", s)
	}
}

func TestTwoReplicasStoreEachEventOnce(t *testing.T) {
	e := newEnv(t)
	regs := []*prometheus.Registry{
		e.consumer(t, rabbitmq.ConsumerOptions{Name: "replica-a", BatchSize: 50, Prefetch: 100}),
		e.consumer(t, rabbitmq.ConsumerOptions{Name: "replica-b", BatchSize: 50, Prefetch: 100}),
	}
	const n = 2000
	var msgs []rabbitmq.Message
	for i := range n {
		m := message(t, newEvent(quiz.EventAnswerSubmitted, map[string]any{"i": i}))
		msgs = append(msgs, m)
		if i%10 == 0 { // a relay retry publishes some events twice
			msgs = append(msgs, m)
		}
	}
	for i := 0; i < len(msgs); i += 500 {
		e.publish(t, msgs[i:min(i+500, len(msgs))]...)
	}
	sum := func(name string) float64 {
		return metric(t, regs[0], name) + metric(t, regs[1], name)
	}
	testenv.Eventually(t, 60*time.Second, "every delivery handled", func() bool {
		return handled(t, regs[0])+handled(t, regs[1]) == float64(len(msgs))
	})
	if got := e.stored(t); got != n {
		t.Fatalf("events stored: %d, want %d", got, n)
	}
	if s, d := sum("quizcast_events_stored_total"), sum("quizcast_events_duplicates_total"); s != n || d != float64(len(msgs)-n) {
		t.Fatalf("stored %v duplicates %v, want %d and %d", s, d, n, len(msgs)-n)
	}
	for i, reg := range regs {
		if metric(t, reg, "quizcast_events_consumed_total") == 0 {
			t.Errorf("replica %d consumed nothing", i)
		}
	}
}

// The notifier hears the names of newly stored events only.
func TestNotifierHearsNewEvents(t *testing.T) {
	e := newEnv(t)
	n := &names{}
	e.consumer(t, rabbitmq.ConsumerOptions{Notifier: n})
	a := message(t, newEvent(quiz.EventAnswerSubmitted, nil))
	e.publish(t, a, message(t, newEvent(quiz.EventSessionEnded, nil)))
	testenv.Eventually(t, 20*time.Second, "notified", func() bool { return len(n.get()) == 2 })
	e.publish(t, a)
	e.publish(t, message(t, newEvent(quiz.EventQuizCreated, nil)))
	testenv.Eventually(t, 20*time.Second, "notified again", func() bool { return len(n.get()) == 3 })
	got := n.get()
	if got[quiz.EventAnswerSubmitted] != 1 || got[quiz.EventSessionEnded] != 1 || got[quiz.EventQuizCreated] != 1 {
		t.Fatalf("notified names: %v; the duplicate must not be announced", got)
	}
}

type names struct {
	mu sync.Mutex
	m  map[quiz.EventName]int
}

func (n *names) Stored(ns []quiz.EventName) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m = map[quiz.EventName]int{}
	}
	for _, name := range ns {
		n.m[name]++
	}
}

func (n *names) get() map[quiz.EventName]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[quiz.EventName]int{}
	for k, v := range n.m {
		out[k] = v
	}
	return out
}

// Stopping the worker while it holds a batch: the batch is stored and
// acknowledged before Run returns, nothing is left for redelivery.
func TestShutdownFinishesTheBatchInHand(t *testing.T) {
	e := newEnv(t)
	const n = 100
	var msgs []rabbitmq.Message
	for range n {
		msgs = append(msgs, message(t, newEvent(quiz.EventStudentJoined, nil)))
	}
	e.publish(t, msgs...)
	conn, err := amqp.Dial(e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	ready := func() int {
		q, err := ch.QueueDeclarePassive(e.topo.Queue, true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		return q.Messages
	}
	// A long linger and a large batch: the deliveries sit in a batch being
	// gathered when the stop comes.
	c := rabbitmq.NewConsumer(e.url, e.topo, e.store, rabbitmq.ConsumerOptions{BatchSize: 1000, Linger: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	testenv.Eventually(t, 20*time.Second, "every message delivered to the worker", func() bool { return ready() == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := e.stored(t); got != n {
		t.Fatalf("events stored: %d, want %d", got, n)
	}
	if r := ready(); r != 0 {
		t.Fatalf("%d messages back in the queue after a graceful stop, want 0", r)
	}
}

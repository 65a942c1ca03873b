package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/quizcast/quizcast/internal/outbox"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/rabbitmq"
	"github.com/quizcast/quizcast/internal/rabbitmq/rabbitmqtest"
	"github.com/quizcast/quizcast/internal/testenv"
)

// fast makes the relay react quickly in tests.
var fast = outbox.Config{PollInterval: 50 * time.Millisecond, StatsInterval: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}

// run runs f until the test ends.
func run(t *testing.T, f func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { f(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// startRelay runs a relay (one server node's) until the test ends.
func startRelay(t *testing.T, pool *pgxpool.Pool, url string, topo rabbitmq.Topology, cfg outbox.Config) *prometheus.Registry {
	t.Helper()
	reg, _ := startNodeRelay(t, postgres.NewOutboxStore(pool), url, topo, cfg)
	return reg
}

// startNodeRelay runs a relay over store until stop is called or the test
// ends; stop returns once the relay did (its leases released).
func startNodeRelay(t *testing.T, store outbox.Store, url string, topo rabbitmq.Topology, cfg outbox.Config) (reg *prometheus.Registry, stop func()) {
	t.Helper()
	reg = prometheus.NewRegistry()
	// Three workers, as a node runs several: they share the partitions.
	pubs := make([]outbox.Publisher, 3)
	for i := range pubs {
		pub := rabbitmq.NewPublisher(url, fmt.Sprintf("test-relay-%d", i), topo, 5*time.Second)
		t.Cleanup(func() { _ = pub.Close() })
		pubs[i] = pub
	}
	r := outbox.NewRelay(store, pubs, cfg, outbox.NewMetrics(reg), nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { r.Run(ctx) })
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return reg, stop
}

// startWorker runs an event consumer until the test ends.
func startWorker(t *testing.T, pool *pgxpool.Pool, url string, topo rabbitmq.Topology) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := rabbitmq.NewConsumer(url, topo, postgres.NewEventStore(pool), rabbitmq.ConsumerOptions{Metrics: rabbitmq.NewConsumerMetrics(reg)})
	run(t, func(ctx context.Context) {
		if err := c.Run(ctx); err != nil {
			t.Errorf("consumer: %v", err)
		}
	})
	return reg
}

// appendEvents writes n events in transactions of per events each, from
// several goroutines, as the stores of a live session do; every write must
// succeed.
func appendEvents(t *testing.T, pool *pgxpool.Pool, n, per int) []string {
	t.Helper()
	s := postgres.NewOutboxStore(pool)
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for w := 0; w < n; w += per {
		wg.Go(func() {
			var evs []quiz.Event
			for i := w; i < min(w+per, n); i++ {
				evs = append(evs, quiz.Event{Name: quiz.EventAnswerSubmitted, SchoolID: uuid.NewString(),
					SessionID: uuid.NewString(), App: quiz.AppNotebook, Data: map[string]any{"i": i}})
			}
			if err := s.Append(context.Background(), evs...); err != nil {
				t.Errorf("outbox write failed: %v", err)
				return
			}
			for _, e := range evs {
				ids <- e.EventID
			}
		})
	}
	wg.Wait()
	close(ids)
	var out []string
	for id := range ids {
		out = append(out, id)
	}
	return out
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// exactlyOnce checks that every id is in events, once.
func exactlyOnce(t *testing.T, pool *pgxpool.Pool, ids []string) {
	t.Helper()
	if n := count(t, pool, `SELECT count(*) FROM events`); n != len(ids) {
		t.Fatalf("events: %d rows, want %d", n, len(ids))
	}
	if n := count(t, pool, `SELECT count(DISTINCT event_id) FROM events WHERE event_id::text = ANY($1)`, ids); n != len(ids) {
		t.Fatalf("events: %d of the %d written", n, len(ids))
	}
}

func TestOutboxEventsArriveInEventsExactlyOnce(t *testing.T) {
	url := testenv.RabbitMQURL(t)
	pool, _ := testenv.Database(t)
	topo := rabbitmqtest.Topology(t, url)
	relayMetrics := startRelay(t, pool, url, topo, fast)
	startWorker(t, pool, url, topo)

	ids := appendEvents(t, pool, 2000, 4)
	testenv.Eventually(t, 60*time.Second, "every event stored", func() bool {
		return count(t, pool, `SELECT count(*) FROM events`) >= len(ids)
	})
	exactlyOnce(t, pool, ids)
	if n := count(t, pool, `SELECT count(*) FROM outbox`); n != 0 {
		t.Fatalf("outbox still holds %d rows", n)
	}
	if p := rabbitmqtest.Metric(t, relayMetrics, "quizcast_outbox_published_total"); p != float64(len(ids)) {
		t.Fatalf("published %v, want %d", p, len(ids))
	}
	var app, i string
	if err := pool.QueryRow(context.Background(), `SELECT app, data->>'i' FROM events WHERE event_id = $1`, ids[0]).Scan(&app, &i); err != nil || app != "notebook" || i == "" {
		t.Fatalf("stored event: app %q data.i %q (%v)", app, i, err)
	}
}

// tap returns the deliveries of a fresh queue bound to every event of topo.
func tap(t *testing.T, url string, topo rabbitmq.Topology) <-chan amqp.Delivery {
	t.Helper()
	ch := rabbitmqtest.Channel(t, url, topo)
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, "#", topo.Exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return deliveries
}

// seqEvent is an event numbered within its session by the test.
type seqEvent struct {
	SessionID string `json:"session_id"`
	Data      struct {
		Seq int `json:"seq"`
	} `json:"data"`
}

func decodeSeq(t *testing.T, d amqp.Delivery) seqEvent {
	t.Helper()
	var ev seqEvent
	if err := json.Unmarshal(d.Body, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// Two server nodes relay the same outbox; the events of each session reach
// RabbitMQ in the order they were written.
func TestTwoRelaysKeepEachSessionInOrder(t *testing.T) {
	url := testenv.RabbitMQURL(t)
	pool, _ := testenv.Database(t)
	topo := rabbitmqtest.Topology(t, url)
	deliveries := tap(t, url, topo)
	cfg := fast
	cfg.BatchSize = 7 // many small rounds: many chances to interleave
	startRelay(t, pool, url, topo, cfg)
	startRelay(t, pool, url, topo, cfg)

	const sessions, perSession = 6, 60
	s := postgres.NewOutboxStore(pool)
	var wg sync.WaitGroup
	for range sessions {
		session := uuid.NewString()
		wg.Go(func() {
			for seq := range perSession {
				ev := quiz.Event{Name: quiz.EventQuestionDisplayed, SchoolID: uuid.NewString(), SessionID: session,
					App: quiz.AppServer, Data: map[string]any{"seq": seq}}
				if err := s.Append(context.Background(), ev); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()

	next := map[string]int{}
	timeout := time.After(60 * time.Second)
	for received := 0; received < sessions*perSession; {
		select {
		case d := <-deliveries:
			ev := decodeSeq(t, d)
			if ev.Data.Seq < next[ev.SessionID] {
				continue // a republished copy: the worker drops it
			}
			if ev.Data.Seq != next[ev.SessionID] {
				t.Fatalf("session %s: got seq %d, want %d", ev.SessionID, ev.Data.Seq, next[ev.SessionID])
			}
			next[ev.SessionID]++
			received++
		case <-timeout:
			t.Fatalf("timed out; progress per session: %v", next)
		}
	}
}

// killed is a node that dies: it never releases its leases, so they move
// only when they expire.
type killed struct{ *postgres.OutboxStore }

func (killed) Release(context.Context) error { return nil }

// Nodes share the partitions by leases and hand them over while sessions
// keep writing: a node stopping releases its partitions to the other at
// once, a node dying leaves them to expire; across both, each session's
// events reach RabbitMQ in order and every event exactly once.
func TestRelaysShareLeasedPartitionsAcrossHandovers(t *testing.T) {
	url := testenv.RabbitMQURL(t)
	pool, _ := testenv.Database(t)
	topo := rabbitmqtest.Topology(t, url)
	deliveries := tap(t, url, topo)
	cfg := fast
	cfg.BatchSize = 7
	cfg.LeaseTTL = 2 * time.Second
	leased := func(reg *prometheus.Registry) float64 {
		return rabbitmqtest.Metric(t, reg, "quizcast_outbox_partitions_leased")
	}
	node := func(name string) *postgres.OutboxStore {
		s := postgres.NewOutboxStore(pool)
		s.Holder = postgres.LeaseHolder(name)
		return s
	}
	regA, stopA := startNodeRelay(t, node("a"), url, topo, cfg)
	regB, _ := startNodeRelay(t, node("b"), url, topo, cfg)
	testenv.Eventually(t, 30*time.Second, "two nodes holding 8 partitions each", func() bool {
		return leased(regA) == 8 && leased(regB) == 8
	})

	// Sessions write throughout, one event at a time, numbered.
	const sessions = 8
	writing := make(chan struct{})
	written := make([]int, sessions)
	s := postgres.NewOutboxStore(pool)
	var wg sync.WaitGroup
	for i := range sessions {
		session := uuid.NewString()
		wg.Go(func() {
			for seq := 0; ; seq++ {
				select {
				case <-writing:
					return
				default:
				}
				ev := quiz.Event{Name: quiz.EventQuestionDisplayed, SchoolID: uuid.NewString(), SessionID: session,
					App: quiz.AppServer, Data: map[string]any{"seq": seq}}
				if err := s.Append(context.Background(), ev); err != nil {
					t.Errorf("append: %v", err)
					return
				}
				written[i] = seq + 1
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	seen := map[string]int{} // event id → deliveries
	next := map[string]int{} // session → next seq
	received := 0
	receive := func(d amqp.Delivery) {
		ev := decodeSeq(t, d)
		seen[d.MessageId]++
		if seen[d.MessageId] > 1 {
			t.Fatalf("event %s delivered %d times", d.MessageId, seen[d.MessageId])
		}
		if ev.Data.Seq != next[ev.SessionID] {
			t.Fatalf("session %s: got seq %d, want %d", ev.SessionID, ev.Data.Seq, next[ev.SessionID])
		}
		next[ev.SessionID]++
		received++
	}
	// await receives deliveries until cond holds.
	await := func(what string, cond func() bool) {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for !cond() {
			select {
			case d := <-deliveries:
				receive(d)
			case <-time.After(20 * time.Millisecond):
			case <-timeout:
				t.Fatalf("timed out waiting for %s; received %d", what, received)
			}
		}
	}
	await("events relayed by both nodes", func() bool { return received > 200 })

	// a stops: it releases, and b takes every partition at its next round.
	stopA()
	await("b holding all 16 after a's release", func() bool { return leased(regB) == 16 })
	mark := received
	await("events relayed by b alone", func() bool { return received > mark+200 })

	// c joins and then dies without releasing: b gets its share back after
	// c's leases expired.
	regC, stopC := startNodeRelay(t, killed{node("c")}, url, topo, cfg)
	await("b and c holding 8 each", func() bool { return leased(regB) == 8 && leased(regC) == 8 })
	mark = received
	await("events relayed by b and c", func() bool { return received > mark+200 })
	stopC()
	await("b holding all 16 after c's TTL", func() bool { return leased(regB) == 16 })

	close(writing)
	wg.Wait()
	total := 0
	for _, n := range written {
		total += n
	}
	await("every event written", func() bool { return received == total })
	testenv.Eventually(t, 30*time.Second, "the outbox empty", func() bool {
		return count(t, pool, `SELECT count(*) FROM outbox`) == 0
	})
	select {
	case d := <-deliveries:
		receive(d)
		t.Fatalf("more deliveries than events written (%d)", total)
	case <-time.After(200 * time.Millisecond):
	}
}

// RabbitMQ stops in the middle of a session: writes keep succeeding, the
// outbox grows and says so, and once RabbitMQ is back every event arrives
// exactly once. The test stops a RabbitMQ of its own, not the shared one.
func TestRabbitMQOutageDelaysButLosesNothing(t *testing.T) {
	rabbit := rabbitmqtest.NewPrivate(t)
	pool, _ := testenv.Database(t)
	topo := rabbitmqtest.Topology(t, rabbit.URL)
	relayMetrics := startRelay(t, pool, rabbit.URL, topo, fast)
	workerMetrics := startWorker(t, pool, rabbit.URL, topo)

	before := appendEvents(t, pool, 100, 2)
	testenv.Eventually(t, 30*time.Second, "events before the outage stored", func() bool {
		return count(t, pool, `SELECT count(*) FROM events`) >= len(before)
	})

	rabbit.Stop(t)
	during := appendEvents(t, pool, 300, 3)
	testenv.Eventually(t, 30*time.Second, "the outage seen in the metrics", func() bool {
		return rabbitmqtest.Metric(t, relayMetrics, "quizcast_outbox_depth") == float64(len(during)) &&
			rabbitmqtest.Metric(t, relayMetrics, "quizcast_outbox_publish_failures_total") > 0
	})
	if age := rabbitmqtest.Metric(t, relayMetrics, "quizcast_outbox_oldest_age_seconds"); age <= 0 {
		t.Fatalf("oldest age %v during the outage, want > 0", age)
	}

	rabbit.Start(t)
	all := append(before, during...)
	testenv.Eventually(t, 90*time.Second, "every event stored after the restart", func() bool {
		return count(t, pool, `SELECT count(*) FROM events`) >= len(all) && count(t, pool, `SELECT count(*) FROM outbox`) == 0
	})
	exactlyOnce(t, pool, all)
	testenv.Eventually(t, 10*time.Second, "the outbox seen empty", func() bool {
		return rabbitmqtest.Metric(t, relayMetrics, "quizcast_outbox_depth") == 0 &&
			rabbitmqtest.Metric(t, relayMetrics, "quizcast_outbox_oldest_age_seconds") == 0
	})
	if s := rabbitmqtest.Metric(t, workerMetrics, "quizcast_events_stored_total"); s != float64(len(all)) {
		t.Fatalf("worker stored %v, want %d", s, len(all))
	}
}

// BenchmarkRelay measures outbox rows → RabbitMQ with confirms (publish,
// confirm, delete) per event, on the shared test services: one worker
// flushing batches of several sizes, then a relay running 1, 2 and 4
// workers (as OUTBOX_RELAYS) until the outbox is empty, then one and two
// nodes (4 workers each, leasing the partitions) on the same backlog.
func BenchmarkRelay(b *testing.B) {
	fill := func(b *testing.B, store *postgres.OutboxStore) {
		ctx := context.Background()
		evs := make([]quiz.Event, 0, 1000)
		for left := b.N; left > 0; left -= len(evs) {
			evs = evs[:0]
			for range min(left, 1000) {
				evs = append(evs, quiz.Event{Name: quiz.EventAnswerSubmitted, SchoolID: uuid.NewString(), SessionID: uuid.NewString(),
					QuizID: uuid.NewString(), UserID: uuid.NewString(), App: quiz.AppNotebook,
					Data: map[string]any{"question_id": uuid.NewString(), "choices": []string{"a"}, "correct": true, "points": 870, "response_ms": 2300}})
			}
			if err := store.Append(ctx, evs...); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, batch := range []int{100, 500, 2000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			url := testenv.RabbitMQURL(b)
			pool, _ := testenv.Database(b)
			topo := rabbitmqtest.Topology(b, url)
			pub := rabbitmq.NewPublisher(url, "bench-relay", topo, 30*time.Second)
			defer pub.Close()
			store := postgres.NewOutboxStore(pool)
			fill(b, store)
			r := outbox.NewRelay(store, []outbox.Publisher{pub}, outbox.Config{BatchSize: batch}, nil, nil)
			b.ReportAllocs()
			b.ResetTimer()
			n, err := r.Flush(context.Background())
			b.StopTimer()
			if err != nil || n != b.N {
				b.Fatalf("flushed %d of %d: %v", n, b.N, err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			url := testenv.RabbitMQURL(b)
			pool, _ := testenv.Database(b)
			topo := rabbitmqtest.Topology(b, url)
			pubs := make([]outbox.Publisher, workers)
			for i := range pubs {
				pub := rabbitmq.NewPublisher(url, fmt.Sprintf("bench-relay-%d", i), topo, 30*time.Second)
				defer pub.Close()
				pubs[i] = pub
			}
			store := postgres.NewOutboxStore(pool)
			fill(b, store)
			r := outbox.NewRelay(store, pubs, outbox.Config{PollInterval: 10 * time.Millisecond}, nil, nil)
			runUntilEmpty(b, pool, r)
		})
	}
	for _, nodes := range []int{1, 2} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			url := testenv.RabbitMQURL(b)
			pool, _ := testenv.Database(b)
			topo := rabbitmqtest.Topology(b, url)
			fill(b, postgres.NewOutboxStore(pool))
			// The leases settle before the clock starts (a node joining
			// takes a few renewals): each node holds its half.
			stores := make([]*postgres.OutboxStore, nodes)
			for i := range stores {
				stores[i] = postgres.NewOutboxStore(pool)
				stores[i].Holder = postgres.LeaseHolder(fmt.Sprintf("bench-%d", i))
			}
			for range 3 {
				for _, s := range stores {
					if _, err := s.Lease(context.Background(), 10*time.Second); err != nil {
						b.Fatal(err)
					}
				}
			}
			relays := make([]*outbox.Relay, nodes)
			for i, store := range stores {
				pubs := make([]outbox.Publisher, 4)
				for j := range pubs {
					pub := rabbitmq.NewPublisher(url, fmt.Sprintf("bench-node-%d-%d", i, j), topo, 30*time.Second)
					defer pub.Close()
					pubs[j] = pub
				}
				relays[i] = outbox.NewRelay(store, pubs, outbox.Config{PollInterval: 10 * time.Millisecond}, nil, nil)
			}
			runUntilEmpty(b, pool, relays...)
		})
	}
}

// runUntilEmpty times relays running until the outbox is empty and
// reports events/s.
func runUntilEmpty(b *testing.B, pool *pgxpool.Pool, relays ...*outbox.Relay) {
	ctx, cancel := context.WithCancel(context.Background())
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, r := range relays {
		wg.Go(func() { r.Run(ctx) })
	}
	for {
		var left int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&left); err != nil {
			b.Fatal(err)
		}
		if left == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

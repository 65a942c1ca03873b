package rabbitmq_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/rabbitmq"
	"github.com/quizcast/quizcast/internal/rabbitmq/rabbitmqtest"
	"github.com/quizcast/quizcast/internal/testenv"
)

// processCPU is this process's user + system CPU.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkConsumer is the event worker's own cost: b.N answer_submitted
// events, published before the timer starts, are consumed by two
// consumers (the worker's defaults: prefetch 1000, batches of 500, one
// multiple ack each) and stored in PostgreSQL. cpu-µs/event is this
// process's CPU (the consumers, their amqp client and pgx; not RabbitMQ's
// nor PostgreSQL's) over the consumption, per event.
func BenchmarkConsumer(b *testing.B) {
	url := testenv.RabbitMQURL(b)
	pool, _ := testenv.Database(b)
	topo := rabbitmqtest.Topology(b, url)
	pub := rabbitmq.NewPublisher(url, "bench-publisher", topo, 30*time.Second)
	defer pub.Close()
	ctx := context.Background()
	school := uuid.NewString()
	sessions := make([]string, 64)
	for i := range sessions {
		sessions[i] = uuid.NewString()
	}
	for done := 0; done < b.N; done += 500 {
		var msgs []rabbitmq.Message
		for i := range min(500, b.N-done) {
			e := quiz.Event{
				EventID: uuid.NewString(), Name: quiz.EventAnswerSubmitted, OccurredAt: time.Now().UTC(),
				SchoolID: school, SessionID: sessions[i%len(sessions)], UserID: uuid.NewString(), App: quiz.AppServer,
				Data: map[string]any{"question_id": uuid.NewString(), "choices": []string{uuid.NewString()}, "correct": true, "points": 870, "response_ms": 4321},
			}
			msgs = append(msgs, message(b, e))
		}
		if err := pub.Publish(ctx, msgs); err != nil {
			b.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	metrics := rabbitmq.NewConsumerMetrics(reg)
	store := postgres.NewEventStore(pool)
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := range 2 {
		c := rabbitmq.NewConsumer(url, topo, store, rabbitmq.ConsumerOptions{Name: fmt.Sprintf("bench-%d", i), Metrics: metrics})
		wg.Go(func() { _ = c.Run(cctx) })
	}
	for rabbitmqtest.Metric(b, reg, "quizcast_events_stored_total") < float64(b.N) {
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	cpu := processCPU() - cpu0
	cancel()
	wg.Wait()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/event")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

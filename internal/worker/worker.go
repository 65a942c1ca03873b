// Package worker builds the event worker: the RabbitMQ consumer that
// stores each event once in the events table, and the refresher of the
// reports' materialized views that it wakes. cmd/eventworker runs it; the
// integration tests run the same graph.
package worker

import (
	"context"
	"log/slog"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/config"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/rabbitmq"
	"github.com/quizcast/quizcast/internal/reports"
)

// Worker consumes events and keeps the report views fresh.
type Worker struct {
	consumer  *rabbitmq.Consumer
	refresher *reports.Refresher
	log       *slog.Logger
}

// New builds a worker over an open pool and Redis client.
func New(cfg config.Worker, topo rabbitmq.Topology, pool *pgxpool.Pool, rdb *redis.Client, reg prometheus.Registerer, log *slog.Logger) *Worker {
	cache := reports.NewCache(rdb, 0, reg)
	refresher := reports.NewRefresher(pool, cache, reg, log, reports.RefresherConfig{Interval: cfg.RefreshInterval})
	consumer := rabbitmq.NewConsumer(cfg.RabbitMQURL, topo, postgres.NewEventStore(pool), rabbitmq.ConsumerOptions{
		Name:      "quizcast-eventworker",
		Prefetch:  cfg.Prefetch,
		BatchSize: cfg.BatchSize,
		Linger:    cfg.BatchLinger,
		Metrics:   rabbitmq.NewConsumerMetrics(reg),
		Log:       log,
		Notifier:  refresher,
	})
	return &Worker{consumer: consumer, refresher: refresher, log: log}
}

// Run consumes until consuming ends (storing and acknowledging the batch in
// hand), and refreshes views until refreshing ends.
func (w *Worker) Run(consuming, refreshing context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.consumer.Run(consuming); err != nil && consuming.Err() == nil {
			w.log.Error("consumer stopped", "err", err)
		}
	})
	wg.Go(func() {
		if err := w.refresher.Run(refreshing); err != nil && refreshing.Err() == nil {
			w.log.Error("refresher stopped", "err", err)
		}
	})
	wg.Wait()
}

// Package worker builds the event worker: the RabbitMQ consumer that
// stores each event once in the events table, the refresher of the
// reports' materialized views that it wakes, and the roll-up that moves
// ended sessions' report rows into history. cmd/eventworker runs it; the
// integration tests run the same graph.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/config"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/rabbitmq"
	"github.com/quizcast/quizcast/internal/reports"
)

// Worker consumes events, keeps the report views fresh and rolls ended
// sessions up into the report history.
type Worker struct {
	consumers []*rabbitmq.Consumer
	refresher *reports.Refresher
	rollup    *reports.Rollup
	log       *slog.Logger
}

// New builds a worker over an open pool and Redis client.
func New(cfg config.Worker, topo rabbitmq.Topology, pool *pgxpool.Pool, rdb *redis.Client, reg prometheus.Registerer, log *slog.Logger) *Worker {
	cache := reports.NewCache(rdb, 0, reg)
	refresher := reports.NewRefresher(pool, cache, reg, log, reports.RefresherConfig{Interval: cfg.RefreshInterval, MaxDuty: cfg.RefreshMaxDuty})
	// Defaults: a session is rolled up a minute after its end, a sweep
	// every minute, a reconciliation every day (docs/reports.md).
	rollup := reports.NewRollup(pool, refresher, reg, log, reports.RollupConfig{})
	// Several consumers store batches at the same time (each waits for its
	// own commit), as several worker replicas would; each event is still
	// stored once, by its primary key.
	metrics := rabbitmq.NewConsumerMetrics(reg)
	var consumers []*rabbitmq.Consumer
	for i := range max(cfg.Consumers, 1) {
		consumers = append(consumers, rabbitmq.NewConsumer(cfg.RabbitMQURL, topo, postgres.NewEventStore(pool), rabbitmq.ConsumerOptions{
			Name:      fmt.Sprintf("quizcast-eventworker-%d", i),
			Prefetch:  cfg.Prefetch,
			BatchSize: cfg.BatchSize,
			Linger:    cfg.BatchLinger,
			Metrics:   metrics,
			Log:       log,
			Notifier:  notifiers{refresher, rollup},
		}))
	}
	return &Worker{consumers: consumers, refresher: refresher, rollup: rollup, log: log}
}

// notifiers tells each of its members which events were stored.
type notifiers []rabbitmq.StoredNotifier

func (ns notifiers) Stored(names []quiz.EventName) {
	for _, n := range ns {
		n.Stored(names)
	}
}

// Run consumes until consuming ends (storing and acknowledging the batch in
// hand), and refreshes views and rolls sessions up until refreshing ends.
func (w *Worker) Run(consuming, refreshing context.Context) {
	var wg sync.WaitGroup
	for _, c := range w.consumers {
		wg.Go(func() {
			if err := c.Run(consuming); err != nil && consuming.Err() == nil {
				w.log.Error("consumer stopped", "err", err)
			}
		})
	}
	wg.Go(func() {
		if err := w.refresher.Run(refreshing); err != nil && refreshing.Err() == nil {
			w.log.Error("refresher stopped", "err", err)
		}
	})
	wg.Go(func() {
		if err := w.rollup.Run(refreshing); err != nil && refreshing.Err() == nil {
			w.log.Error("report roll-up stopped", "err", err)
		}
	})
	wg.Wait()
}

// Command server runs a Quizcast server node (REST, WebSockets, outbox
// relay, deadline sweeper) or, as "server migrate", applies the migrations.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/config"
	"github.com/quizcast/quizcast/internal/health"
	"github.com/quizcast/quizcast/internal/httpapi"
	"github.com/quizcast/quizcast/internal/metrics"
	"github.com/quizcast/quizcast/internal/outbox"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/rabbitmq"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv); err != nil {
		fmt.Fprintln(os.Stderr, "quizcast server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv config.Getenv) error {
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(log)
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "migrate":
		return migrate(ctx, getenv)
	case "serve":
		cfg, err := config.LoadServer(getenv)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		return serve(ctx, cfg, log)
	default:
		return fmt.Errorf("unknown command %q (want serve or migrate)", cmd)
	}
}

func migrate(ctx context.Context, getenv config.Getenv) error {
	url, ok := getenv("DATABASE_URL")
	if !ok || url == "" {
		return errors.New("configuration: DATABASE_URL is required")
	}
	pool, err := postgres.Connect(ctx, url, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool); err != nil {
		return err
	}
	now := time.Now().UTC()
	_, err = postgres.EnsurePartitions(ctx, pool, now, now.AddDate(0, postgres.MonthsAhead, 0))
	return err
}

func serve(ctx context.Context, cfg config.Server, log *slog.Logger) error {
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL, 0)
	if err != nil {
		return err
	}
	defer pool.Close()

	ropt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("parse REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()

	reg := metrics.NewRegistry()
	metrics.RegisterPool(reg, pool)
	var draining atomic.Bool
	checker := health.New(map[string]health.Check{
		"postgres": func(ctx context.Context) error { return pool.Ping(ctx) },
		"redis":    func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		"rabbitmq": func(ctx context.Context) error { return rabbitmq.Ping(ctx, cfg.RabbitMQURL) },
	})

	router, err := httpapi.New(httpapi.Config{TrustedProxies: cfg.TrustedProxies}, httpapi.Deps{
		Log: log, Registry: reg, Health: checker, Draining: &draining,
	})
	if err != nil {
		return err
	}

	// Background work stops with bg; the HTTP server drains first.
	bg, cancelBG := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBG()
	var wg sync.WaitGroup
	wg.Go(func() { postgres.KeepPartitions(bg, pool, log) })

	// Outbox relay (issue 5): publishes the outbox to RabbitMQ with
	// confirms. Every node runs one; they take turns through a lock.
	relayPub := rabbitmq.NewPublisher(cfg.RabbitMQURL, "quizcast-relay "+cfg.NodeID, rabbitmq.DefaultTopology(), 10*time.Second)
	defer relayPub.Close()
	relay := outbox.NewRelay(postgres.NewOutboxStore(pool), relayPub,
		outbox.Config{BatchSize: cfg.OutboxBatchSize, PollInterval: cfg.OutboxPollInterval}, outbox.NewMetrics(reg), log)
	wg.Go(func() { relay.Run(bg) })
	// End of the outbox relay.

	srv := &http.Server{Addr: cfg.HTTPAddr, Handler: router, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("server listening", "addr", cfg.HTTPAddr, "node", cfg.NodeID)

	select {
	case err := <-errc:
		cancelBG()
		wg.Wait()
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	draining.Store(true)
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Error("http shutdown", "err", err)
	}
	cancelBG()
	wg.Wait()
	log.Info("stopped")
	return nil
}

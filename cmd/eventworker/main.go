// Command eventworker consumes analytics events from RabbitMQ, stores each
// once in the events table and refreshes the reports' materialized views.
// "eventworker replay-dlq [-dry-run] [-limit n]" moves the dead letters back
// to the events exchange (or, with -dry-run, only lists them).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/config"
	"github.com/quizcast/quizcast/internal/health"
	"github.com/quizcast/quizcast/internal/metrics"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/rabbitmq"
	"github.com/quizcast/quizcast/internal/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "replay-dlq" {
		if err := replayDLQ(ctx, os.Args[2:], os.LookupEnv, rabbitmq.DefaultTopology(), os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "quizcast eventworker replay-dlq:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 {
		fmt.Fprintf(os.Stderr, "quizcast eventworker: unknown command %q (want none or replay-dlq)\n", os.Args[1])
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if err := run(ctx, os.LookupEnv, rabbitmq.DefaultTopology(), log); err != nil {
		fmt.Fprintln(os.Stderr, "quizcast eventworker:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. On shutdown it stops consuming, stores and
// acknowledges the batch in hand, then stops its HTTP server.
func run(ctx context.Context, getenv config.Getenv, topo rabbitmq.Topology, log *slog.Logger) error {
	cfg, err := config.LoadWorker(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	// One batch is stored at a time; a few spare connections serve the
	// readiness probe and partition creation.
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL, 8)
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
	checker := health.New(map[string]health.Check{
		"postgres": func(ctx context.Context) error { return pool.Ping(ctx) },
		"rabbitmq": func(ctx context.Context) error { return rabbitmq.Ping(ctx, cfg.RabbitMQURL) },
		"redis":    func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
	})
	w := worker.New(cfg, topo, pool, rdb, reg, log)

	srv := &http.Server{Addr: cfg.HTTPAddr, Handler: probes(reg, checker), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("event worker started", "addr", cfg.HTTPAddr, "queue", topo.Queue, "prefetch", cfg.Prefetch, "batch", cfg.BatchSize)

	consuming, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(consuming, consuming) })

	var serveErr error
	select {
	case err := <-errc:
		serveErr = fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
		log.Info("shutting down")
	}
	stopConsuming()
	wg.Wait()
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Error("http shutdown", "err", err)
	}
	log.Info("stopped")
	return serveErr
}

// replayDLQ moves the dead letters back to the events exchange, one line
// per message (id, routing key, reason) and a summary on out. It needs only
// RABBITMQ_URL.
func replayDLQ(ctx context.Context, args []string, getenv config.Getenv, topo rabbitmq.Topology, out io.Writer) error {
	fs := flag.NewFlagSet("replay-dlq", flag.ContinueOnError)
	fs.SetOutput(out)
	dry := fs.Bool("dry-run", false, "list the dead letters and leave them in the queue")
	limit := fs.Int("limit", 0, "handle at most this many (0: all that are in the queue now)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *limit < 0 || fs.NArg() > 0 {
		return errors.New("usage: eventworker replay-dlq [-dry-run] [-limit n]")
	}
	url, ok := getenv("RABBITMQ_URL")
	if !ok || url == "" {
		return errors.New("configuration: RABBITMQ_URL is required")
	}
	n, err := rabbitmq.ReplayDeadLetters(ctx, url, topo, rabbitmq.ReplayOptions{
		Limit: *limit, DryRun: *dry,
		Each: func(d rabbitmq.DeadLetter) { fmt.Fprintln(out, d) },
	})
	verb := "replayed"
	if *dry {
		verb = "listed (dry run, left in the queue)"
	}
	fmt.Fprintf(out, "%d dead letters %s from %s to %s\n", n, verb, topo.DeadLetterQueue, topo.Exchange)
	return err
}

// probes serves /healthz, /readyz (PostgreSQL, RabbitMQ and Redis answer) and
// /metrics.
func probes(reg *prometheus.Registry, checker *health.Checker) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		res := checker.Run(r.Context())
		status := http.StatusOK
		if len(res.Failed) > 0 {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, res)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

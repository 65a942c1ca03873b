// Command eventworker consumes analytics events from RabbitMQ, stores each
// once in the events table and refreshes the reports' materialized views.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/quizcast/quizcast/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.LookupEnv); err != nil {
		fmt.Fprintln(os.Stderr, "quizcast eventworker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv config.Getenv) error {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := config.LoadWorker(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log.Info("event worker starting", "prefetch", cfg.Prefetch)
	<-ctx.Done()
	return nil
}

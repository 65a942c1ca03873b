// Command server runs a Quizcast server node (REST, WebSockets, outbox
// relay, deadline sweeper) or, as "server migrate", applies the migrations.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/config"
	"github.com/quizcast/quizcast/internal/node"
	"github.com/quizcast/quizcast/internal/postgres"
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
		debugAddr, _ := getenv("DEBUG_ADDR")
		return serve(ctx, cfg, debugAddr, log)
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

// debugServer serves net/http/pprof on its own listener (DEBUG_ADDR), never
// on the public one: profiles show internals and cost CPU on demand.
func debugServer(addr string, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("debug listener", "addr", addr, "err", err)
		}
	}()
	log.Info("pprof listening", "addr", addr)
	return srv
}

func serve(ctx context.Context, cfg config.Server, debugAddr string, log *slog.Logger) error {
	if debugAddr != "" {
		defer debugServer(debugAddr, log).Close()
	}
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL, int32(cfg.DBMaxConns))
	if err != nil {
		return err
	}
	defer pool.Close()
	answerPool, err := postgres.ConnectAnswers(ctx, cfg.DatabaseURL, int32(cfg.DBAnswerConns))
	if err != nil {
		return err
	}
	defer answerPool.Close()

	ropt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("parse REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()

	log = log.With("node", cfg.NodeID)
	n, err := node.New(cfg, node.Options{AnswerPool: answerPool}, pool, rdb, log)
	if err != nil {
		return err
	}
	// Background work stops with bg; the answer writer with writerCtx, after
	// the sockets and requests have drained.
	bg, cancelBG := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBG()
	writerCtx, cancelWriter := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWriter()
	done := make(chan struct{})
	go func() { n.Run(bg, writerCtx); close(done) }()

	srv := &http.Server{Addr: cfg.HTTPAddr, Handler: n.Handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("server listening", "addr", cfg.HTTPAddr, "node", cfg.NodeID)

	select {
	case err := <-errc:
		cancelBG()
		cancelWriter()
		<-done
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// Sockets first (hijacked connections are not tracked by Shutdown), then
	// in-flight requests, then the answer writer, then the rest.
	n.Drain(shutCtx)
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Error("http shutdown", "err", err)
	}
	cancelWriter()
	cancelBG()
	<-done
	log.Info("stopped")
	return nil
}

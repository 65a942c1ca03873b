// Command server runs a Quizcast server node (REST, WebSockets, outbox
// relay, deadline sweeper); "server migrate" applies the migrations and
// "server create-school -name NAME -admin-email EMAIL" creates a school
// with its admin and prints the admin's password reset code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/mail"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/config"
	"github.com/quizcast/quizcast/internal/node"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
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
	case "create-school":
		return createSchool(ctx, args[1:], getenv, os.Stdout)
	case "serve":
		cfg, err := config.LoadServer(getenv)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		debugAddr, _ := getenv("DEBUG_ADDR")
		return serve(ctx, cfg, debugAddr, log)
	default:
		return fmt.Errorf("unknown command %q (want serve, migrate or create-school)", cmd)
	}
}

// createSchool creates a school and its first admin, who has no password
// yet, and prints a reset code (24 h) with which the admin sets one at
// POST /api/v1/auth/password-reset.
func createSchool(ctx context.Context, args []string, getenv config.Getenv, out io.Writer) error {
	fs := flag.NewFlagSet("create-school", flag.ContinueOnError)
	name := fs.String("name", "", "the school's name (1..200 characters)")
	adminEmail := fs.String("admin-email", "", "the email of the school's first admin")
	adminName := fs.String("admin-name", "", "the admin's name (default: the email)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	email := auth.NormalizeEmail(*adminEmail)
	if n := len([]rune(strings.TrimSpace(*name))); n == 0 || n > 200 {
		return errors.New("create-school: -name is required (1..200 characters)")
	}
	if _, err := mail.ParseAddress(email); err != nil || email == "" {
		return errors.New("create-school: -admin-email must be a valid email")
	}
	if *adminName == "" {
		*adminName = email
	}
	pool, err := connectAdmin(ctx, getenv)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := postgres.NewStore(pool)
	school, user, err := store.CreateSchool(ctx, strings.TrimSpace(*name),
		quiz.User{Name: *adminName, Email: email, Role: quiz.RoleAdmin}, auth.NoPassword)
	if errors.Is(err, quiz.ErrConflict) {
		return fmt.Errorf("create-school: %s is already registered", email)
	}
	if err != nil {
		return err
	}
	code, ttl, err := auth.NewResets(store, nil, nil, store).Issue(ctx, user, "")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "school %s created (id %s)\nadmin %s (id %s)\nreset code (valid %s, shown once): %s\n"+
		"set the password with POST /api/v1/auth/password-reset {\"email\", \"reset_code\", \"new_password\"}\n",
		school.Name, school.ID, user.Email, user.ID, ttl, code)
	return err
}

// connectAdmin opens a small pool on DATABASE_URL for the one-shot
// commands (migrate, create-school).
func connectAdmin(ctx context.Context, getenv config.Getenv) (*pgxpool.Pool, error) {
	url, ok := getenv("DATABASE_URL")
	if !ok || url == "" {
		return nil, errors.New("configuration: DATABASE_URL is required")
	}
	return postgres.Connect(ctx, url, 2)
}

func migrate(ctx context.Context, getenv config.Getenv) error {
	pool, err := connectAdmin(ctx, getenv)
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

	ropt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("parse REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()

	log = log.With("node", cfg.NodeID)
	n, err := node.New(cfg, node.Options{}, pool, rdb, log)
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

// Command server runs a Quizcast server node (REST, WebSockets, outbox
// relay, deadline sweeper); "server migrate" applies the migrations,
// "server create-school" creates a school with its admin, "server
// checkconfig" checks the environment and the data stores, "server
// version" and "server --help" explain the binary.
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
	"github.com/quizcast/quizcast/internal/rabbitmq"
	"github.com/quizcast/quizcast/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quizcast server:", err)
		os.Exit(1)
	}
}

// usage is the head of --help; the variables follow it.
const usage = `Usage: server [command]

A Quizcast server node: REST API, WebSockets, outbox relay and deadline
sweeper. Configuration comes from the environment only.

Commands:
  serve        run the node (the default)
  migrate      apply the database migrations and create the partitions
               (reads only DATABASE_URL)
  create-school -name NAME -admin-email EMAIL [-admin-name NAME]
               create a school and its first admin (for REGISTRATION=closed);
               prints a password reset code (24 h) for the admin
  checkconfig  validate the environment and reach PostgreSQL, Redis and
               RabbitMQ; exits 1 with one line per problem
  version      print the version, VCS revision and Go version
  help         this text (also -h, --help)

Environment (name, default, meaning):
`

func run(ctx context.Context, args []string, getenv config.Getenv, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	if len(args) > 1 && cmd != "create-school" {
		return fmt.Errorf("%s takes no arguments, got %q (see server --help)", cmd, args[1:])
	}
	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		config.PrintVars(stdout, config.ServerVars)
		return nil
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, version.Get())
		return nil
	case "checkconfig":
		return checkConfig(ctx, getenv, stdout)
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(log)
	v := version.Get()
	// The first log line of every run names the build (a configuration
	// error is the only output otherwise).
	started := func() {
		log.Info("quizcast server", "command", cmd, "version", v.Version, "revision", v.Revision, "go_version", v.GoVersion)
	}
	switch cmd {
	case "migrate":
		started()
		return migrate(ctx, getenv)
	case "create-school":
		return createSchool(ctx, args[1:], getenv, stdout)
	case "serve":
		cfg, err := config.LoadServer(getenv)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		started()
		debugAddr, _ := getenv("DEBUG_ADDR")
		return serve(ctx, cfg, debugAddr, log)
	default:
		return fmt.Errorf("unknown command %q (want serve, migrate, create-school, checkconfig, version or help)", cmd)
	}
}

// checkConfig validates the configuration and reaches each data store,
// printing one line per problem (or "ok"): an operator's first step before
// a rollout, and a Kubernetes init container's.
func checkConfig(ctx context.Context, getenv config.Getenv, stdout io.Writer) error {
	cfg, err := config.LoadServer(getenv)
	var problems []string
	if err != nil {
		problems = append(problems, strings.Split(err.Error(), "\n")...)
	}
	checks := []struct {
		name, url string
		ping      func(ctx context.Context, url string) error
	}{
		{"PostgreSQL", cfg.DatabaseURL, pingPostgres},
		{"Redis", cfg.RedisURL, pingRedis},
		{"RabbitMQ", cfg.RabbitMQURL, rabbitmq.Ping},
	}
	for _, c := range checks {
		if c.url == "" {
			continue // already reported as missing or malformed
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.ping(pctx, c.url)
		cancel()
		if err != nil {
			// One line per problem, whatever the driver's message holds.
			msg := strings.Join(strings.Fields(err.Error()), " ")
			problems = append(problems, fmt.Sprintf("%s unreachable: %s", c.name, msg))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("checkconfig: %d problem(s):\n%s", len(problems), strings.Join(problems, "\n"))
	}
	fmt.Fprintln(stdout, "ok: configuration valid; PostgreSQL, Redis and RabbitMQ reachable")
	return nil
}

func pingPostgres(ctx context.Context, url string) error {
	pool, err := postgres.Connect(ctx, url, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	return pool.Ping(ctx)
}

func pingRedis(ctx context.Context, url string) error {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	return rdb.Ping(ctx).Err()
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

func metricsMux(h http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	return mux
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
	// The node runs until Shutdown (or a fatal listener error, stop) ends
	// it; the deferred closes of Redis and the pools come after it.
	hard, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	done := make(chan struct{})
	go func() { n.Run(hard); close(done) }()

	srv := node.HTTPServer(cfg, n.Handler)
	errc := make(chan error, 2)
	go func() { errc <- srv.ListenAndServe() }()
	if cfg.MetricsAddr != "" {
		// /metrics on its own listener, as pprof: never on the API port.
		msrv := &http.Server{Addr: cfg.MetricsAddr, Handler: metricsMux(n.Metrics), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := msrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("metrics listener: %w", err)
			}
		}()
		defer msrv.Close()
		log.Info("metrics listening", "addr", cfg.MetricsAddr)
	}
	log.Info("server listening", "addr", cfg.HTTPAddr, "node", cfg.NodeID)

	select {
	case err := <-errc:
		stop()
		<-done
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// Sockets first (hijacked connections are not tracked by the HTTP
	// server's Shutdown) until their leaves are recorded, then in-flight
	// requests, then the answer writer, then the background work; Redis
	// and the pools close after (deferred).
	n.Shutdown(shutCtx, srv.Shutdown)
	stop()
	<-done
	log.Info("stopped")
	return nil
}

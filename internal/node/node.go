// Package node builds one Quizcast server node from its configuration and
// its connections: the object graph behind cmd/server, shared with the
// multi-node integration tests so they run exactly what production runs.
package node

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/admin"
	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/authoring"
	"github.com/quizcast/quizcast/internal/background"
	"github.com/quizcast/quizcast/internal/clock"
	"github.com/quizcast/quizcast/internal/config"
	"github.com/quizcast/quizcast/internal/health"
	"github.com/quizcast/quizcast/internal/httpapi"
	"github.com/quizcast/quizcast/internal/live"
	"github.com/quizcast/quizcast/internal/logging"
	"github.com/quizcast/quizcast/internal/metrics"
	"github.com/quizcast/quizcast/internal/outbox"
	"github.com/quizcast/quizcast/internal/policy"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/rabbitmq"
	"github.com/quizcast/quizcast/internal/ratelimit"
	"github.com/quizcast/quizcast/internal/realtime"
	"github.com/quizcast/quizcast/internal/reports"
	"github.com/quizcast/quizcast/internal/webapp"
	"github.com/quizcast/quizcast/web"
)

// Options tune a node beyond its configuration (tests shorten intervals).
type Options struct {
	// HistoryLen is how many broadcasts per session Redis keeps for resume.
	HistoryLen int64
	// Realtime tunes the sockets.
	Realtime realtime.Config
	// SweepInterval is how often overdue questions are looked for.
	SweepInterval time.Duration
	// ResyncInterval is how often hubs check for lost broadcasts.
	ResyncInterval time.Duration
	// Topology names the RabbitMQ exchange the relay publishes to (zero:
	// the production topology).
	Topology rabbitmq.Topology
	// AnswerPool is the answer writer's own pool (nil: the node's pool);
	// the caller closes it.
	AnswerPool *pgxpool.Pool
}

// BroadcastRetention is how long the broadcasts of an ended session are
// kept in PostgreSQL; Redis keeps its own bounded history for a day.
const BroadcastRetention = 7 * 24 * time.Hour

// Node is one server node.
type Node struct {
	Handler http.Handler
	// Metrics serves the Prometheus registry; cmd/server puts it on its own
	// listener (METRICS_ADDR), never on the API port.
	Metrics  http.Handler
	Registry *prometheus.Registry
	Tokens   *auth.Tokens

	log      *slog.Logger
	draining atomic.Bool
	sockets  *realtime.Server
	writer   *postgres.AnswerWriter
	relays   []*rabbitmq.Publisher // one per relay worker
	runners  []func(context.Context)

	// Shutdown stops the answer writer, then the background work, each
	// through its own context; Run closes the done channels.
	writerCtx, bgCtx     context.Context
	stopWriter, stopBG   context.CancelFunc
	writerDone, runsDone chan struct{}
}

// New builds a node over an open pool and Redis client.
func New(cfg config.Server, opts Options, pool *pgxpool.Pool, rdb *redis.Client, log *slog.Logger) (*Node, error) {
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = 250 * time.Millisecond
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = 2 * time.Second
	}
	log = logging.Wrap(log)
	n := &Node{log: log, Registry: metrics.NewRegistry(), writerDone: make(chan struct{}), runsDone: make(chan struct{})}
	n.writerCtx, n.stopWriter = context.WithCancel(context.Background())
	n.bgCtx, n.stopBG = context.WithCancel(context.Background())
	reg := n.Registry
	n.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	metrics.RegisterPool(reg, pool)
	checker := health.New(map[string]health.Check{
		"postgres": func(ctx context.Context) error { return pool.Ping(ctx) },
		"redis":    func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		"rabbitmq": func(ctx context.Context) error { return rabbitmq.Ping(ctx, cfg.RabbitMQURL) },
	})

	// Every instant the live path stores comes from PostgreSQL's clock,
	// carried forward by the monotonic clock: a step of this node's wall
	// clock moves none of them, nor the tokens' times.
	anchorCtx, cancelAnchor := context.WithTimeout(context.Background(), 10*time.Second)
	clk, err := clock.New(anchorCtx, postgres.ReadClock(pool), clock.ProcessMonotonic(), clock.Config{}, log)
	cancelAnchor()
	if err != nil {
		return nil, err
	}
	tokens, err := auth.NewTokens(cfg.JWTSecret, cfg.AccessTTL, rdb)
	if err != nil {
		return nil, err
	}
	tokens.UseClock(clk.Now)
	if cfg.JWTPreviousSecret != nil {
		if err := tokens.AcceptPrevious(cfg.JWTPreviousSecret); err != nil {
			return nil, err
		}
	}
	n.Tokens = tokens
	limiter := ratelimit.New(rdb, ratelimit.Limits{
		LoginPerIP: cfg.LoginIPLimit, LoginFailuresPerAccount: cfg.LoginAccountLimit,
		LoginFailuresPerIP: cfg.LoginFailuresIPLimit,
		HandshakesPerUser:  cfg.HandshakeUserLimit, HandshakesPerIP: cfg.HandshakeIPLimit, APIPerUser: cfg.APIUserLimit,
	})
	store := postgres.NewStore(pool)
	hasher := auth.NewHasher(auth.HasherConfig{})
	accounts, err := auth.NewService(store, tokens, limiter, hasher, cfg.RefreshTTL)
	if err != nil {
		return nil, err
	}
	pol := policy.New(store)

	// Commits that write the outbox wake the relays through one debounced
	// NOTIFY per node, outside the transactions: at most one per 100 ms,
	// since a woken relay lingers 200 ms for company anyway (at 20 ms the
	// notifications were 2 % of a node's CPU at the 10 s pace).
	outboxStore := postgres.NewOutboxStore(pool)
	outboxStore.Holder = postgres.LeaseHolder(cfg.NodeID)
	waker := outbox.NewWaker(outboxStore.Notify, 100*time.Millisecond, log)
	sessionStore := postgres.NewSessionStore(pool, waker.Kick)
	// One batch in flight per connection of the answer pool; on the
	// node's own pool, the writer's default (4).
	answerPool, writers := opts.AnswerPool, 0
	if answerPool == nil {
		answerPool = pool
	} else {
		writers = int(answerPool.Config().MaxConns)
	}
	n.writer = postgres.NewAnswerWriter(answerPool, log, postgres.AnswerWriterConfig{
		Writers: writers, Linger: cfg.AnswerBatchLinger, AfterCommit: waker.Kick})
	broker := realtime.NewRedisBroker(rdb, opts.HistoryLen)
	presence := realtime.NewPresence(rdb, broker, log, 250*time.Millisecond)
	// Commands and answers are counted by outcome where REST and the
	// sockets call the service.
	sessions := countedSessions{live.New(sessionStore, pol, n.writer, broker, presence, clk, log), metrics.NewLive(reg)}
	rtStats := realtime.NewMetrics(reg)
	hubs := realtime.NewHubs(broker, sessionStore, sessions, log, rtStats)
	rtCfg := opts.Realtime
	rtCfg.AllowedOrigins = cfg.AllowedOrigins
	queue := realtime.NewQueue(rtCfg.Limits, rtStats)
	n.sockets = realtime.NewServer(rtCfg, tokens, sessions, hubs, broker, presence, queue, log, rtStats)

	// School administration (§10): the audit log is the store; views are
	// refreshed after an erasure or a retention pass.
	reportCache := reports.NewCache(rdb, 0, reg)
	refresher := reports.NewRefresher(pool, reportCache, reg, log, reports.RefresherConfig{})
	resets := auth.NewResets(store, tokens, limiter, store)
	adminSvc := admin.New(admin.Config{Store: store, Policy: pol, Tokens: tokens, Resets: resets, Redis: rdb,
		Refresher: refresher, Views: reports.Views(), Log: log})
	retention := &admin.Retention{Store: store, Redis: rdb, Months: cfg.RetentionMonths, AuditMonths: cfg.AuditRetentionMonths,
		Refresher: refresher, Views: reports.Views(), Log: log}

	router, err := httpapi.New(httpapi.Config{TrustedProxies: cfg.TrustedProxies, AllowedOrigins: cfg.AllowedOrigins}, httpapi.Deps{
		Log: log, Registry: reg, Health: checker, Draining: &n.draining,
		Tokens: tokens, Limiter: limiter, Accounts: accounts,
		Authoring: authoring.New(store, pol, hasher, sessions),
		Sessions:  realtime.Guarded{RESTSessions: sessions, Queue: queue}, Sockets: n.sockets,
		Reports: reports.NewService(reports.NewStore(pool), reportCache, log),
		Web:     webapp.New(web.App()),
		Admin:   adminSvc, Resets: resets, RegistrationClosed: cfg.RegistrationClosed,
	})
	if err != nil {
		return nil, err
	}
	n.Handler = router

	// Outbox relay: publishes the outbox to RabbitMQ with confirms. Every
	// node leases its share of the outbox's partitions and runs
	// OUTBOX_RELAYS workers over them, each with its own connection, one
	// partition at a time each (an advisory lock per partition).
	if opts.Topology.Exchange == "" {
		opts.Topology = rabbitmq.DefaultTopology()
	}
	pubs := make([]outbox.Publisher, max(cfg.OutboxRelays, 1))
	for i := range pubs {
		p := rabbitmq.NewPublisher(cfg.RabbitMQURL, fmt.Sprintf("quizcast-relay %s/%d", cfg.NodeID, i), opts.Topology, 10*time.Second)
		n.relays = append(n.relays, p)
		pubs[i] = p
	}
	relay := outbox.NewRelay(outboxStore, pubs,
		outbox.Config{BatchSize: cfg.OutboxBatchSize, PollInterval: cfg.OutboxPollInterval}, outbox.NewMetrics(reg), log)

	n.runners = []func(context.Context){
		clk.Run,
		relay.Run,
		waker.Run,
		func(ctx context.Context) { postgres.KeepPartitions(ctx, pool, log) },
		func(ctx context.Context) {
			if err := broker.Run(ctx, hubs.Deliver); err != nil {
				log.Warn("broker stopped", "err", err)
			}
		},
		func(ctx context.Context) { hubs.Resync(ctx, opts.ResyncInterval) },
		presence.RunProgress,
		func(ctx context.Context) { sessions.SweepDeadlines(ctx, opts.SweepInterval) },
		n.sockets.WatchRevocations,
		retention.Run,
		func(ctx context.Context) {
			background.Every(ctx, time.Hour, true, func(ctx context.Context) {
				if n, err := sessionStore.PurgeBroadcasts(ctx, time.Now().Add(-BroadcastRetention)); err != nil && ctx.Err() == nil {
					log.Warn("purging broadcasts failed", "err", err)
				} else if n > 0 {
					log.Info("broadcasts of ended sessions purged", "rows", n)
				}
			})
		},
	}
	return n, nil
}

// Run runs the node's answer writer and background work until Shutdown
// stops them, in that order; ctx ending stops both at once (a hard stop).
// It returns once everything stopped and the relays' connections closed.
func (n *Node) Run(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		n.stopWriter()
		n.stopBG()
	})
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() {
		n.writer.Run(n.writerCtx)
		close(n.writerDone)
	})
	for _, r := range n.runners {
		wg.Go(func() { r(n.bgCtx) })
	}
	wg.Wait()
	for _, p := range n.relays {
		_ = p.Close()
	}
	close(n.runsDone)
}

// Shutdown stops a running node in dependency order, so that nothing it
// still has to write meets a closed pool or Redis client: readiness off
// and sockets closed with 1001, waiting until each one's student_left is
// recorded and its hub released; then the in-flight requests
// (requests, e.g. the HTTP server's Shutdown; nil when there is none);
// then the answer writer, with every answer it accepted; then the
// background work (relays, sweeper, broker, presence). The caller closes
// the pools and Redis after it returns. Past ctx, what is left is stopped
// at once.
func (n *Node) Shutdown(ctx context.Context, requests func(context.Context) error) {
	n.Drain(ctx)
	if requests != nil {
		if err := requests(ctx); err != nil {
			n.log.Error("http shutdown", "err", err)
		}
	}
	n.stopWriter()
	select {
	case <-n.writerDone:
	case <-ctx.Done():
	}
	n.stopBG()
	select {
	case <-n.runsDone:
	case <-ctx.Done():
		n.log.Warn("shutdown timed out before the background work stopped", "err", ctx.Err())
	}
}

// HTTPServer returns the API's server on addr with the timeouts of cfg: a
// trickled request or an idle keep-alive connection is cut, while a
// WebSocket clears them at its upgrade (httpapi) and keeps itself alive.
func HTTPServer(cfg config.Server, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           h,
		ReadHeaderTimeout: min(10*time.Second, cfg.ReadTimeout),
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

// Drain turns readiness off, refuses new sockets, and closes the open ones
// with 1001 after flushing what they are owed, waiting until their
// goroutines finished (leaves recorded) or ctx ends.
func (n *Node) Drain(ctx context.Context) {
	n.draining.Store(true)
	n.sockets.Drain(ctx)
}

// Package node builds one Quizcast server node from its configuration and
// its connections: the object graph behind cmd/server, shared with the
// multi-node integration tests so they run exactly what production runs.
package node

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/authoring"
	"github.com/quizcast/quizcast/internal/background"
	"github.com/quizcast/quizcast/internal/config"
	"github.com/quizcast/quizcast/internal/health"
	"github.com/quizcast/quizcast/internal/httpapi"
	"github.com/quizcast/quizcast/internal/live"
	"github.com/quizcast/quizcast/internal/metrics"
	"github.com/quizcast/quizcast/internal/outbox"
	"github.com/quizcast/quizcast/internal/policy"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/rabbitmq"
	"github.com/quizcast/quizcast/internal/ratelimit"
	"github.com/quizcast/quizcast/internal/realtime"
	"github.com/quizcast/quizcast/internal/reports"
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
	Handler  http.Handler
	Registry *prometheus.Registry
	Tokens   *auth.Tokens

	log      *slog.Logger
	draining atomic.Bool
	sockets  *realtime.Server
	writer   *postgres.AnswerWriter
	relayPub *rabbitmq.Publisher
	runners  []func(context.Context)
}

// New builds a node over an open pool and Redis client.
func New(cfg config.Server, opts Options, pool *pgxpool.Pool, rdb *redis.Client, log *slog.Logger) (*Node, error) {
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = 250 * time.Millisecond
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = 2 * time.Second
	}
	n := &Node{log: log, Registry: metrics.NewRegistry()}
	reg := n.Registry
	metrics.RegisterPool(reg, pool)
	checker := health.New(map[string]health.Check{
		"postgres": func(ctx context.Context) error { return pool.Ping(ctx) },
		"redis":    func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		"rabbitmq": func(ctx context.Context) error { return rabbitmq.Ping(ctx, cfg.RabbitMQURL) },
	})

	tokens, err := auth.NewTokens(cfg.JWTSecret, cfg.AccessTTL, rdb)
	if err != nil {
		return nil, err
	}
	n.Tokens = tokens
	limiter := ratelimit.New(rdb, ratelimit.Limits{
		LoginPerIP: cfg.LoginIPLimit, LoginFailuresPerAccount: cfg.LoginAccountLimit, APIPerUser: cfg.APIUserLimit,
	})
	store := postgres.NewStore(pool)
	accounts, err := auth.NewService(store, tokens, limiter, cfg.RefreshTTL)
	if err != nil {
		return nil, err
	}
	pol := policy.New(store)

	// Commits that write the outbox wake the relays through one debounced
	// NOTIFY per node, outside the transactions.
	outboxStore := postgres.NewOutboxStore(pool)
	waker := outbox.NewWaker(outboxStore.Notify, 20*time.Millisecond, log)
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
		Writers: writers, Linger: time.Millisecond, AfterCommit: waker.Kick})
	broker := realtime.NewRedisBroker(rdb, opts.HistoryLen)
	presence := realtime.NewPresence(rdb, broker, log, 250*time.Millisecond)
	sessions := live.New(sessionStore, pol, n.writer, broker, presence, log)
	rtStats := realtime.NewMetrics(reg)
	hubs := realtime.NewHubs(broker, sessionStore, sessions, log, rtStats)
	rtCfg := opts.Realtime
	rtCfg.AllowedOrigins = cfg.AllowedOrigins
	n.sockets = realtime.NewServer(rtCfg, tokens, sessions, hubs, broker, presence, log, rtStats)

	router, err := httpapi.New(httpapi.Config{TrustedProxies: cfg.TrustedProxies}, httpapi.Deps{
		Log: log, Registry: reg, Health: checker, Draining: &n.draining,
		Tokens: tokens, Limiter: limiter, Accounts: accounts,
		Authoring: authoring.New(store, pol),
		Sessions:  sessions, Sockets: n.sockets,
		Reports: reports.NewService(reports.NewStore(pool), reports.NewCache(rdb, 0, reg), log),
	})
	if err != nil {
		return nil, err
	}
	n.Handler = router

	// Outbox relay: publishes the outbox to RabbitMQ with confirms. Every
	// node runs one; they take turns through an advisory lock.
	if opts.Topology.Exchange == "" {
		opts.Topology = rabbitmq.DefaultTopology()
	}
	n.relayPub = rabbitmq.NewPublisher(cfg.RabbitMQURL, "quizcast-relay "+cfg.NodeID, opts.Topology, 10*time.Second)
	relay := outbox.NewRelay(outboxStore, n.relayPub,
		outbox.Config{BatchSize: cfg.OutboxBatchSize, PollInterval: cfg.OutboxPollInterval}, outbox.NewMetrics(reg), log)

	n.runners = []func(context.Context){
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

// Run runs the node's background work until ctx ends. The answer writer
// runs until writerCtx ends, which the caller cancels only after the
// sockets and requests have drained, so no accepted answer is cut off.
func (n *Node) Run(ctx, writerCtx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { n.writer.Run(writerCtx) })
	for _, r := range n.runners {
		wg.Go(func() { r(ctx) })
	}
	wg.Wait()
	n.relayPub.Close()
}

// Drain turns readiness off, refuses new sockets, and closes the open ones
// with 1001 after flushing what they are owed, waiting until ctx ends.
func (n *Node) Drain(ctx context.Context) {
	n.draining.Store(true)
	n.sockets.Drain(ctx)
}

// Package config holds the typed configuration of the Quizcast processes,
// read once from the environment and passed to constructors.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Server is the configuration of cmd/server.
type Server struct {
	DatabaseURL string
	RedisURL    string
	RabbitMQURL string
	JWTSecret   []byte
	// JWTPreviousSecret is the key being rotated out: tokens it signed are
	// still accepted (nil outside a rotation).
	JWTPreviousSecret []byte
	HTTPAddr          string
	// MetricsAddr serves /metrics on its own listener (empty: no metrics
	// listener); the API port never serves them.
	MetricsAddr    string
	AllowedOrigins []string
	// NodeID names this node in logs and in its RabbitMQ connection name
	// (default: host name + HTTP_ADDR).
	NodeID string
	// ReadTimeout bounds reading a request (headers and body), WriteTimeout
	// the time from the end of its headers to the end of the answer,
	// IdleTimeout a keep-alive connection waiting for its next request.
	// WebSockets clear them at the upgrade and keep their own keep-alive.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ShutdownTimeout bounds the graceful drain on SIGTERM.
	ShutdownTimeout time.Duration
	// AccessTTL is the access token lifetime (at most 15 minutes).
	AccessTTL time.Duration
	// RefreshTTL is the refresh token lifetime.
	RefreshTTL time.Duration
	// LoginIPLimit is the number of login/register attempts per minute per IP.
	LoginIPLimit int
	// LoginAccountLimit is the number of failed logins per minute per email
	// and client address.
	LoginAccountLimit int
	// LoginFailuresIPLimit is the number of failed logins per minute per
	// client address, whatever the emails.
	LoginFailuresIPLimit int
	// APIUserLimit is the number of API requests per minute per user.
	APIUserLimit int
	// HandshakeUserLimit and HandshakeIPLimit bound WebSocket handshakes
	// per minute per user and per client address.
	HandshakeUserLimit, HandshakeIPLimit int
	// TrustedProxies are the proxies whose X-Forwarded-For is believed.
	TrustedProxies []string
	// OutboxBatchSize is the most outbox rows the relay publishes at once.
	OutboxBatchSize int
	// OutboxPollInterval is how often the relay looks at the outbox without
	// a notification.
	OutboxPollInterval time.Duration
	// OutboxRelays is how many relay workers (one RabbitMQ channel and at
	// most one outbox partition each) the node runs.
	OutboxRelays int
	// DBMaxConns sizes the node's PostgreSQL pool (pool_max_conns in
	// DATABASE_URL wins).
	DBMaxConns int
	// RegistrationClosed: REGISTRATION=closed (default open) refuses
	// POST /auth/register; operators create schools with
	// `server create-school`.
	RegistrationClosed bool
	// RetentionMonths (RETENTION_MONTHS, default 24): sessions started
	// earlier are removed with everything about them.
	RetentionMonths int
	// AuditRetentionMonths (AUDIT_RETENTION_MONTHS, default 36): the audit
	// log's own retention period.
	AuditRetentionMonths int
	// DBAnswerConns sizes the node's second PostgreSQL pool, the answer
	// writer's alone (one connection per batch in flight), so answers and
	// commands cannot starve each other.
	DBAnswerConns int
	// AnswerBatchLinger (ANSWER_BATCH_LINGER, default 5 ms) is how long a
	// group-commit batch waits for more answers once its first arrived.
	AnswerBatchLinger time.Duration
}

// Worker is the configuration of cmd/eventworker.
type Worker struct {
	DatabaseURL string
	RabbitMQURL string
	RedisURL    string
	HTTPAddr    string
	// RefreshInterval is the minimum time between two refreshes of a view.
	RefreshInterval time.Duration
	// RefreshMaxDuty is the largest share of time a view may spend
	// refreshing (REFRESH_MAX_DUTY_PERCENT / 100).
	RefreshMaxDuty float64
	// Prefetch is the consumer's prefetch window.
	Prefetch int
	// BatchSize is the largest batch stored in one transaction.
	BatchSize int
	// BatchLinger is how long a started batch waits for more events.
	BatchLinger time.Duration
	// Consumers is how many consumers (one connection, channel and batch
	// in flight each) the worker runs on the queue.
	Consumers int
}

// Getenv looks a variable up; os.LookupEnv fits.
type Getenv func(string) (string, bool)

type reader struct {
	get  Getenv
	errs []error
}

func (r *reader) required(name string) string {
	v, ok := r.get(name)
	if !ok || strings.TrimSpace(v) == "" {
		r.errs = append(r.errs, fmt.Errorf("%s is required", name))
		return ""
	}
	return strings.TrimSpace(v)
}

func (r *reader) optional(name, def string) string {
	v, ok := r.get(name)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	return strings.TrimSpace(v)
}

func (r *reader) url(name string, schemes ...string) string {
	v := r.required(name)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		r.errs = append(r.errs, fmt.Errorf("%s is not a valid URL (want %s://host...)", name, strings.Join(schemes, " or ")))
		return ""
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return v
		}
	}
	r.errs = append(r.errs, fmt.Errorf("%s has scheme %q, want %s", name, u.Scheme, strings.Join(schemes, " or ")))
	return ""
}

func (r *reader) addr(name, def string) string {
	v := r.optional(name, def)
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		r.errs = append(r.errs, fmt.Errorf("%s=%q is not a host:port address (for example :8080)", name, v))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		r.errs = append(r.errs, fmt.Errorf("%s=%q has an invalid port", name, v))
	}
	return v
}

func (r *reader) duration(name string, def time.Duration, min, max time.Duration) time.Duration {
	v, ok := r.get(name)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d < min || d > max {
		r.errs = append(r.errs, fmt.Errorf("%s=%q must be a duration between %s and %s (for example 5s)", name, v, min, max))
		return def
	}
	return d
}

func (r *reader) integer(name string, def, min, max int) int {
	v, ok := r.get(name)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < min || n > max {
		r.errs = append(r.errs, fmt.Errorf("%s=%q must be an integer between %d and %d", name, v, min, max))
		return def
	}
	return n
}

func (r *reader) list(name string) []string {
	v := r.optional(name, "")
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (r *reader) err() error { return errors.Join(r.errs...) }

// KnownSecrets are signing secrets that have appeared in this repository,
// its docs or its templates: anyone can sign tokens with them, so the
// server refuses to start with any of them (a test keeps the list in step
// with the files).
var KnownSecrets = []string{
	"dev-only-secret-change-me-0123456789abcdef",
	"test-secret-0123456789abcdef0123456789abcdef",
	"CHANGE_ME",
	"change-me",
	"changeme",
	"secret",
}

// minSecretDistinct is the fewest distinct bytes a secret may hold: a
// value such as 32 times the same letter is a placeholder, not a key.
const minSecretDistinct = 8

// secret reads a JWT signing secret: at least 32 characters, not one of
// KnownSecrets, not a run of a few repeated characters.
func (r *reader) secret(name string, required bool) []byte {
	var v string
	if required {
		v = r.required(name)
	} else {
		v = r.optional(name, "")
	}
	if v == "" {
		return nil
	}
	distinct := map[byte]bool{}
	for i := 0; i < len(v); i++ {
		distinct[v[i]] = true
	}
	switch {
	case len(v) < 32:
		r.errs = append(r.errs, fmt.Errorf("%s must be at least 32 characters", name))
	case slices.ContainsFunc(KnownSecrets, func(k string) bool { return strings.EqualFold(k, v) }):
		r.errs = append(r.errs, fmt.Errorf("%s is a value published in the Quizcast repository or its docs; generate one (openssl rand -base64 48)", name))
	case len(distinct) < minSecretDistinct:
		r.errs = append(r.errs, fmt.Errorf("%s is a placeholder (fewer than %d distinct characters); generate one (openssl rand -base64 48)", name, minSecretDistinct))
	}
	return []byte(v)
}

// LoadServer reads and validates the server configuration. The error names
// every variable that is missing or malformed, one per line.
func LoadServer(get Getenv) (Server, error) {
	r := &reader{get: get}
	c := Server{
		DatabaseURL:          r.url("DATABASE_URL", "postgres", "postgresql"),
		RedisURL:             r.url("REDIS_URL", "redis", "rediss"),
		RabbitMQURL:          r.url("RABBITMQ_URL", "amqp", "amqps"),
		HTTPAddr:             r.addr("HTTP_ADDR", ":8080"),
		AllowedOrigins:       r.list("ALLOWED_ORIGINS"),
		NodeID:               r.optional("NODE_ID", ""),
		ShutdownTimeout:      r.duration("SHUTDOWN_TIMEOUT", 25*time.Second, time.Second, 10*time.Minute),
		ReadTimeout:          r.duration("HTTP_READ_TIMEOUT", 30*time.Second, time.Second, 10*time.Minute),
		WriteTimeout:         r.duration("HTTP_WRITE_TIMEOUT", 120*time.Second, time.Second, time.Hour),
		IdleTimeout:          r.duration("HTTP_IDLE_TIMEOUT", 90*time.Second, time.Second, time.Hour),
		AccessTTL:            r.duration("ACCESS_TOKEN_TTL", 15*time.Minute, 10*time.Second, 15*time.Minute),
		RefreshTTL:           r.duration("REFRESH_TOKEN_TTL", 30*24*time.Hour, time.Minute, 365*24*time.Hour),
		LoginIPLimit:         r.integer("RATE_LOGIN_PER_IP", 1000, 1, 1_000_000),
		LoginAccountLimit:    r.integer("RATE_LOGIN_FAILURES_PER_ACCOUNT", 10, 1, 10_000),
		LoginFailuresIPLimit: r.integer("RATE_LOGIN_FAILURES_PER_IP", 100, 1, 1_000_000),
		HandshakeUserLimit:   r.integer("RATE_WS_HANDSHAKES_PER_USER", 60, 1, 1_000_000),
		HandshakeIPLimit:     r.integer("RATE_WS_HANDSHAKES_PER_IP", 2000, 1, 1_000_000),
		APIUserLimit:         r.integer("RATE_API_PER_USER", 600, 1, 1_000_000),
		TrustedProxies:       r.list("TRUSTED_PROXIES"),

		OutboxBatchSize:    r.integer("OUTBOX_BATCH_SIZE", 500, 1, 10_000),
		OutboxPollInterval: r.duration("OUTBOX_POLL_INTERVAL", 500*time.Millisecond, 10*time.Millisecond, time.Minute),
		OutboxRelays:       r.integer("OUTBOX_RELAYS", 4, 1, 16),
		DBMaxConns:         r.integer("DB_MAX_CONNS", 16, 2, 1000),
		DBAnswerConns:      r.integer("DB_ANSWER_CONNS", 4, 1, 64),
		AnswerBatchLinger:  r.duration("ANSWER_BATCH_LINGER", 5*time.Millisecond, 0, 100*time.Millisecond),
	}
	c.RetentionMonths = r.integer("RETENTION_MONTHS", 24, 1, 1200)
	c.AuditRetentionMonths = r.integer("AUDIT_RETENTION_MONTHS", 36, 1, 1200)
	switch reg := strings.ToLower(r.optional("REGISTRATION", "open")); reg {
	case "open":
	case "closed":
		c.RegistrationClosed = true
	default:
		r.errs = append(r.errs, fmt.Errorf("REGISTRATION is %q, want open or closed", reg))
	}
	if c.NodeID == "" {
		host, _ := os.Hostname()
		c.NodeID = host + c.HTTPAddr
	}
	c.JWTSecret = r.secret("JWT_SECRET", true)
	c.JWTPreviousSecret = r.secret("JWT_PREVIOUS_SECRET", false)
	if c.JWTPreviousSecret != nil && string(c.JWTPreviousSecret) == string(c.JWTSecret) {
		r.errs = append(r.errs, errors.New("JWT_PREVIOUS_SECRET must differ from JWT_SECRET"))
	}
	if v := r.optional("METRICS_ADDR", ""); v != "" {
		c.MetricsAddr = r.addr("METRICS_ADDR", "")
	}
	for _, o := range c.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" {
			r.errs = append(r.errs, fmt.Errorf("ALLOWED_ORIGINS entry %q is not an origin like https://app.example.org", o))
		}
	}
	return c, r.err()
}

// LoadWorker reads and validates the event worker configuration.
func LoadWorker(get Getenv) (Worker, error) {
	r := &reader{get: get}
	c := Worker{
		DatabaseURL:     r.url("DATABASE_URL", "postgres", "postgresql"),
		RabbitMQURL:     r.url("RABBITMQ_URL", "amqp", "amqps"),
		RedisURL:        r.url("REDIS_URL", "redis", "rediss"),
		HTTPAddr:        r.addr("WORKER_HTTP_ADDR", ":9090"),
		RefreshInterval: r.duration("REFRESH_INTERVAL", 5*time.Second, 100*time.Millisecond, time.Hour),
		RefreshMaxDuty:  float64(r.integer("REFRESH_MAX_DUTY_PERCENT", 2, 1, 100)) / 100,
		Prefetch:        r.integer("WORKER_PREFETCH", 1000, 1, 65535),
		BatchSize:       r.integer("WORKER_BATCH_SIZE", 500, 1, 10000),
		BatchLinger:     r.duration("WORKER_BATCH_LINGER", 50*time.Millisecond, time.Millisecond, 10*time.Second),
		Consumers:       r.integer("WORKER_CONSUMERS", 2, 1, 16),
	}
	return c, r.err()
}

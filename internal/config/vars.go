package config

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Var documents one environment variable: what --help prints. The tests
// hold these lists to what LoadServer and LoadWorker read.
type Var struct {
	Name    string
	Default string // "required" when there is none
	Meaning string
}

// ServerVars are the variables of cmd/server, in README order.
var ServerVars = []Var{
	{"DATABASE_URL", "required", "PostgreSQL URL (postgres:// or postgresql://); pgx pool settings such as pool_max_conns go in it"},
	{"REDIS_URL", "required", "Redis URL (redis:// or rediss://)"},
	{"RABBITMQ_URL", "required", "RabbitMQ URL (amqp:// or amqps://)"},
	{"JWT_SECRET", "required", "HS256 secret for access tokens, at least 32 characters, the same on every node; a published or placeholder secret is refused"},
	{"JWT_PREVIOUS_SECRET", "", "during a rotation, the old key: tokens it signed (JWT kid) are still accepted"},
	{"HTTP_ADDR", ":8080", "listen address (REST, WebSocket, /healthz, /readyz)"},
	{"METRICS_ADDR", "", "serves /metrics on this separate address (for example :9100); unset: no metrics"},
	{"HTTP_READ_TIMEOUT", "30s", "bound of reading a request, headers and body (1s-10m)"},
	{"HTTP_WRITE_TIMEOUT", "120s", "bound of writing an answer (1s-1h); WebSockets clear both at the upgrade"},
	{"HTTP_IDLE_TIMEOUT", "90s", "an idle keep-alive connection is closed after this (1s-1h)"},
	{"ALLOWED_ORIGINS", "", "comma-separated browser origins allowed to open WebSockets and to call the REST API (CORS)"},
	{"NODE_ID", "host name + HTTP_ADDR", "this node's name in logs and in its RabbitMQ connection name"},
	{"SHUTDOWN_TIMEOUT", "25s", "bound of the graceful drain on SIGTERM (1s-10m)"},
	{"ACCESS_TOKEN_TTL", "15m", "access token lifetime (10s-15m)"},
	{"REFRESH_TOKEN_TTL", "720h", "refresh token lifetime (1m-8760h)"},
	{"RATE_LOGIN_PER_IP", "1000", "register, login and refresh requests per minute per client IP"},
	{"RATE_LOGIN_FAILURES_PER_ACCOUNT", "10", "failed logins per minute per email and client IP"},
	{"RATE_LOGIN_FAILURES_PER_IP", "100", "failed logins per minute per client IP, whatever the emails"},
	{"RATE_API_PER_USER", "600", "authenticated API requests per minute per user"},
	{"RATE_WS_HANDSHAKES_PER_USER", "60", "WebSocket handshakes per minute per user, across nodes"},
	{"RATE_WS_HANDSHAKES_PER_IP", "2000", "WebSocket handshakes per minute per client IP, across nodes"},
	{"TRUSTED_PROXIES", "", "comma-separated proxy IPs/CIDRs whose X-Forwarded-For is believed"},
	{"OUTBOX_BATCH_SIZE", "500", "outbox rows the relay publishes per round (1-10000)"},
	{"OUTBOX_POLL_INTERVAL", "500ms", "how often the relay looks at the outbox without a notification (10ms-1m)"},
	{"OUTBOX_RELAYS", "4", "relay workers of the node (1-16); the workers of all nodes share the outbox's 16 partitions"},
	{"DB_MAX_CONNS", "16", "the node's PostgreSQL pool size (2-1000); pool_max_conns in DATABASE_URL wins"},
	{"DB_ANSWER_CONNS", "4", "the answer writer's own PostgreSQL pool (1-64): one connection per group-commit batch in flight"},
	{"ANSWER_BATCH_LINGER", "5ms", "how long a group-commit batch of answers waits for more once its first arrived (0-100ms); longer: fewer, larger commits, a slower ack"},
	{"REGISTRATION", "open", "open: anyone may register a school; closed: register answers 403 (server create-school)"},
	{"RETENTION_MONTHS", "24", "sessions started before the month this many months ago are removed with everything about them (1-1200)"},
	{"AUDIT_RETENTION_MONTHS", "36", "the audit log's own retention in months (1-1200)"},
	{"DEBUG_ADDR", "", "serves net/http/pprof on this separate address; never expose it"},
}

// WorkerVars are the variables of cmd/eventworker.
var WorkerVars = []Var{
	{"DATABASE_URL", "required", "PostgreSQL URL (postgres:// or postgresql://)"},
	{"RABBITMQ_URL", "required", "RabbitMQ URL (amqp:// or amqps://)"},
	{"REDIS_URL", "required", "Redis URL; the worker bumps the reports cache generation after each view refresh"},
	{"WORKER_HTTP_ADDR", ":9090", "probes and metrics"},
	{"WORKER_PREFETCH", "1000", "consumer prefetch window (1-65535)"},
	{"WORKER_BATCH_SIZE", "500", "events stored per transaction (1-10000)"},
	{"WORKER_BATCH_LINGER", "50ms", "how long a started batch waits for more events (1ms-10s)"},
	{"WORKER_CONSUMERS", "2", "consumers of the worker (1-16), each with one batch in flight"},
	{"REFRESH_INTERVAL", "5s", "minimum time between two refreshes of a report view (100ms-1h)"},
	{"REFRESH_MAX_DUTY_PERCENT", "2", "a view refreshes at most this share of the time: after a refresh of d, the next waits d × (100/P − 1) or the interval, the longer (1-100)"},
}

// PrintVars writes vars as an aligned table.
func PrintVars(w io.Writer, vars []Var) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, v := range vars {
		def := v.Default
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Name, def, v.Meaning)
	}
	_ = tw.Flush()
}

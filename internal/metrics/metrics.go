// Package metrics holds the Prometheus collectors of Quizcast, registered on
// a registry owned by the process (no global default registry).
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/quizcast/quizcast/internal/version"
)

// NewRegistry returns a registry with the Go and process collectors and
// quizcast_build_info.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerBuildInfo(r, version.Get())
	return r
}

// HTTP holds the request metrics: REST latency, WebSocket sessions apart
// (a socket lives for minutes and would swamp the latency buckets), and
// rate-limit refusals.
type HTTP struct {
	latency     *prometheus.HistogramVec
	sockets     *prometheus.HistogramVec
	rateLimited *prometheus.CounterVec
}

// CloseCodes are the WebSocket close codes a server sends (docs/protocol.md),
// initialised at start so each series exists before its first socket; 0 is
// a handshake that never upgraded.
var CloseCodes = []int{0, 1000, 1001, 1003, 1007, 1008, 1009, 1011, 4401, 4403}

// NewHTTP registers the HTTP metrics on r.
func NewHTTP(r prometheus.Registerer) *HTTP {
	h := &HTTP{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "quizcast_http_request_duration_seconds",
			Help:    "REST request latency by method, route and status code (WebSocket sessions excluded).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route", "code"}),
		sockets: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "quizcast_ws_session_duration_seconds",
			Help:    "How long a WebSocket stayed open, by the close code the server sent.",
			Buckets: []float64{1, 10, 60, 300, 900, 1800, 3600, 7200},
		}, []string{"close_code"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quizcast_http_rate_limited_total",
			Help: "Requests refused with 429 rate_limited, by route.",
		}, []string{"route"}),
	}
	r.MustRegister(h.latency, h.sockets, h.rateLimited)
	for _, c := range CloseCodes {
		h.sockets.WithLabelValues(strconv.Itoa(c))
	}
	return h
}

// Observe records one REST request; a 429 also counts as a rate-limit
// refusal of its route.
func (h *HTTP) Observe(method, route string, status int, d time.Duration) {
	h.latency.WithLabelValues(method, route, strconv.Itoa(status)).Observe(d.Seconds())
	if status == http.StatusTooManyRequests {
		h.rateLimited.WithLabelValues(route).Inc()
	}
}

// InitRoute creates the rate-limit series of a route at start.
func (h *HTTP) InitRoute(route string) { h.rateLimited.WithLabelValues(route) }

// ObserveSocket records a WebSocket that closed with code after d.
func (h *HTTP) ObserveSocket(code int, d time.Duration) {
	h.sockets.WithLabelValues(strconv.Itoa(code)).Observe(d.Seconds())
}

// PoolStater is what RegisterPool reads: pgxpool.Pool fits.
type PoolStater interface {
	Stat() *pgxpool.Stat
}

// RegisterPool exposes the PostgreSQL pool's gauges.
func RegisterPool(r prometheus.Registerer, p PoolStater) {
	gauge := func(name, help string, f func(*pgxpool.Stat) float64) {
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return f(p.Stat()) }))
	}
	gauge("quizcast_db_pool_total_connections", "Connections in the PostgreSQL pool.", func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) })
	gauge("quizcast_db_pool_acquired_connections", "Connections in use.", func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) })
	gauge("quizcast_db_pool_idle_connections", "Idle connections.", func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) })
	gauge("quizcast_db_pool_max_connections", "Pool size limit.", func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) })
	r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "quizcast_db_pool_acquire_wait_total", Help: "Acquires that had to wait."},
		func() float64 { return float64(p.Stat().EmptyAcquireCount()) }))
}

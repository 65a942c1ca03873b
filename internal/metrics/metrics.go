// Package metrics holds the Prometheus collectors of Quizcast, registered on
// a registry owned by the process (no global default registry).
package metrics

import (
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

// HTTP holds the request metrics.
type HTTP struct {
	latency *prometheus.HistogramVec
}

// NewHTTP registers the HTTP metrics on r.
func NewHTTP(r prometheus.Registerer) *HTTP {
	h := &HTTP{latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "quizcast_http_request_duration_seconds",
		Help:    "HTTP request latency by route and status.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"method", "route", "status"})}
	r.MustRegister(h.latency)
	return h
}

// Observe records one request.
func (h *HTTP) Observe(method, route string, status int, d time.Duration) {
	h.latency.WithLabelValues(method, route, strconv.Itoa(status)).Observe(d.Seconds())
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
	gauge("quizcast_db_pool_total_conns", "Connections in the PostgreSQL pool.", func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) })
	gauge("quizcast_db_pool_acquired_conns", "Connections in use.", func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) })
	gauge("quizcast_db_pool_idle_conns", "Idle connections.", func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) })
	gauge("quizcast_db_pool_max_conns", "Pool size limit.", func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) })
	r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "quizcast_db_pool_acquire_wait_total", Help: "Acquires that had to wait."},
		func() float64 { return float64(p.Stat().EmptyAcquireCount()) }))
}

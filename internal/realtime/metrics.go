package realtime

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the realtime collectors.
type Metrics struct {
	connections  prometheus.Gauge
	hubs         prometheus.Gauge
	broadcasts   prometheus.Counter
	gapFills     prometheus.Counter
	policyCloses prometheus.Counter
	refused      *prometheus.CounterVec
}

// NewMetrics registers the realtime metrics on r.
func NewMetrics(r prometheus.Registerer) *Metrics {
	m := &Metrics{
		connections:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "quizcast_ws_connections", Help: "Open WebSocket connections on this node."}),
		hubs:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "quizcast_ws_sessions", Help: "Sessions with sockets on this node."}),
		broadcasts:   prometheus.NewCounter(prometheus.CounterOpts{Name: "quizcast_ws_broadcasts_total", Help: "Broadcasts delivered to hubs in seq order."}),
		gapFills:     prometheus.NewCounter(prometheus.CounterOpts{Name: "quizcast_ws_gap_fills_total", Help: "Broadcast gaps filled from PostgreSQL."}),
		policyCloses: prometheus.NewCounter(prometheus.CounterOpts{Name: "quizcast_ws_policy_closes_total", Help: "Sockets closed for flooding."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "quizcast_live_refused_total",
			Help: "Commands and answers refused with unavailable because the node was over capacity."}, []string{"kind"}),
	}
	r.MustRegister(m.connections, m.hubs, m.broadcasts, m.gapFills, m.policyCloses, m.refused)
	return m
}

package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quizcast/quizcast/internal/version"
)

// registerBuildInfo exposes quizcast_build_info{version,revision,go_version}
// = 1, so dashboards can tell which build each node runs.
func registerBuildInfo(r prometheus.Registerer, v version.Info) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "quizcast_build_info",
		Help:        "The running build: always 1, the build in the labels.",
		ConstLabels: prometheus.Labels{"version": v.Version, "revision": v.Revision, "go_version": v.GoVersion},
	})
	g.Set(1)
	r.MustRegister(g)
}

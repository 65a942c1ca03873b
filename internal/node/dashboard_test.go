package node_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/quizcast/quizcast/internal/config"
	"github.com/quizcast/quizcast/internal/node"
	"github.com/quizcast/quizcast/internal/rabbitmq"
	"github.com/quizcast/quizcast/internal/testenv"
	"github.com/quizcast/quizcast/internal/worker"
)

var metricName = regexp.MustCompile(`\bquizcast_[a-z0-9_]+`)

// exposed lists the metric names a registry exposes right after start,
// with the _bucket, _count and _sum series of its histograms.
func exposed(t *testing.T, g prometheus.Gatherer, into map[string]bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		into[mf.GetName()] = true
		if mf.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_count", "_sum"} {
				into[mf.GetName()+s] = true
			}
		}
	}
}

// TestDashboardAndAlertsUseExposedMetrics: every quizcast_* metric that a
// query of the Grafana dashboard or an alert rule of k8s/monitoring reads
// is exposed by a freshly started server node or event worker, before any
// traffic (labelled series are initialised at start).
func TestDashboardAndAlertsUseExposedMetrics(t *testing.T) {
	pool, dbURL := testenv.Database(t)
	rdb := testenv.Redis(t)
	cfg := config.Server{DatabaseURL: dbURL, RedisURL: testenv.RedisURL(t), RabbitMQURL: testenv.RabbitMQURL(t),
		JWTSecret: []byte(strings.Repeat("k", 32)), AccessTTL: time.Minute, RefreshTTL: time.Hour,
		LoginIPLimit: 100, LoginAccountLimit: 10, APIUserLimit: 100}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := node.New(cfg, node.Options{}, pool, rdb, log)
	if err != nil {
		t.Fatal(err)
	}
	// The request histogram's series are per route and status code: one
	// probe makes them exist, as the kubelet's first probe does.
	rec := httptest.NewRecorder()
	n.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	names := map[string]bool{}
	exposed(t, n.Registry, names)
	wreg := prometheus.NewRegistry()
	worker.New(config.Worker{DatabaseURL: dbURL, RabbitMQURL: cfg.RabbitMQURL, RedisURL: cfg.RedisURL,
		RefreshInterval: time.Second, Prefetch: 10, BatchSize: 10, BatchLinger: time.Millisecond},
		rabbitmq.DefaultTopology(), pool, rdb, wreg, log)
	exposed(t, wreg, names)
	for _, want := range []string{"quizcast_build_info", "quizcast_view_refresh_failures_total", "quizcast_ws_session_duration_seconds_count",
		"quizcast_answers_total", "quizcast_session_commands_total", "quizcast_http_rate_limited_total"} {
		if !names[want] {
			t.Errorf("%s is not exposed at start", want)
		}
	}

	root := testenv.RepoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "k8s", "monitoring", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	queries := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			for _, m := range metricName.FindAllString(q.Expr, -1) {
				if !names[m] {
					t.Errorf("dashboard panel %q reads %s, which no node or worker exposes", p.Title, m)
				}
			}
		}
	}
	if queries < 10 {
		t.Fatalf("only %d dashboard queries", queries)
	}

	raw, err = os.ReadFile(filepath.Join(root, "k8s", "monitoring", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
					Expr  string `json:"expr"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Spec.Groups {
		for _, r := range g.Rules {
			for _, m := range metricName.FindAllString(r.Expr, -1) {
				if !names[m] {
					t.Errorf("alert %s reads %s, which no node or worker exposes", r.Alert, m)
				}
			}
		}
	}
}

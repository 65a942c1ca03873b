// Package rabbitmqtest helps integration tests of the pipeline: a topology
// of the test's own on the shared RabbitMQ, a private RabbitMQ for tests
// that stop it, and metric readings.
package rabbitmqtest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/quizcast/quizcast/internal/rabbitmq"
	"github.com/quizcast/quizcast/internal/testenv"
)

// Topology returns the production topology renamed for this test alone
// (test binaries of several packages share one RabbitMQ), deleted when the
// test ends.
func Topology(t testing.TB, url string) rabbitmq.Topology {
	t.Helper()
	suffix := ".test." + testenv.RandomID()
	topo := rabbitmq.DefaultTopology()
	topo.Exchange += suffix
	topo.Queue += suffix
	topo.DeadLetterExchange += suffix
	topo.DeadLetterQueue += suffix
	t.Cleanup(func() {
		conn, err := amqp.Dial(url)
		if err != nil {
			return // a private RabbitMQ may be gone already
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			return
		}
		_, _ = ch.QueueDelete(topo.Queue, false, false, false)
		_, _ = ch.QueueDelete(topo.DeadLetterQueue, false, false, false)
		_ = ch.ExchangeDelete(topo.Exchange, false, false)
		_ = ch.ExchangeDelete(topo.DeadLetterExchange, false, false)
	})
	return topo
}

// Metric sums the samples of a counter, or the observations of a histogram,
// named name in reg.
func Metric(t testing.TB, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
		return sum
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// Private is a RabbitMQ of one test's own, started by scripts/services.sh,
// for tests that stop and start it without disturbing the tests of other
// packages running at the same time against the shared one.
type Private struct {
	URL    string
	dir    string
	script string
}

// NewPrivate starts a private RabbitMQ on free ports and stops it when the
// test ends. It skips (fails under CI=true) where the test services are
// not set up.
func NewPrivate(t testing.TB) *Private {
	t.Helper()
	testenv.RabbitMQURL(t) // no test services: skip like every other test
	if _, err := exec.LookPath("rabbitmq-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rabbitmq-server is not installed")
		}
		t.Skip("rabbitmq-server is not installed")
	}
	dir, err := os.MkdirTemp("", "quizcast-rabbit-")
	if err != nil {
		t.Fatal(err)
	}
	// services.sh runs RabbitMQ as the rabbitmq user, which must reach DIR.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	base := freeBase(t)
	// services.sh start-rabbit reads the base port that start would have
	// saved (RabbitMQ listens on base+2, its distribution on base+3).
	if err := os.WriteFile(filepath.Join(dir, "baseport"), []byte(fmt.Sprint(base)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Private{URL: fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", base+2), dir: dir,
		script: filepath.Join(testenv.RepoRoot(t), "scripts", "services.sh")}
	t.Cleanup(func() {
		_ = exec.Command("bash", p.script, "stop-rabbit", p.dir).Run()
		_ = os.RemoveAll(p.dir)
	})
	p.Start(t)
	return p
}

// Start starts the private RabbitMQ and waits until it serves.
func (p *Private) Start(t testing.TB) { p.run(t, "start-rabbit") }

// Stop stops it; what it persisted (durable queues, persistent messages)
// is there again after Start.
func (p *Private) Stop(t testing.TB) { p.run(t, "stop-rabbit") }

func (p *Private) run(t testing.TB, action string) {
	t.Helper()
	if out, err := exec.Command("bash", p.script, action, p.dir).CombinedOutput(); err != nil {
		t.Fatalf("services.sh %s: %v\n%s", action, err, out)
	}
}

// freeBase picks a base port whose RabbitMQ ports (base+2, base+3) are free,
// below the ephemeral range.
func freeBase(t testing.TB) int {
	t.Helper()
	for range 50 {
		base := 26432 + 4*rand.IntN(1000)
		if free(base+2) && free(base+3) {
			return base
		}
	}
	t.Fatal("no free ports for a private RabbitMQ")
	return 0
}

func free(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

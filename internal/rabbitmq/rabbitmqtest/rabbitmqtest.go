// Package rabbitmqtest helps integration tests of the pipeline: a topology
// of the test's own on the shared RabbitMQ, a private RabbitMQ for tests
// that stop it, and metric readings.
package rabbitmqtest

import (
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
	topo := rabbitmq.DefaultTopology().Suffixed(".test." + testenv.RandomID())
	t.Cleanup(func() {
		conn, err := amqp.Dial(url)
		if err != nil {
			return // a private RabbitMQ may be gone already
		}
		defer conn.Close()
		if ch, err := conn.Channel(); err == nil {
			_ = topo.Delete(ch)
		}
	})
	return topo
}

// Channel opens a channel on url with topo declared on it, closed when the
// test ends.
func Channel(t testing.TB, url string, topo rabbitmq.Topology) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := topo.Declare(ch); err != nil {
		t.Fatal(err)
	}
	return ch
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

// Private is a RabbitMQ of one test's own (see testenv.Private).
type Private = testenv.Private

// NewPrivate starts a private RabbitMQ on free ports and stops it when the
// test ends.
func NewPrivate(t testing.TB) *Private {
	t.Helper()
	testenv.RabbitMQURL(t) // no test services: skip like every other test
	return testenv.NewPrivate(t, testenv.PrivateRabbitMQ)
}

package main

import (
	"fmt"
	"math"
	"net/http"
	"slices"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The nodes' own timings (internal/metrics.Live): a command from the call
// into the live service to its broadcast committed and published, an
// answer to its batch committed. Read beside what the load generator
// measures, they tell the server's share of a latency from the share of
// the sockets, the kernel and the load generator's own scheduling.
const (
	commandHistogram = "quizcast_session_command_duration_seconds"
	answerHistogram  = "quizcast_answer_duration_seconds"
)

// buckets is a histogram's cumulative counts by upper bound (seconds),
// summed over the nodes.
type buckets map[float64]float64

// serverTimings is what a pace's window added to the nodes' histograms.
type serverTimings struct {
	next, answer buckets
}

// ServerLatency is the nodes' own p50 and p99, in ms, interpolated within
// their histogram buckets (so as coarse as the buckets: 1, 2, 3, 5, 7.5,
// 10, 15, 20, 30, 50, 75, 100 ms …).
type ServerLatency struct {
	NextP50   float64 `json:"next_p50_ms"`
	NextP99   float64 `json:"next_p99_ms"`
	AnswerP50 float64 `json:"answer_p50_ms"`
	AnswerP99 float64 `json:"answer_p99_ms"`
}

// scrapeTimings reads the command (`next` only) and answer histograms of
// every node's metrics endpoint and sums them.
func scrapeTimings(urls []string) (serverTimings, error) {
	t := serverTimings{next: buckets{}, answer: buckets{}}
	for _, u := range urls {
		resp, err := http.Get(u + "/metrics")
		if err != nil {
			return t, fmt.Errorf("metrics of %s: %w", u, err)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return t, fmt.Errorf("metrics of %s: %w", u, err)
		}
		add(t.next, fams[commandHistogram], "command", "next")
		add(t.answer, fams[answerHistogram], "", "")
	}
	return t, nil
}

// add sums into b the buckets of fam's series whose label name is value
// (every series when name is empty).
func add(b buckets, fam *dto.MetricFamily, name, value string) {
	if fam == nil {
		return
	}
	for _, m := range fam.GetMetric() {
		if name != "" && !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
			return l.GetName() == name && l.GetValue() == value
		}) {
			continue
		}
		h := m.GetHistogram()
		for _, bk := range h.GetBucket() {
			if le := bk.GetUpperBound(); !math.IsInf(le, 1) { // +Inf is the count, below
				b[le] += float64(bk.GetCumulativeCount())
			}
		}
		b[math.Inf(1)] += float64(h.GetSampleCount())
	}
}

// since is what was added to b after before.
func (b buckets) since(before buckets) buckets {
	d := buckets{}
	for le, n := range b {
		d[le] = n - before[le]
	}
	return d
}

// quantile interpolates the q-quantile (0..1) in ms linearly within its
// bucket, as Prometheus' histogram_quantile does; 0 without samples. A
// quantile in the last, unbounded bucket is reported as the highest bound.
func (b buckets) quantile(q float64) float64 {
	bounds := make([]float64, 0, len(b))
	for le := range b {
		bounds = append(bounds, le)
	}
	slices.Sort(bounds)
	total := b[math.Inf(1)]
	if total <= 0 || len(bounds) == 0 {
		return 0
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, le := range bounds {
		n := b[le]
		if n >= rank {
			if math.IsInf(le, 1) {
				return lower * 1000
			}
			if n == below {
				return le * 1000
			}
			return (lower + (le-lower)*(rank-below)/(n-below)) * 1000
		}
		lower, below = le, n
	}
	return lower * 1000
}

// latency is the window's p50 and p99 of both histograms.
func (t serverTimings) since(before serverTimings) *ServerLatency {
	next, answer := t.next.since(before.next), t.answer.since(before.answer)
	return &ServerLatency{NextP50: next.quantile(.5), NextP99: next.quantile(.99),
		AnswerP50: answer.quantile(.5), AnswerP99: answer.quantile(.99)}
}

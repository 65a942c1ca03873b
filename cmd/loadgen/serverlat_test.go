package main

import (
	"math"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestQuantileInterpolatesWithinTheBucket(t *testing.T) {
	// 100 samples: 50 up to 1 ms, 40 in (1, 2] ms, 9 in (2, 5] ms, 1 above.
	b := buckets{.001: 50, .002: 90, .005: 99, math.Inf(1): 100}
	for _, c := range []struct{ q, want float64 }{
		{.5, 1},      // the 50th sample is the last of the first bucket
		{.7, 1.5},    // the 70th: halfway through (1, 2]
		{.99, 5},     // the 99th: the end of (2, 5]
		{.995, 5},    // past the last bound: the highest bound
		{.25, 0.5},   // within the first bucket, from 0
		{.94, 3.333}, // (94−90)/9 of (2, 5]
	} {
		if got := b.quantile(c.q); math.Abs(got-c.want) > 0.001 {
			t.Errorf("quantile(%v) = %.3f ms, want %.3f", c.q, got, c.want)
		}
	}
	if got := (buckets{}).quantile(.99); got != 0 {
		t.Errorf("no samples: %v, want 0", got)
	}
}

func TestServerTimingsTakeNextAndTheWindow(t *testing.T) {
	parse := func(text string) serverTimings {
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		st := serverTimings{next: buckets{}, answer: buckets{}}
		add(st.next, fams[commandHistogram], "command", "next")
		add(st.answer, fams[answerHistogram], "", "")
		return st
	}
	const before = `# TYPE quizcast_session_command_duration_seconds histogram
quizcast_session_command_duration_seconds_bucket{command="next",le="0.005"} 10
quizcast_session_command_duration_seconds_bucket{command="next",le="0.01"} 10
quizcast_session_command_duration_seconds_bucket{command="next",le="+Inf"} 10
quizcast_session_command_duration_seconds_sum{command="next"} 0.02
quizcast_session_command_duration_seconds_count{command="next"} 10
quizcast_session_command_duration_seconds_bucket{command="end",le="0.005"} 0
quizcast_session_command_duration_seconds_bucket{command="end",le="0.01"} 0
quizcast_session_command_duration_seconds_bucket{command="end",le="+Inf"} 5
quizcast_session_command_duration_seconds_sum{command="end"} 50
quizcast_session_command_duration_seconds_count{command="end"} 5
# TYPE quizcast_answer_duration_seconds histogram
quizcast_answer_duration_seconds_bucket{le="0.005"} 0
quizcast_answer_duration_seconds_bucket{le="0.01"} 0
quizcast_answer_duration_seconds_bucket{le="+Inf"} 0
quizcast_answer_duration_seconds_sum 0
quizcast_answer_duration_seconds_count 0
`
	// The window adds 10 `next`s in (5, 10] ms and 4 answers up to 5 ms.
	after := strings.NewReplacer(
		`{command="next",le="0.01"} 10`, `{command="next",le="0.01"} 20`,
		`{command="next",le="+Inf"} 10`, `{command="next",le="+Inf"} 20`,
		`command_duration_seconds_count{command="next"} 10`, `command_duration_seconds_count{command="next"} 20`,
		`answer_duration_seconds_bucket{le="0.005"} 0`, `answer_duration_seconds_bucket{le="0.005"} 4`,
		`answer_duration_seconds_bucket{le="0.01"} 0`, `answer_duration_seconds_bucket{le="0.01"} 4`,
		`answer_duration_seconds_bucket{le="+Inf"} 0`, `answer_duration_seconds_bucket{le="+Inf"} 4`,
		`answer_duration_seconds_count 0`, `answer_duration_seconds_count 4`,
	).Replace(before)
	got := parse(after).since(parse(before))
	if got.NextP50 != 7.5 || got.NextP99 < 9.9 || got.NextP99 > 10 {
		t.Errorf("next p50 %.2f p99 %.2f ms, want 7.5 and ≈ 10 (the window's, without `end`)", got.NextP50, got.NextP99)
	}
	if got.AnswerP50 != 2.5 || got.AnswerP99 < 4.9 || got.AnswerP99 > 5 {
		t.Errorf("answer p50 %.2f p99 %.2f ms, want 2.5 and ≈ 5", got.AnswerP50, got.AnswerP99)
	}
}

package metrics

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Live counts the teachers' commands and the students' answers, over REST
// and WebSocket alike, by outcome, and times them: from the call into the
// live service to its result, so a command's time ends once its broadcast
// is committed and published, an answer's once its batch has committed.
// Time spent waiting for the node's command queue is not in it.
type Live struct {
	commands        *prometheus.CounterVec
	answers         *prometheus.CounterVec
	commandDuration *prometheus.HistogramVec
	answerDuration  prometheus.Histogram
}

// liveBuckets are the command and answer durations' buckets, in seconds:
// fine where the targets are (10–50 ms), coarse past them.
var liveBuckets = []float64{.001, .002, .003, .005, .0075, .01, .015, .02, .03, .05, .075, .1, .15, .25, .5, 1, 2.5, 5}

// Commands are the teacher's session commands.
var Commands = []string{"start", "next", "close", "end", "kick"}

// CommandOutcomes are ok or the error code a command can be refused with;
// anything else counts as "other".
var CommandOutcomes = []string{"ok", "forbidden", "not_found", "conflict", "invalid_message", "unavailable", "other"}

// AnswerOutcomes are accepted, replayed (an identical re-send) and the
// rejection codes of the protocol; anything else counts as "other".
var AnswerOutcomes = []string{"accepted", "replayed", "not_open", "closed", "already_answered", "invalid_choice", "forbidden", "not_found", "other"}

// NewLive registers the live-session counters on r, every series at 0.
func NewLive(r prometheus.Registerer) *Live {
	l := &Live{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quizcast_session_commands_total",
			Help: "Teacher commands, over REST and WebSocket, by command and outcome (ok or the error code).",
		}, []string{"command", "outcome"}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quizcast_answers_total",
			Help: "Answers, over REST and WebSocket, by outcome (accepted, replayed, or the rejection code).",
		}, []string{"outcome"}),
		commandDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "quizcast_session_command_duration_seconds",
			Help:    "Teacher commands, over REST and WebSocket, from the call to the result (committed and published), by command.",
			Buckets: liveBuckets,
		}, []string{"command"}),
		answerDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "quizcast_answer_duration_seconds",
			Help:    "Answers, over REST and WebSocket, from the call to the result (the answer's batch committed, or its refusal).",
			Buckets: liveBuckets,
		}),
	}
	r.MustRegister(l.commands, l.answers, l.commandDuration, l.answerDuration)
	for _, c := range Commands {
		for _, o := range CommandOutcomes {
			l.commands.WithLabelValues(c, o)
		}
		l.commandDuration.WithLabelValues(c)
	}
	for _, o := range AnswerOutcomes {
		l.answers.WithLabelValues(o)
	}
	return l
}

// Command counts one command, which took took.
func (l *Live) Command(command, outcome string, took time.Duration) {
	if !slices.Contains(CommandOutcomes, outcome) {
		outcome = "other"
	}
	l.commands.WithLabelValues(command, outcome).Inc()
	l.commandDuration.WithLabelValues(command).Observe(took.Seconds())
}

// Answer counts one answer, which took took.
func (l *Live) Answer(outcome string, took time.Duration) {
	if !slices.Contains(AnswerOutcomes, outcome) {
		outcome = "other"
	}
	l.answers.WithLabelValues(outcome).Inc()
	l.answerDuration.Observe(took.Seconds())
}

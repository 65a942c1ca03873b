package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// Live counts the teachers' commands and the students' answers, over REST
// and WebSocket alike, by outcome.
type Live struct {
	commands *prometheus.CounterVec
	answers  *prometheus.CounterVec
}

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
	}
	r.MustRegister(l.commands, l.answers)
	for _, c := range Commands {
		for _, o := range CommandOutcomes {
			l.commands.WithLabelValues(c, o)
		}
	}
	for _, o := range AnswerOutcomes {
		l.answers.WithLabelValues(o)
	}
	return l
}

// Command counts one command.
func (l *Live) Command(command, outcome string) {
	if !slices.Contains(CommandOutcomes, outcome) {
		outcome = "other"
	}
	l.commands.WithLabelValues(command, outcome).Inc()
}

// Answer counts one answer.
func (l *Live) Answer(outcome string) {
	if !slices.Contains(AnswerOutcomes, outcome) {
		outcome = "other"
	}
	l.answers.WithLabelValues(outcome).Inc()
}

package node_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/quizcast/quizcast/internal/client"
	"github.com/quizcast/quizcast/internal/node"
	"github.com/quizcast/quizcast/internal/testenv"
	"github.com/quizcast/quizcast/internal/teststack"
)

// TestCommandsAnswersAndClosesAreCounted: commands and answers are counted
// by outcome whether they come over REST or the socket, and a socket's
// life lands in the session histogram under its close code.
func TestCommandsAnswersAndClosesAreCounted(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cl := teststack.Start(t, 1, node.Options{})
	sc := teststack.NewSchool(t, ctx, cl.URL(0), 1, teststack.FiveQuestions())
	sess, err := sc.Teacher.CreateSession(ctx, sc.Quiz.ID, sc.Classroom.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Teacher.Command(ctx, sess.ID, "next"); err == nil {
		t.Fatal("next in the lobby succeeded")
	}
	if _, err := sc.Teacher.Command(ctx, sess.ID, "start"); err != nil {
		t.Fatal(err)
	}
	s := teststack.Dial(t, ctx, cl.URL(0), sc.Students[0].Token, sess.ID, client.DialOptions{})
	teststack.Expect(t, ctx, s, "welcome")
	snap, err := sc.Teacher.Command(ctx, sess.ID, "next")
	if err != nil {
		t.Fatal(err)
	}
	q := sc.Quiz.Questions[0]
	answer := map[string]any{"question_id": snap.CurrentQuestion.ID, "choices": []string{q.Options[1].ID}}
	if err := s.Send(ctx, "answer", "a1", answer); err != nil {
		t.Fatal(err)
	}
	teststack.Expect(t, ctx, s, "answer.accepted")
	// The same over REST: a replay.
	rest := client.New(cl.URL(0)).With(sc.Students[0].Token)
	if status, err := rest.Do(ctx, http.MethodPost, "/api/v1/sessions/"+sess.ID+"/answers", answer, nil); err != nil || status != http.StatusOK {
		t.Fatalf("REST replay: %d %v", status, err)
	}
	if _, err := sc.Teacher.Command(ctx, sess.ID, "end"); err != nil {
		t.Fatal(err)
	}
	teststack.Expect(t, ctx, s, "session.ended")

	reg := cl.Nodes[0].Node.Registry
	count := func(name string, labels ...string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		metric:
			for _, m := range mf.GetMetric() {
				have := map[string]string{}
				for _, l := range m.GetLabel() {
					have[l.GetName()] = l.GetValue()
				}
				for i := 0; i+1 < len(labels); i += 2 {
					if have[labels[i]] != labels[i+1] {
						continue metric
					}
				}
				if h := m.GetHistogram(); h != nil {
					return float64(h.GetSampleCount())
				}
				return m.GetCounter().GetValue()
			}
		}
		return -1
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"quizcast_session_commands_total", []string{"command", "next", "outcome", "conflict"}, 1},
		{"quizcast_session_commands_total", []string{"command", "start", "outcome", "ok"}, 1},
		{"quizcast_session_commands_total", []string{"command", "next", "outcome", "ok"}, 1},
		{"quizcast_session_commands_total", []string{"command", "end", "outcome", "ok"}, 1},
		{"quizcast_answers_total", []string{"outcome", "accepted"}, 1},
		{"quizcast_answers_total", []string{"outcome", "replayed"}, 1},
		{"quizcast_answers_total", []string{"outcome", "closed"}, 0},
	} {
		if got := count(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	testenv.Eventually(t, 10*time.Second, "the socket's close counted under 1000", func() bool {
		return count("quizcast_ws_session_duration_seconds", "close_code", "1000") == 1
	})
}

package reports_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quizcast/quizcast/internal/client"
	"github.com/quizcast/quizcast/internal/node"
	"github.com/quizcast/quizcast/internal/rabbitmq/rabbitmqtest"
	"github.com/quizcast/quizcast/internal/reports"
	"github.com/quizcast/quizcast/internal/testenv"
	"github.com/quizcast/quizcast/internal/teststack"
)

// answerRow is an answer as stored, the input of the recomputation.
type answerRow struct {
	student  string
	question string
	idx      int
	choices  []string
	correct  *bool
	points   int
	ms       int
}

// TestReportsOfALiveSession runs a live session through two nodes, lets the
// outbox, RabbitMQ and the worker carry its events, and checks every event
// stored once and each report's figures against the answers recomputed
// here.
func TestReportsOfALiveSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	rabbitURL := testenv.RabbitMQURL(t)
	topo := rabbitmqtest.Topology(t, rabbitURL)
	cl := teststack.Start(t, 2, node.Options{Topology: topo})
	teststack.StartWorker(t, cl, topo, 200*time.Millisecond)
	sc := teststack.NewSchool(t, ctx, cl.URL(0), 8, teststack.FiveQuestions())

	sess, err := sc.Teacher.CreateSession(ctx, sc.Quiz.ID, sc.Classroom.ID)
	if err != nil {
		t.Fatal(err)
	}
	socks := make([]*client.Socket, len(sc.Students))
	for i, st := range sc.Students {
		socks[i] = teststack.Dial(t, ctx, cl.URL(i%2), st.Token, sess.ID, client.DialOptions{})
		teststack.Expect(t, ctx, socks[i], "welcome")
	}
	if _, err := sc.Teacher.Command(ctx, sess.ID, "start"); err != nil {
		t.Fatal(err)
	}
	var board json.RawMessage
	for qi, q := range sc.Quiz.Questions {
		if _, err := sc.Teacher.Command(ctx, sess.ID, "next"); err != nil {
			t.Fatal(err)
		}
		for i, s := range socks {
			teststack.Expect(t, ctx, s, "question.opened")
			if i == 7 && qi == 2 {
				continue // one student skips a question: not complete
			}
			// A pattern of right and wrong answers that varies by student.
			choice := q.Correct
			if (i+qi)%3 == 0 || q.Kind == "poll" {
				choice = []int{(i + 1) % len(q.Options)}
				if q.Kind != "poll" && slices.Equal(choice, q.Correct) {
					choice = []int{(i + 2) % len(q.Options)}
				}
			}
			var ids []string
			for _, o := range choice {
				ids = append(ids, q.Options[o].ID)
			}
			time.Sleep(time.Duration(i) * 3 * time.Millisecond) // spread the response times
			if err := s.Send(ctx, "answer", "a", map[string]any{"question_id": q.ID, "choices": ids}); err != nil {
				t.Fatal(err)
			}
			teststack.Expect(t, ctx, s, "answer.accepted")
		}
		if _, err := sc.Teacher.Command(ctx, sess.ID, "close"); err != nil {
			t.Fatal(err)
		}
		board = teststack.Expect(t, ctx, socks[0], "leaderboard").Data
	}
	if _, err := sc.Teacher.Command(ctx, sess.ID, "end"); err != nil {
		t.Fatal(err)
	}
	var endedAt time.Time
	if err := cl.Pool.QueryRow(ctx, `SELECT ended_at FROM sessions WHERE id = $1`, sess.ID).Scan(&endedAt); err != nil {
		t.Fatal(err)
	}

	// The answers as stored.
	var rows []answerRow
	r, err := cl.Pool.Query(ctx, `SELECT student_id, question_id, question_idx, choices, correct, points, response_ms
		FROM answers WHERE session_id = $1`, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var a answerRow
		if err := r.Scan(&a.student, &a.question, &a.idx, &a.choices, &a.correct, &a.points, &a.ms); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, a)
	}
	r.Close()
	if len(rows) != 8*5-1 {
		t.Fatalf("%d answers stored, want 39", len(rows))
	}

	t.Run("every event stored once", func(t *testing.T) {
		want := map[string]int{"session_created": 1, "session_started": 1, "question_displayed": 5,
			"question_closed": 5, "answer_submitted": len(rows), "session_ended": 1, "student_joined": 8}
		testenv.Eventually(t, 3*time.Minute, "the session's events in the events table", func() bool {
			got := map[string]int{}
			rs, err := cl.Pool.Query(ctx, `SELECT name, count(*), count(DISTINCT event_id) FROM events WHERE session_id = $1 GROUP BY name`, sess.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer rs.Close()
			for rs.Next() {
				var name string
				var n, distinct int
				if err := rs.Scan(&name, &n, &distinct); err != nil {
					t.Fatal(err)
				}
				if n != distinct {
					t.Fatalf("%s stored %d times for %d events", name, n, distinct)
				}
				got[name] = n
			}
			for k, v := range want {
				if got[k] != v {
					return false
				}
			}
			return true
		})
		var answerEvents int
		if err := cl.Pool.QueryRow(ctx, `SELECT count(*) FROM events e JOIN answers a ON a.id = (e.data->>'answer_id')::uuid
			WHERE e.session_id = $1 AND e.name = 'answer_submitted'`, sess.ID).Scan(&answerEvents); err != nil || answerEvents != len(rows) {
			t.Fatalf("answer events matching answers: %d (%v), want %d", answerEvents, err, len(rows))
		}
	})

	get := func(t *testing.T, path string, out any) {
		t.Helper()
		if _, err := sc.Teacher.Do(ctx, http.MethodGet, path, nil, out); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	// The views are refreshed after the session's end.
	testenv.Eventually(t, 3*time.Minute, "as_of past the end of the session", func() bool {
		var rep struct {
			AsOf time.Time `json:"as_of"`
		}
		get(t, "/api/v1/reports/sessions/"+sess.ID, &rep)
		return rep.AsOf.After(endedAt)
	})

	questions := map[string]client.Question{}
	for _, q := range sc.Quiz.Questions {
		questions[q.ID] = q
	}
	type stat struct {
		QuestionID       string         `json:"question_id"`
		Attempts         int            `json:"attempts"`
		PCorrect         *float64       `json:"p_correct"`
		Discrimination   *float64       `json:"discrimination"`
		AvgResponseMS    *float64       `json:"avg_response_ms"`
		Distribution     map[string]int `json:"distribution"`
		TopWrongOptionID *string        `json:"top_wrong_option_id"`
	}
	t.Run("session report", func(t *testing.T) {
		var rep struct {
			Participants int    `json:"participants"`
			Questions    []stat `json:"questions"`
			Leaderboard  []struct {
				UserID string `json:"user_id"`
				Score  int    `json:"score"`
				Rank   int    `json:"rank"`
			} `json:"leaderboard"`
		}
		get(t, "/api/v1/reports/sessions/"+sess.ID, &rep)
		if rep.Participants != 8 {
			t.Fatalf("participants %d, want 8", rep.Participants)
		}
		if len(rep.Questions) != 5 {
			t.Fatalf("%d questions", len(rep.Questions))
		}
		for _, st := range rep.Questions {
			checkStat(t, st.QuestionID, questions[st.QuestionID], rows, stat2{st.Attempts, st.PCorrect, st.Discrimination, st.AvgResponseMS, st.Distribution, st.TopWrongOptionID})
		}
		// The leaderboard matches the live one broadcast at the last close.
		var live struct {
			Top []struct {
				UserID string `json:"user_id"`
				Score  int    `json:"score"`
				Rank   int    `json:"rank"`
			} `json:"top"`
		}
		if err := json.Unmarshal(board, &live); err != nil {
			t.Fatal(err)
		}
		if len(rep.Leaderboard) < len(live.Top) {
			t.Fatalf("report leaderboard %d entries, live %d", len(rep.Leaderboard), len(live.Top))
		}
		for i, e := range live.Top {
			if rep.Leaderboard[i].Score != e.Score || rep.Leaderboard[i].Rank != e.Rank {
				t.Fatalf("leaderboard[%d]: report %+v, live %+v", i, rep.Leaderboard[i], e)
			}
		}
	})
	t.Run("student performance", func(t *testing.T) {
		for _, st := range sc.Students {
			var rep struct {
				Answered      int      `json:"answered"`
				Correct       int      `json:"correct"`
				Accuracy      *float64 `json:"accuracy"`
				AvgResponseMS *float64 `json:"avg_response_ms"`
				Points        int      `json:"points"`
			}
			get(t, "/api/v1/reports/students/"+st.ID+"/performance", &rep)
			answered, correct, points, ms := 0, 0, 0, 0
			for _, a := range rows {
				if a.student != st.ID || a.correct == nil { // polls are left out
					continue
				}
				answered++
				ms += a.ms
				points += a.points
				if *a.correct {
					correct++
				}
			}
			if rep.Answered != answered || rep.Correct != correct || rep.Points != points {
				t.Fatalf("student %s: got %d/%d/%d points, want %d/%d/%d", st.Name, rep.Answered, rep.Correct, rep.Points, answered, correct, points)
			}
			near(t, "accuracy", rep.Accuracy, float64(correct)/float64(answered))
			near(t, "avg_response_ms", rep.AvgResponseMS, float64(ms)/float64(answered))
		}
	})
	t.Run("classroom engagement", func(t *testing.T) {
		var rep struct {
			Enrolled          int      `json:"enrolled"`
			ParticipationRate *float64 `json:"participation_rate"`
			CompletionRate    *float64 `json:"completion_rate"`
			Sessions          []struct {
				Participants int `json:"participants"`
			} `json:"sessions"`
		}
		get(t, "/api/v1/reports/classrooms/"+sc.Classroom.ID+"/engagement", &rep)
		perStudent := map[string]int{}
		for _, a := range rows {
			perStudent[a.student]++
		}
		complete := 0
		for _, n := range perStudent {
			if n == 5 {
				complete++
			}
		}
		if rep.Enrolled != 8 || len(rep.Sessions) != 1 || rep.Sessions[0].Participants != len(perStudent) {
			t.Fatalf("engagement: %+v", rep)
		}
		near(t, "participation_rate", rep.ParticipationRate, float64(len(perStudent))/8)
		near(t, "completion_rate", rep.CompletionRate, float64(complete)/float64(len(perStudent)))
	})
	t.Run("quiz effectiveness", func(t *testing.T) {
		var rep struct {
			Sessions  int    `json:"sessions"`
			Questions []stat `json:"questions"`
		}
		get(t, "/api/v1/reports/quizzes/"+sc.Quiz.ID+"/effectiveness", &rep)
		if rep.Sessions != 1 || len(rep.Questions) != 5 {
			t.Fatalf("effectiveness: %d sessions, %d questions", rep.Sessions, len(rep.Questions))
		}
		for _, st := range rep.Questions {
			checkStat(t, st.QuestionID, questions[st.QuestionID], rows, stat2{st.Attempts, st.PCorrect, st.Discrimination, st.AvgResponseMS, st.Distribution, st.TopWrongOptionID})
		}
	})
	t.Run("rolled up, every report is unchanged", func(t *testing.T) {
		// Each stage asks with its own (equivalent) from, so no answer comes
		// from the cache of an earlier stage.
		stage := 0
		reportsNow := func() map[string]string {
			stage++
			from := "?from=" + time.Date(2000, 1, 1, 0, 0, stage, 0, time.UTC).Format(time.RFC3339)
			paths := []string{"/api/v1/reports/sessions/" + sess.ID, "/api/v1/reports/classrooms/" + sc.Classroom.ID + "/engagement",
				"/api/v1/reports/quizzes/" + sc.Quiz.ID + "/effectiveness"}
			for _, st := range sc.Students {
				paths = append(paths, "/api/v1/reports/students/"+st.ID+"/performance")
			}
			out := map[string]string{}
			for _, p := range paths {
				var m map[string]any
				get(t, p+from, &m)
				delete(m, "as_of")
				raw, _ := json.Marshal(m)
				out[p] = string(raw)
			}
			return out
		}
		same := func(what string, want map[string]string) {
			t.Helper()
			got := reportsNow()
			for p, v := range want {
				if got[p] != v {
					t.Fatalf("%s: %s changed:\nbefore %s\nafter  %s", what, p, v, got[p])
				}
			}
		}
		historyRows := func() (n int) {
			if err := cl.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM report_student_sessions_history WHERE session_id = $1)
				+ (SELECT count(*) FROM report_classroom_sessions_history WHERE session_id = $1)
				+ (SELECT count(*) FROM report_question_stats_history WHERE session_id = $1)`, sess.ID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		want := reportsNow()
		// The worker rolls the session up a minute after its end; do it now
		// (whichever comes first does it, the other finds nothing).
		if _, err := reports.RollUpEnded(ctx, cl.Pool, time.Now()); err != nil {
			t.Fatal(err)
		}
		rows := historyRows()
		if rows != 8+1+5 { // a row per student who answered, per session, per question
			t.Fatalf("%d history rows of the session, want 14", rows)
		}
		same("rolled up, views not refreshed yet", want)
		refresher := reports.NewRefresher(cl.Pool, nil, prometheus.NewRegistry(), teststack.Logger(), reports.RefresherConfig{})
		for _, v := range reports.Views() {
			if err := refresher.Refresh(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		var inViews int
		if err := cl.Pool.QueryRow(ctx, `SELECT count(*) FROM report_classroom_sessions WHERE session_id = $1`, sess.ID).Scan(&inViews); err != nil || inViews != 0 {
			t.Fatalf("the rolled-up session is still in the views (%d rows, %v)", inViews, err)
		}
		same("rolled up, views refreshed", want)
		// Rolled up twice: counted once.
		if n, err := reports.Reconcile(ctx, cl.Pool, endedAt.Add(-time.Second), time.Now()); err != nil || n != 1 {
			t.Fatalf("reconciled %d sessions (%v), want 1", n, err)
		}
		if got := historyRows(); got != rows {
			t.Fatalf("%d history rows after rolling up twice, want %d", got, rows)
		}
		same("rolled up twice", want)
	})
	t.Run("a student sees only their own performance", func(t *testing.T) {
		me := client.New(cl.URL(1)).With(sc.Students[0].Token)
		if _, err := me.Do(ctx, http.MethodGet, "/api/v1/reports/students/"+sc.Students[0].ID+"/performance", nil, nil); err != nil {
			t.Fatalf("own report: %v", err)
		}
		_, err := me.Do(ctx, http.MethodGet, "/api/v1/reports/students/"+sc.Students[1].ID+"/performance", nil, nil)
		if e, ok := err.(*client.Error); !ok || (e.Status != 403 && e.Status != 404) {
			t.Fatalf("another student's report: %v, want 403/404", err)
		}
	})
}

type stat2 struct {
	attempts       int
	pCorrect       *float64
	discrimination *float64
	avgMS          *float64
	distribution   map[string]int
	topWrong       *string
}

// checkStat recomputes a question's item statistics from the answers.
func checkStat(t *testing.T, qid string, q client.Question, rows []answerRow, got stat2) {
	t.Helper()
	total := map[string]int{} // student → session score
	for _, a := range rows {
		total[a.student] += a.points
	}
	var xs, ys []float64
	attempts, correct, ms := 0, 0, 0
	dist := map[string]int{}
	wrong := map[string]int{}
	correctIDs := map[string]bool{}
	for _, o := range q.Correct {
		correctIDs[q.Options[o].ID] = true
	}
	for _, a := range rows {
		if a.question != qid {
			continue
		}
		attempts++
		ms += a.ms
		for _, c := range a.choices {
			dist[c]++
			if a.correct != nil && !*a.correct && !correctIDs[c] {
				wrong[c]++
			}
		}
		if a.correct != nil {
			x := 0.0
			if *a.correct {
				correct++
				x = 1
			}
			xs = append(xs, x)
			ys = append(ys, float64(total[a.student]-a.points))
		}
	}
	if got.attempts != attempts {
		t.Fatalf("question %s: attempts %d, want %d", qid, got.attempts, attempts)
	}
	for id, n := range dist {
		if got.distribution[id] != n {
			t.Fatalf("question %s: distribution %v, want %v", qid, got.distribution, dist)
		}
	}
	near(t, "avg_response_ms", got.avgMS, float64(ms)/float64(attempts))
	if q.Kind == "poll" {
		if got.pCorrect != nil || got.discrimination != nil {
			t.Fatalf("poll has p_correct %v discrimination %v", got.pCorrect, got.discrimination)
		}
		return
	}
	near(t, "p_correct", got.pCorrect, float64(correct)/float64(attempts))
	if r, ok := pearson(xs, ys); ok && len(xs) >= 5 {
		near(t, "discrimination", got.discrimination, r)
	} else if got.discrimination != nil {
		t.Fatalf("discrimination %v, want null", *got.discrimination)
	}
	var top []string
	best := 0
	for id, n := range wrong {
		switch {
		case n > best:
			best, top = n, []string{id}
		case n == best:
			top = append(top, id)
		}
	}
	sort.Strings(top)
	switch {
	case len(top) == 0 && got.topWrong != nil:
		t.Fatalf("top wrong option %v, want null", *got.topWrong)
	case len(top) > 0 && (got.topWrong == nil || !slices.Contains(top, *got.topWrong)):
		t.Fatalf("top wrong option %v, want one of %v", got.topWrong, top)
	}
}

// pearson is the correlation of x and y; the point-biserial correlation
// when x is 0/1. ok is false when either does not vary.
func pearson(x, y []float64) (float64, bool) {
	n := float64(len(x))
	var sx, sy, sxx, syy, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		syy += y[i] * y[i]
		sxy += x[i] * y[i]
	}
	vx, vy := n*sxx-sx*sx, n*syy-sy*sy
	if vx <= 0 || vy <= 0 {
		return 0, false
	}
	return (n*sxy - sx*sy) / math.Sqrt(vx*vy), true
}

func near(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s is null, want %v", what, want)
	}
	// avg_response_ms may be rounded to whole milliseconds.
	if math.Abs(*got-want) > 1e-6 && !(what == "avg_response_ms" && math.Abs(*got-want) <= 0.5) {
		t.Fatalf("%s = %v, want %v", what, *got, want)
	}
}

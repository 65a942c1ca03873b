package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/quizcast/quizcast/internal/client"
	"github.com/quizcast/quizcast/internal/live"
	"github.com/quizcast/quizcast/internal/node"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/realtime"
	"github.com/quizcast/quizcast/internal/teststack"
)

func quickQuiz(n, limit int) client.Quiz {
	q := client.Quiz{Title: "Quick"}
	for range n {
		q.Questions = append(q.Questions, client.Question{Text: "Pick A", Kind: "single",
			Options: []client.Option{{Text: "A"}, {Text: "B"}}, Correct: []int{0}, TimeLimitS: limit})
	}
	return q
}

func welcomeOf(t *testing.T, f client.Frame) (recovered bool, missed int, seq int64) {
	t.Helper()
	var w struct {
		Session struct {
			Seq int64 `json:"seq"`
		} `json:"session"`
		Recovered bool `json:"recovered"`
		Missed    int  `json:"missed"`
	}
	if f.Type != "welcome" {
		t.Fatalf("first frame is %s, want welcome", f.Type)
	}
	if err := json.Unmarshal(f.Data, &w); err != nil {
		t.Fatal(err)
	}
	return w.Recovered, w.Missed, w.Session.Seq
}

func next(t *testing.T, ctx context.Context, s *client.Socket) client.Frame {
	t.Helper()
	f, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("next frame: %v", err)
	}
	return f
}

func command(t *testing.T, ctx context.Context, c *client.Client, sessionID string, cmds ...string) {
	t.Helper()
	for _, cmd := range cmds {
		if _, err := c.Command(ctx, sessionID, cmd); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
}

func TestResume(t *testing.T) {
	ctx, cl, sc, sess := liveSession(t, 2, node.Options{HistoryLen: 3}, 1, quickQuiz(3, 60))
	tok := sc.Students[0].Token
	s := teststack.Dial(t, ctx, cl.URL(1), tok, sess.ID, client.DialOptions{})
	if rec, _, seq := welcomeOf(t, next(t, ctx, s)); rec || seq != 0 {
		t.Fatalf("fresh join: recovered=%v seq=%d", rec, seq)
	}
	s.Close()

	command(t, ctx, sc.Teacher, sess.ID, "start", "next") // seq 1, 2
	t.Run("recovered", func(t *testing.T) {
		zero := int64(0)
		s := teststack.Dial(t, ctx, cl.URL(0), tok, sess.ID, client.DialOptions{LastSeq: &zero})
		rec, missed, seq := welcomeOf(t, next(t, ctx, s))
		if !rec || missed != 2 || seq != 2 {
			t.Fatalf("recovered=%v missed=%d seq=%d, want true 2 2", rec, missed, seq)
		}
		for want := int64(1); want <= 2; want++ {
			if f := next(t, ctx, s); f.Seq != want {
				t.Fatalf("replayed seq %d (%s), want %d", f.Seq, f.Type, want)
			}
		}
		s.Close()
	})
	t.Run("at the current seq", func(t *testing.T) {
		two := int64(2)
		s := teststack.Dial(t, ctx, cl.URL(1), tok, sess.ID, client.DialOptions{LastSeq: &two})
		if rec, missed, _ := welcomeOf(t, next(t, ctx, s)); !rec || missed != 0 {
			t.Fatalf("recovered=%v missed=%d, want true 0", rec, missed)
		}
		s.Close()
	})
	command(t, ctx, sc.Teacher, sess.ID, "close", "next", "close") // seq 3..7; history keeps 5..7
	t.Run("history no longer covers it", func(t *testing.T) {
		two := int64(2)
		s := teststack.Dial(t, ctx, cl.URL(1), tok, sess.ID, client.DialOptions{LastSeq: &two})
		rec, missed, seq := welcomeOf(t, next(t, ctx, s))
		if rec || missed != 0 || seq != 7 {
			t.Fatalf("recovered=%v missed=%d seq=%d, want false 0 7", rec, missed, seq)
		}
	})
}

// TestDeadlineClosesWithoutTheOpeningNode: the question opens on node A,
// node A dies, and node B still closes it at its deadline.
func TestDeadlineClosesWithoutTheOpeningNode(t *testing.T) {
	ctx, cl, sc, sess := liveSession(t, 2, node.Options{}, 1, quickQuiz(1, 5))
	s := teststack.Dial(t, ctx, cl.URL(1), sc.Students[0].Token, sess.ID, client.DialOptions{})
	next(t, ctx, s)
	command(t, ctx, sc.Teacher, sess.ID, "start", "next")
	opened := teststack.Expect(t, ctx, s, "question.opened")
	cl.Nodes[0].Stop()
	closed := teststack.Expect(t, ctx, s, "question.closed")
	var o struct {
		Deadline time.Time `json:"deadline"`
	}
	_ = json.Unmarshal(opened.Data, &o)
	if closed.At.Before(o.Deadline) {
		t.Fatalf("closed at %v, before the deadline %v", closed.At, o.Deadline)
	}
	var closedAt time.Time
	if err := cl.Pool.QueryRow(ctx, `SELECT closed_at FROM session_questions WHERE session_id = $1`, sess.ID).Scan(&closedAt); err != nil {
		t.Fatal(err)
	}
	if closedAt.Before(o.Deadline) {
		t.Fatalf("closed_at %v before deadline %v", closedAt, o.Deadline)
	}
}

func TestAnswerRules(t *testing.T) {
	ctx, cl, sc, sess := liveSession(t, 2, node.Options{}, 2, quickQuiz(2, 60))
	q0, q1 := sc.Quiz.Questions[0], sc.Quiz.Questions[1]
	s := teststack.Dial(t, ctx, cl.URL(1), sc.Students[0].Token, sess.ID, client.DialOptions{})
	next(t, ctx, s)
	answer := func(id string, q client.Question, opts ...int) client.Frame {
		t.Helper()
		var ids []string
		for _, o := range opts {
			ids = append(ids, q.Options[o].ID)
		}
		if err := s.Send(ctx, "answer", id, map[string]any{"question_id": q.ID, "choices": ids}); err != nil {
			t.Fatal(err)
		}
		for {
			f := next(t, ctx, s)
			if f.ID == id {
				return f
			}
		}
	}
	code := func(f client.Frame) string {
		var r struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(f.Data, &r)
		return f.Type + ":" + r.Code
	}
	command(t, ctx, sc.Teacher, sess.ID, "start", "next")
	if got := code(answer("early", q1, 0)); got != "answer.rejected:not_open" {
		t.Fatalf("answer to an unopened question: %s", got)
	}
	if got := code(answer("two", q0, 0, 1)); got != "answer.rejected:invalid_choice" {
		t.Fatalf("two choices for single: %s", got)
	}
	first := answer("a", q0, 0)
	if first.Type != "answer.accepted" {
		t.Fatalf("first answer: %s %s", first.Type, first.Data)
	}
	again := answer("b", q0, 0)
	if again.Type != "answer.accepted" || string(again.Data) != string(first.Data) {
		t.Fatalf("identical re-send: %s %s, want %s", again.Type, again.Data, first.Data)
	}
	if got := code(answer("c", q0, 1)); got != "answer.rejected:already_answered" {
		t.Fatalf("different re-send: %s", got)
	}

	// REST: the same rules; 201 first, 200 with the same body on re-send.
	rest := client.New(cl.URL(0)).With(sc.Students[1].Token)
	body := map[string]any{"question_id": q0.ID, "choices": []string{q0.Options[1].ID}}
	var r1, r2 map[string]any
	if st, err := rest.Do(ctx, http.MethodPost, "/api/v1/sessions/"+sess.ID+"/answers", body, &r1); err != nil || st != 201 {
		t.Fatalf("REST answer: %d %v", st, err)
	}
	if st, err := rest.Do(ctx, http.MethodPost, "/api/v1/sessions/"+sess.ID+"/answers", body, &r2); err != nil || st != 200 || r1["answer_id"] != r2["answer_id"] {
		t.Fatalf("REST re-send: %d %v %v %v", st, err, r1, r2)
	}
	other := map[string]any{"question_id": q0.ID, "choices": []string{q0.Options[0].ID}}
	if _, err := rest.Do(ctx, http.MethodPost, "/api/v1/sessions/"+sess.ID+"/answers", other, nil); err == nil || err.(*client.Error).Status != 409 || err.(*client.Error).Code != "already_answered" {
		t.Fatalf("REST different re-send: %v", err)
	}

	command(t, ctx, sc.Teacher, sess.ID, "close")
	// After the close: a late answer is refused, the identical re-send of an
	// accepted one still returns the original.
	if again := answer("d", q0, 0); again.Type != "answer.accepted" || string(again.Data) != string(first.Data) {
		t.Fatalf("re-send after close: %s %s", again.Type, again.Data)
	}
	command(t, ctx, sc.Teacher, sess.ID, "next", "close")
	if got := code(answer("late", q1, 0)); got != "answer.rejected:closed" {
		t.Fatalf("late answer: %s", got)
	}
	var n int
	if err := cl.Pool.QueryRow(ctx, `SELECT count(*) FROM answers WHERE session_id = $1`, sess.ID).Scan(&n); err != nil || n != 2 {
		t.Fatalf("answers stored: %d %v, want 2", n, err)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	ctx, cl, sc, sess := liveSession(t, 1, node.Options{}, 1, quickQuiz(1, 60))
	// A student of another classroom of the same school.
	other, err := sc.Teacher.CreateClassroom(ctx, "Other")
	if err != nil {
		t.Fatal(err)
	}
	users, err := sc.Teacher.Enrol(ctx, other.ID, []client.NewStudent{{Name: "Outsider", Email: "out-" + sess.ID[:8] + "@school.example.org", Password: teststack.Password}})
	if err != nil {
		t.Fatal(err)
	}
	outsider, err := client.New(cl.URL(0)).Login(ctx, users[0].Email, teststack.Password)
	if err != nil {
		t.Fatal(err)
	}
	stranger := teststack.NewSchool(t, ctx, cl.URL(0), 0, quickQuiz(1, 60))
	ticket := func(token string) string {
		var out struct {
			Ticket string `json:"ticket"`
		}
		if _, err := client.New(cl.URL(0)).With(token).Do(ctx, http.MethodPost, "/api/v1/auth/ws-ticket", nil, &out); err != nil {
			t.Fatal(err)
		}
		return out.Ticket
	}
	goodTicket := ticket(sc.Students[0].Token)
	tests := []struct {
		name   string
		token  string
		opts   client.DialOptions
		status int
	}{
		{"no credentials", "", client.DialOptions{}, 401},
		{"forged token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", client.DialOptions{}, 401},
		{"not enrolled", outsider.AccessToken, client.DialOptions{}, 403},
		{"other school", stranger.Teacher.Token, client.DialOptions{}, 404},
		{"origin not allowed", sc.Students[0].Token, client.DialOptions{Origin: "https://evil.example.com"}, 403},
		{"allowed origin", sc.Students[0].Token, client.DialOptions{Origin: "https://whiteboard.example.org"}, 101},
		{"ticket", "", client.DialOptions{Ticket: goodTicket}, 101},
		{"ticket used twice", "", client.DialOptions{Ticket: goodTicket}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, status, _ := client.New(cl.URL(0)).With(tt.token).Dial(ctx, sess.ID, tt.opts)
			if s != nil {
				s.Close()
			}
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
		})
	}
}

func TestKickRevokeAndAbuse(t *testing.T) {
	ctx, cl, sc, sess := liveSession(t, 2, node.Options{Realtime: realtime.Config{RevocationCheck: 100 * time.Millisecond}}, 7, quickQuiz(1, 60))
	join := func(i int) *client.Socket { return joinStudent(t, ctx, cl, sc, sess, i) }
	waitClose := func(t *testing.T, s *client.Socket, want websocket.StatusCode) { waitClosed(t, ctx, s, want) }

	t.Run("kicked", func(t *testing.T) {
		s := join(0)
		if _, err := sc.Teacher.Do(ctx, http.MethodDelete, "/api/v1/sessions/"+sess.ID+"/participants/"+sc.Students[0].ID, nil, nil); err != nil {
			t.Fatal(err)
		}
		waitClose(t, s, 4403)
		if _, status, _ := client.New(cl.URL(1)).With(sc.Students[0].Token).Dial(ctx, sess.ID, client.DialOptions{}); status != 403 {
			t.Fatalf("rejoin after kick: %d, want 403", status)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		s := join(1)
		if _, err := client.New(cl.URL(0)).With(sc.Students[1].Token).Do(ctx, http.MethodPost, "/api/v1/auth/logout", nil, nil); err != nil {
			t.Fatal(err)
		}
		waitClose(t, s, 4401)
	})
	t.Run("oversized frame", func(t *testing.T) {
		s := join(2)
		_ = s.Send(ctx, "ping", strings.Repeat("x", 17<<10), map[string]any{})
		waitClose(t, s, 1009)
	})
	t.Run("flood", func(t *testing.T) {
		s := join(3)
		for range 40 {
			if err := s.Send(ctx, "ping", "p", map[string]any{}); err != nil {
				break
			}
		}
		waitClose(t, s, 1008)
	})
	t.Run("binary frame", func(t *testing.T) {
		s := join(4)
		_ = s.WS.Write(ctx, websocket.MessageBinary, []byte{1, 2, 3})
		waitClose(t, s, 1003)
	})
	t.Run("bad frames keep the socket open", func(t *testing.T) {
		s := join(5)
		for _, raw := range []string{`{not json`, `{"type":"dance","id":"x1","data":{}}`, `{"type":"answer","id":"x2","data":{"question_id":5}}`, `{"type":"start","id":"x3","data":{}}`} {
			if err := s.WS.Write(ctx, websocket.MessageText, []byte(raw)); err != nil {
				t.Fatal(err)
			}
			f := teststack.Expect(t, ctx, s, "error")
			var e struct {
				Code string `json:"code"`
			}
			_ = json.Unmarshal(f.Data, &e)
			want := "invalid_message"
			if strings.Contains(raw, `"start"`) {
				want = "forbidden"
			}
			if e.Code != want {
				t.Fatalf("%s: error %s, want %s", raw, f.Data, want)
			}
		}
		if err := s.Send(ctx, "ping", "still-there", map[string]any{}); err != nil {
			t.Fatal(err)
		}
		if f := teststack.Expect(t, ctx, s, "pong"); f.ID != "still-there" {
			t.Fatalf("pong id %q", f.ID)
		}
	})
	t.Run("stalled reader does not hold up the room", func(t *testing.T) {
		// One student never reads; the other receives every broadcast.
		u := strings.Replace(cl.URL(0), "http", "ws", 1) + "/api/v1/sessions/" + sess.ID + "/ws"
		stalled, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{
			HTTPHeader: http.Header{"Authorization": {"Bearer " + sc.Students[6].Token}}})
		if err != nil {
			t.Fatal(err)
		}
		defer stalled.CloseNow()
		s := join(5)
		command(t, ctx, sc.Teacher, sess.ID, "start", "next", "close")
		for _, typ := range []string{"session.started", "question.opened", "question.closed", "leaderboard"} {
			teststack.Expect(t, ctx, s, typ)
		}
	})
}

// TestDrainClosesWith1001: a node going away flushes what sockets are owed
// and closes them with 1001, and stops admitting new ones, so clients
// reconnect to another node and resume.
func TestDrainClosesWith1001(t *testing.T) {
	ctx, cl, sc, sess := liveSession(t, 2, node.Options{}, 1, quickQuiz(1, 60))
	s := teststack.Dial(t, ctx, cl.URL(1), sc.Students[0].Token, sess.ID, client.DialOptions{})
	next(t, ctx, s)
	command(t, ctx, sc.Teacher, sess.ID, "start")
	last := teststack.Expect(t, ctx, s, "session.started").Seq
	cl.Nodes[1].Node.Drain(ctx)
	for {
		f, err := s.Next(ctx)
		if err != nil {
			break
		}
		last = max(last, f.Seq)
	}
	if s.CloseStatus() != 1001 {
		t.Fatalf("closed with %v, want 1001", s.CloseStatus())
	}
	if _, status, _ := client.New(cl.URL(1)).With(sc.Students[0].Token).Dial(ctx, sess.ID, client.DialOptions{}); status != 503 {
		t.Fatalf("draining node admitted a socket: %d, want 503", status)
	}
	if st, _ := client.New(cl.URL(1)).Do(ctx, http.MethodGet, "/readyz", nil, nil); st != 503 {
		t.Fatalf("/readyz on a draining node: %d, want 503", st)
	}
	// The client resumes on the other node without losing anything.
	r := teststack.Dial(t, ctx, cl.URL(0), sc.Students[0].Token, sess.ID, client.DialOptions{LastSeq: &last})
	if rec, missed, _ := welcomeOf(t, next(t, ctx, r)); !rec || missed != 0 {
		t.Fatalf("resume after drain: recovered=%v missed=%d", rec, missed)
	}
}

// TestEndWithAnOpenQuestion: ending closes the open question first, and
// every participant still gets its result before the socket closes 1000.
func TestEndWithAnOpenQuestion(t *testing.T) {
	ctx, cl, sc, sess := liveSession(t, 2, node.Options{}, 2, quickQuiz(2, 60))
	var socks []*client.Socket
	for i, st := range sc.Students {
		s := teststack.Dial(t, ctx, cl.URL(i%2), st.Token, sess.ID, client.DialOptions{})
		next(t, ctx, s)
		socks = append(socks, s)
	}
	command(t, ctx, sc.Teacher, sess.ID, "start", "next", "end")
	for i, s := range socks {
		var types []string
		for {
			f, err := s.Next(ctx)
			if err != nil {
				break
			}
			types = append(types, f.Type)
		}
		want := []string{"session.started", "question.opened", "question.closed", "leaderboard", "result", "session.ended"}
		if strings.Join(types, ",") != strings.Join(want, ",") {
			t.Fatalf("student %d got %v, want %v", i, types, want)
		}
		if s.CloseStatus() != 1000 {
			t.Fatalf("student %d closed with %v, want 1000", i, s.CloseStatus())
		}
	}
}

// liveSession starts nodes, a school of students with quiz q, and a
// session in the lobby; the context ends with the test (or after a minute).
func liveSession(t *testing.T, nodes int, opts node.Options, students int, q client.Quiz) (context.Context, *teststack.Cluster, teststack.School, client.Snapshot) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	t.Cleanup(cancel)
	cl := teststack.Start(t, nodes, opts)
	sc := teststack.NewSchool(t, ctx, cl.URL(0), students, q)
	sess, err := sc.Teacher.CreateSession(ctx, sc.Quiz.ID, sc.Classroom.ID)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, cl, sc, sess
}

// TestCommittedButNeverPublished: a command whose publish never happens
// (the publishing node died right after its commit, or Redis refused the
// publish) still reaches every socket, through the hubs' resync with
// PostgreSQL.
func TestCommittedButNeverPublished(t *testing.T) {
	ctx, cl, sc, sess := liveSession(t, 2, node.Options{ResyncInterval: 200 * time.Millisecond}, 1, quickQuiz(1, 60))
	s := teststack.Dial(t, ctx, cl.URL(1), sc.Students[0].Token, sess.ID, client.DialOptions{})
	next(t, ctx, s)
	key := quiz.Session{ID: sess.ID}
	if err := cl.Pool.QueryRow(ctx, `SELECT school_id, created_at FROM sessions WHERE id = $1`, sess.ID).Scan(&key.SchoolID, &key.CreatedAt); err != nil {
		t.Fatal(err)
	}
	// Commit through the store alone: nothing is published.
	store := postgres.NewSessionStore(cl.Pool, nil)
	questions := func(s quiz.Session) ([]quiz.Question, error) {
		return store.Questions(ctx, s.SchoolID, s.QuizID, s.QuizVersion)
	}
	start := live.Decide(questions, quiz.CommandStart, quiz.Actor{UserID: sc.TeacherID, App: quiz.AppWhiteboard}, time.Now().UTC())
	if _, err := store.Command(ctx, key, start); err != nil {
		t.Fatal(err)
	}
	if f := teststack.Expect(t, ctx, s, "session.started"); f.Seq != 1 {
		t.Fatalf("seq %d, want 1", f.Seq)
	}
}

// TestUnenrolClosesSocketsAndRefusesAnswers: a student the teacher removes
// from the classroom over REST on node A loses their socket of the running
// session on node B (4403, like a kick) and their REST answer is refused;
// a classmate keeps playing.
func TestUnenrolClosesSocketsAndRefusesAnswers(t *testing.T) {
	ctx, cl, sc, sess := liveSession(t, 2, node.Options{}, 2, quickQuiz(1, 60))
	gone := teststack.Dial(t, ctx, cl.URL(1), sc.Students[0].Token, sess.ID, client.DialOptions{})
	next(t, ctx, gone)
	stays := teststack.Dial(t, ctx, cl.URL(1), sc.Students[1].Token, sess.ID, client.DialOptions{})
	next(t, ctx, stays)
	command(t, ctx, sc.Teacher, sess.ID, "start", "next")
	teststack.Expect(t, ctx, gone, "question.opened")
	teststack.Expect(t, ctx, stays, "question.opened")

	if _, err := sc.Teacher.Do(ctx, http.MethodDelete, "/api/v1/classrooms/"+sc.Classroom.ID+"/students/"+sc.Students[0].ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := gone.Next(ctx); err != nil {
			if got := gone.CloseStatus(); got != 4403 {
				t.Fatalf("closed with %v (%v), want 4403", got, err)
			}
			break
		}
	}
	q := sc.Quiz.Questions[0]
	body := map[string]any{"question_id": q.ID, "choices": []string{q.Options[0].ID}}
	status, err := client.New(cl.URL(1)).With(sc.Students[0].Token).Do(ctx, http.MethodPost, "/api/v1/sessions/"+sess.ID+"/answers", body, nil)
	var ce *client.Error
	if status != http.StatusForbidden || !errors.As(err, &ce) || ce.Code != "forbidden" {
		t.Fatalf("answer after unenrolment: %d %v, want 403 forbidden", status, err)
	}
	if _, status, _ := client.New(cl.URL(1)).With(sc.Students[0].Token).Dial(ctx, sess.ID, client.DialOptions{}); status != 403 {
		t.Fatalf("rejoin after unenrolment: %d, want 403", status)
	}
	var n int
	if err := cl.Pool.QueryRow(ctx, `SELECT count(*) FROM answers WHERE session_id = $1 AND student_id = $2`, sess.ID, sc.Students[0].ID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("answers of the removed student: %d %v, want 0", n, err)
	}
	// The classmate's socket is still there and answers.
	if err := stays.Send(ctx, "answer", "a1", body); err != nil {
		t.Fatal(err)
	}
	for {
		if f := next(t, ctx, stays); f.ID == "a1" {
			if f.Type != "answer.accepted" {
				t.Fatalf("classmate's answer: %s %s", f.Type, f.Data)
			}
			break
		}
	}
}

// joinStudent connects student i to node i%2 of the cluster and reads its
// welcome.
func joinStudent(t *testing.T, ctx context.Context, cl *teststack.Cluster, sc teststack.School, sess client.Snapshot, i int) *client.Socket {
	t.Helper()
	s := teststack.Dial(t, ctx, cl.URL(i%2), sc.Students[i].Token, sess.ID, client.DialOptions{})
	next(t, ctx, s)
	return s
}

// waitClosed reads s until it closes and checks the close code.
func waitClosed(t *testing.T, ctx context.Context, s *client.Socket, want websocket.StatusCode) {
	t.Helper()
	for {
		if _, err := s.Next(ctx); err != nil {
			if got := s.CloseStatus(); got != want {
				t.Fatalf("closed with %v (%v), want %v", got, err, want)
			}
			return
		}
	}
}

package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/quizcast/quizcast/internal/client"
	"github.com/quizcast/quizcast/internal/teststack"
)

// student is one notebook app: it keeps its socket up (reconnecting with
// last_seq to whichever node answers), answers every open question once
// and keeps its own log of what it was told.
type student struct {
	id, token string
	nodes     func() []string // preferred node first
	session   string

	mu      sync.Mutex
	seen    map[int64]bool    // broadcast seqs received
	covered int64             // seqs a recovered:false snapshot stood in for
	maxSeq  int64             // highest seq received
	acked   map[string]string // question id → answer id acknowledged
	final   map[string]bool   // questions settled (acked or refused for good)
	// The student's own clock (the machine's, never stepped) of what it
	// saw: when it first sent its answer to a question, when the answer
	// was acknowledged, when a refusal as closed came, when it first saw
	// the question closed.
	sentAt, ackedAt, refusedAt, closedAt map[string]time.Time
	openQ                                string // the question open now, with its first option
	openOpt                              string
	connected                            bool
	ended                                bool
	welcomes                             int // sockets opened
	snapshots                            int // resumes answered with recovered:false
	socket                               *client.Socket
}

func newStudent(id, token, session string, nodes func() []string) *student {
	return &student{id: id, token: token, session: session, nodes: nodes,
		seen: map[int64]bool{}, acked: map[string]string{}, final: map[string]bool{},
		sentAt: map[string]time.Time{}, ackedAt: map[string]time.Time{}, refusedAt: map[string]time.Time{}, closedAt: map[string]time.Time{}}
}

type questionFrame struct {
	Question struct {
		ID      string `json:"id"`
		Options []struct {
			ID string `json:"id"`
		} `json:"options"`
	} `json:"question"`
}

type welcomeFrame struct {
	Session struct {
		State           string `json:"state"`
		Seq             int64  `json:"seq"`
		CurrentQuestion *struct {
			ID      string `json:"id"`
			Closed  bool   `json:"closed"`
			Options []struct {
				ID string `json:"id"`
			} `json:"options"`
		} `json:"current_question"`
	} `json:"session"`
	Recovered bool `json:"recovered"`
}

// run keeps the student connected until the session ends or ctx does.
func (s *student) run(ctx context.Context) {
	for ctx.Err() == nil {
		s.mu.Lock()
		ended := s.ended
		last := s.maxSeq
		s.mu.Unlock()
		if ended {
			return
		}
		var sock *client.Socket
		for _, base := range s.nodes() {
			dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			c, _, err := client.New(base).With(s.token).Dial(dctx, s.session, client.DialOptions{LastSeq: &last})
			cancel()
			if err == nil {
				sock = c
				break
			}
		}
		if sock == nil {
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		s.serve(ctx, sock)
	}
}

// serve reads one socket until it closes.
func (s *student) serve(ctx context.Context, sock *client.Socket) {
	defer sock.Close()
	stop := context.AfterFunc(ctx, sock.Close)
	defer stop()
	s.mu.Lock()
	s.socket = sock
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.connected, s.socket = false, nil
		s.mu.Unlock()
	}()
	for {
		f, err := sock.Next(ctx)
		if err != nil {
			return
		}
		s.handle(ctx, sock, f)
	}
}

func (s *student) handle(ctx context.Context, sock *client.Socket, f client.Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Seq > 0 {
		s.seen[f.Seq] = true
		s.maxSeq = max(s.maxSeq, f.Seq)
	}
	switch f.Type {
	case "welcome":
		var w welcomeFrame
		_ = json.Unmarshal(f.Data, &w)
		s.connected = true
		s.welcomes++
		if !w.Recovered && s.welcomes > 1 {
			s.snapshots++
		}
		if !w.Recovered {
			s.covered = max(s.covered, w.Session.Seq)
			s.maxSeq = max(s.maxSeq, w.Session.Seq)
		}
		if w.Session.State == "ended" {
			s.ended = true
			return
		}
		if q := w.Session.CurrentQuestion; q != nil && !q.Closed && len(q.Options) > 0 {
			s.openQ, s.openOpt = q.ID, q.Options[0].ID
		} else {
			s.openQ = ""
		}
		s.answerLater(ctx, sock, 0)
	case "question.opened":
		var q questionFrame
		_ = json.Unmarshal(f.Data, &q)
		if len(q.Question.Options) > 0 {
			s.openQ, s.openOpt = q.Question.ID, q.Question.Options[0].ID
			s.answerLater(ctx, sock, time.Duration(rand.IntN(4000))*time.Millisecond)
		}
	case "question.closed":
		var c struct {
			QuestionID string `json:"question_id"`
		}
		_ = json.Unmarshal(f.Data, &c)
		if _, ok := s.closedAt[c.QuestionID]; !ok {
			s.closedAt[c.QuestionID] = time.Now()
		}
		s.openQ = ""
	case "session.ended":
		s.ended = true
	case "answer.accepted":
		var a struct {
			AnswerID   string `json:"answer_id"`
			QuestionID string `json:"question_id"`
		}
		_ = json.Unmarshal(f.Data, &a)
		s.acked[a.QuestionID] = a.AnswerID
		s.ackedAt[a.QuestionID] = time.Now()
		s.final[a.QuestionID] = true
	case "answer.rejected":
		var a struct {
			QuestionID string `json:"question_id"`
			Code       string `json:"code"`
		}
		_ = json.Unmarshal(f.Data, &a)
		if a.Code == "closed" {
			s.refusedAt[a.QuestionID] = time.Now()
		}
		s.final[a.QuestionID] = true
	case "error":
		// unavailable (or any refusal of the answer): not stored, not
		// acknowledged; answer again while the question is open.
		if f.ID != "" {
			s.answerLater(ctx, sock, 300*time.Millisecond)
		}
	}
}

// answerLater sends the answer to the open question after d unless it is
// settled by then. Called with s.mu held.
func (s *student) answerLater(ctx context.Context, sock *client.Socket, d time.Duration) {
	q, opt := s.openQ, s.openOpt
	if q == "" || s.final[q] {
		return
	}
	time.AfterFunc(d, func() {
		s.mu.Lock()
		settled := s.final[q] || s.openQ != q || s.socket != sock
		if _, ok := s.sentAt[q]; !ok && !settled {
			s.sentAt[q] = time.Now()
		}
		s.mu.Unlock()
		if settled || ctx.Err() != nil {
			return
		}
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_ = sock.Send(wctx, "answer", uuid.NewString(), map[string]any{"question_id": q, "choices": []string{opt}})
	})
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// session is a live session of 30 students over the stack's two nodes.
type session struct {
	s        *stack
	school   teststack.School
	id       string
	students []*student
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	// commandFailures counts teacher commands that failed (retried).
	commandFailures atomic.Int64
	// teacherNode is the node the teacher's commands go to first.
	teacherNode int
	// nextSent and nextDone are when each question's next command was
	// first sent and when it returned (the test's clock).
	nextSent, nextDone map[int]time.Time
}

const (
	nStudents  = 30
	nQuestions = 4
	timeLimitS = 8
)

// liveNodes is the nodes' URLs, the ones whose process runs first, from
// offset i so students spread.
func (s *stack) liveNodes(i int) []string {
	var up, down []string
	for k := range s.nodes {
		p := s.nodes[(i+k)%len(s.nodes)]
		if s.alive(p) {
			up = append(up, s.url(p))
		} else {
			down = append(down, s.url(p))
		}
	}
	return append(up, down...)
}

func startSession(t *testing.T, s *stack) *session {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var qs []client.Question
	for i := range nQuestions {
		qs = append(qs, client.Question{Text: fmt.Sprintf("Q%d?", i), Kind: "single",
			Options: []client.Option{{Text: "yes"}, {Text: "no"}}, Correct: []int{0}, TimeLimitS: timeLimitS})
	}
	school := teststack.NewSchool(t, ctx, s.url(s.nodes[0]), nStudents, client.Quiz{Title: "Chaos", Questions: qs})
	snap, err := school.Teacher.CreateSession(ctx, school.Quiz.ID, school.Classroom.ID)
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	run, stop := context.WithCancel(context.Background())
	se := &session{s: s, school: school, id: snap.ID, cancel: stop, nextSent: map[int]time.Time{}, nextDone: map[int]time.Time{}}
	for i, st := range school.Students {
		stu := newStudent(st.ID, st.Token, snap.ID, func() []string { return s.liveNodes(i) })
		se.students = append(se.students, stu)
		se.wg.Go(func() { stu.run(run) })
	}
	t.Cleanup(func() { stop(); se.wg.Wait() })
	// Everybody in before the start.
	deadline := time.Now().Add(time.Minute)
	for se.connectedCount() < nStudents {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d students connected", se.connectedCount(), nStudents)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return se
}

func (se *session) connectedCount() int {
	return se.countStudents(func(st *student) bool { return st.connected })
}

// countStudents counts the students for which f (called under their lock)
// holds.
func (se *session) countStudents(f func(*student) bool) int {
	n := 0
	for _, st := range se.students {
		st.mu.Lock()
		if f(st) {
			n++
		}
		st.mu.Unlock()
	}
	return n
}

// command runs a teacher command over REST on any node that answers; a
// failure is retried only after PostgreSQL shows it did not apply (commands
// are not idempotent), which check reports.
func (se *session) command(ctx context.Context, cmd string, applied func() bool) error {
	for i := 0; ; i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		base := se.s.liveNodes(i + se.teacherNode)[0]
		_, err := client.New(base).With(se.school.Teacher.Token).Command(ctx, se.id, cmd)
		if err == nil {
			return nil
		}
		se.commandFailures.Add(1)
		var ae *client.Error
		if errors.As(err, &ae) && ae.Status != 503 {
			// A refusal other than "unavailable": did it apply before?
			if applied() {
				return nil
			}
			return fmt.Errorf("%s: %w", cmd, err)
		}
		sleep(ctx, 300*time.Millisecond)
		if applied() {
			return nil
		}
	}
}

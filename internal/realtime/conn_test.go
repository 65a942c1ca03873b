package realtime

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/live"
	"github.com/quizcast/quizcast/internal/policy"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/protocol"
	"github.com/quizcast/quizcast/internal/quiz"
)

func encode(t *testing.T, typ string, data any) []byte {
	t.Helper()
	raw, err := protocol.Encode(typ, data)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A teacher whose socket has a backlog keeps one progress (the newest)
// and one participants (merged) however many arrive: the server's own
// slowness never fills the queue and never closes the socket.
func TestTeacherBacklogCoalesces(t *testing.T) {
	p := newPeer(t, "t", true, nil)
	c := p.c
	c.wmu.Lock()
	c.busy = true // a write is under way
	c.wmu.Unlock()
	for i := range 1000 {
		c.sendFrame(encode(t, protocol.TypeAnswerProgress, protocol.Progress{QuestionID: "q", Answered: i}))
		c.sendFrame(encode(t, protocol.TypeParticipants, protocol.Participants{Count: i, Connected: i,
			Joined: []protocol.Participant{{UserID: "s" + string(rune('a'+i%20)), Name: "n"}}, Left: []string{}}))
	}
	c.sendFrame(encode(t, protocol.TypeParticipants, protocol.Participants{Count: 7, Connected: 6,
		Joined: []protocol.Participant{}, Left: []string{"sa"}}))
	c.wmu.Lock()
	queued := len(c.out)
	c.wmu.Unlock()
	if queued != 2 {
		t.Fatalf("%d frames queued, want 2 (one progress, one participants)", queued)
	}
	select {
	case <-c.closing:
		t.Fatal("the teacher's socket was closed")
	default:
	}
	c.wmu.Lock()
	go c.drain()
	c.wmu.Unlock()

	f := p.next(t)
	var pr protocol.Progress
	if f.Type != protocol.TypeAnswerProgress || json.Unmarshal(f.Data, &pr) != nil || pr.Answered != 999 {
		t.Fatalf("first frame %s %s, want the newest progress", f.Type, f.Data)
	}
	f = p.next(t)
	var pa protocol.Participants
	if f.Type != protocol.TypeParticipants || json.Unmarshal(f.Data, &pa) != nil {
		t.Fatalf("second frame %s, want participants", f.Type)
	}
	if pa.Count != 7 || pa.Connected != 6 || len(pa.Joined) != 19 || len(pa.Left) != 1 || pa.Left[0] != "sa" {
		t.Fatalf("merged participants %+v: want count 7, 19 joined, sa left", pa)
	}
}

// A student whose client stops reading is closed once its queue passes
// the bound: the hub never waits for it.
func TestStudentThatDoesNotReadIsClosed(t *testing.T) {
	cfg := &Config{SendQueue: 4}
	cfg.defaults()
	p := newPeer(t, "u1", false, cfg)
	frame := textFrame([]byte(`{"type":"leaderboard","seq":1,"data":"` + strings.Repeat("x", 64<<10) + `"}`))
	start := time.Now()
	for i := range 10_000 {
		p.c.send(frame, kindFrame, false)
		select {
		case <-p.c.closing:
			if time.Since(start) > 5*time.Second {
				t.Errorf("sending %d frames took %v: the sender waited", i, time.Since(start))
			}
			if p.c.code != StatusPolicy {
				t.Errorf("closed with %d, want %d", p.c.code, StatusPolicy)
			}
			return
		default:
		}
	}
	t.Fatal("a socket that does not read was never closed")
}

type blockingSessions struct {
	release chan struct{}
	ran     chan string
}

func (blockingSessions) Authorize(context.Context, auth.Identity, string, policy.Action) (postgres.Access, error) {
	return postgres.Access{}, nil
}
func (blockingSessions) Snapshot(context.Context, string, string) (protocol.Snapshot, error) {
	return protocol.Snapshot{}, nil
}
func (s blockingSessions) Command(_ context.Context, _ auth.Identity, _ quiz.Session, cmd live.Command, _ quiz.App) (protocol.Snapshot, error) {
	<-s.release
	s.ran <- string(cmd)
	return protocol.Snapshot{}, nil
}
func (blockingSessions) Answer(context.Context, auth.Identity, quiz.Session, string, []string, quiz.App) (protocol.AnswerAccepted, bool, error) {
	return protocol.AnswerAccepted{}, true, nil
}
func (blockingSessions) Kick(context.Context, auth.Identity, string, string) error { return nil }
func (blockingSessions) Joined(context.Context, quiz.Session, string) (int, error) {
	return 0, nil
}
func (blockingSessions) Left(context.Context, quiz.Session, string)     {}
func (blockingSessions) PublishTeacher(context.Context, string, []byte) {}

// Past the node's command queue a command is refused at once with the
// retryable unavailable error; the socket stays open, and the admitted
// commands run in order.
func TestCommandsPastTheQueueAreRefused(t *testing.T) {
	stats := NewMetrics(prometheus.NewRegistry())
	sessions := blockingSessions{release: make(chan struct{}), ran: make(chan string, 4)}
	s := &Server{cfg: Config{}, sessions: sessions, queue: NewQueue(Limits{CommandWorkers: 1, CommandQueue: 1}, stats),
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), stats: stats}
	s.cfg.defaults()
	teacher := newPeer(t, "t", true, &s.cfg)
	other := newPeer(t, "t2", true, &s.cfg)
	ctx := context.Background()
	sess := quiz.Session{ID: testSession, TeacherID: "t"}
	s.handle(ctx, teacher.c, sess, []byte(`{"type":"start","id":"c1","data":{}}`)) // runs, blocked
	s.handle(ctx, teacher.c, sess, []byte(`{"type":"next","id":"c2","data":{}}`))  // waits behind it
	s.handle(ctx, other.c, sess, []byte(`{"type":"next","id":"c3","data":{}}`))    // refused
	f := other.next(t)
	var e protocol.Error
	if f.Type != protocol.TypeError || f.ID != "c3" || json.Unmarshal(f.Data, &e) != nil {
		t.Fatalf("got %s %s, want error for c3", f.Type, f.Data)
	}
	if e.Code != quiz.CodeUnavailable || e.RetryAfterMs != 1000 || e.Message == "" {
		t.Fatalf("refusal %+v, want unavailable with retry_after_ms 1000", e)
	}
	// A ping is answered while the commands wait: they are off the reader.
	s.handle(ctx, teacher.c, sess, []byte(`{"type":"ping","id":"p1","data":{}}`))
	if f := teacher.next(t); f.Type != protocol.TypePong || f.ID != "p1" {
		t.Fatalf("got %s %s, want pong p1", f.Type, f.ID)
	}
	close(sessions.release)
	for _, want := range []string{"start", "next"} {
		select {
		case got := <-sessions.ran:
			if got != want {
				t.Fatalf("ran %s, want %s", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s never ran", want)
		}
	}
	for _, p := range []*peer{teacher, other} {
		select {
		case <-p.c.closing:
			t.Fatal("a refusal closed the socket")
		default:
		}
	}
	// With the queue free again the same command is admitted.
	s.handle(ctx, other.c, sess, []byte(`{"type":"next","id":"c4","data":{}}`))
	select {
	case <-sessions.ran:
	case <-time.After(10 * time.Second):
		t.Fatal("a command was not admitted once the queue drained")
	}
}

// REST commands share the node's queue: past it, the refusal is the
// contract's unavailable with a Retry-After in seconds.
func TestQueueRefusesPastItsBound(t *testing.T) {
	q := NewQueue(Limits{CommandWorkers: 1, CommandQueue: 0, RetryAfter: 3 * time.Second}, NewMetrics(prometheus.NewRegistry()))
	q.limits.CommandQueue = 0 // no waiting place at all
	started, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = q.Command(context.Background(), func(context.Context) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	err := q.Command(context.Background(), func(context.Context) error { return nil })
	e, ok := quiz.AsError(err)
	if !ok || e.Code != quiz.CodeUnavailable || e.RetryAfter != 3 {
		t.Fatalf("got %v, want unavailable with RetryAfter 3", err)
	}
	close(release)
}

// Frames sent while a hub has the socket corked wait, in order, and leave
// in one write when it uncorks; a socket already busy writing is left
// alone by cork, and an uncorked socket writes at once again.
func TestCorkedFramesLeaveTogether(t *testing.T) {
	p := newPeer(t, "s", false, nil)
	c := p.c
	if !c.cork() {
		t.Fatal("cork of an idle socket: not taken")
	}
	for i := range 3 {
		c.sendFrame(encode(t, protocol.TypeAnswerProgress, protocol.Progress{QuestionID: "q", Answered: i}))
	}
	c.wmu.Lock()
	queued := len(c.out)
	c.wmu.Unlock()
	if queued != 3 {
		t.Fatalf("%d frames queued while corked, want 3", queued)
	}
	select {
	case f := <-p.frames:
		t.Fatalf("frame %v written while corked", f)
	case <-time.After(50 * time.Millisecond):
	}
	c.uncork()
	for i := range 3 {
		f := p.next(t)
		var pr protocol.Progress
		if json.Unmarshal(f.Data, &pr) != nil || pr.Answered != i {
			t.Fatalf("frame %d: %s, want progress %d", i, f.Data, i)
		}
	}
	c.wmu.Lock()
	busy, out := c.busy, len(c.out)
	c.busy = true // another write under way
	c.wmu.Unlock()
	if busy || out != 0 {
		t.Fatalf("after uncork: busy %v, %d queued; want the write side free", busy, out)
	}
	if c.cork() {
		t.Fatal("cork took a socket that was busy writing")
	}
	c.wmu.Lock()
	c.releaseLocked()
	c.wmu.Unlock()
	c.sendFrame(encode(t, protocol.TypeAnswerProgress, protocol.Progress{QuestionID: "q", Answered: 7}))
	if f := p.next(t); !strings.Contains(string(f.Data), `"answered":7`) {
		t.Fatalf("after uncork a frame waits: %s", f.Data)
	}
}

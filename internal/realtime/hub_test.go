package realtime

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/protocol"
	"github.com/quizcast/quizcast/internal/quiz"
)

// fakeStore is the PostgreSQL side of the hubs for unit tests: the
// session's counter and the broadcasts recorded so far.
type fakeStore struct {
	mu    sync.Mutex
	seq   int64
	bs    map[int64]protocol.Broadcast
	reads int
}

func newFakeStore() *fakeStore { return &fakeStore{bs: map[int64]protocol.Broadcast{}} }

// record commits a broadcast: it is stored and the counter moves on.
func (s *fakeStore) record(t *testing.T, typ string, data any) protocol.Broadcast {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	b, err := protocol.EncodeBroadcast(typ, s.seq, data)
	if err != nil {
		t.Fatal(err)
	}
	s.bs[b.Seq] = b
	return b
}

func (s *fakeStore) Broadcasts(_ context.Context, _ string, after, upto int64) ([]protocol.Broadcast, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	var out []protocol.Broadcast
	for seq := after + 1; seq <= upto; seq++ {
		if b, ok := s.bs[seq]; ok {
			out = append(out, b)
		}
	}
	return out, nil
}

func (s *fakeStore) Seq(context.Context, string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq, nil
}

func (s *fakeStore) Seqs(_ context.Context, ids []string) (map[string]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for _, id := range ids {
		out[id] = s.seq
	}
	return out, nil
}

// countingCloser counts closes; its clock (the deadlines' clock) is the
// wall clock, ahead by ahead.
type countingCloser struct {
	calls chan string
	ahead time.Duration
}

func (c countingCloser) Now() time.Time { return time.Now().Add(c.ahead) }

func (c countingCloser) CloseDue(_ context.Context, _, sessionID string) error {
	select {
	case c.calls <- sessionID:
	default:
	}
	return nil
}

// testHubs is a node's hubs over the memory broker and a fake store.
func testHubs(t *testing.T) (*Hubs, *MemoryBroker, *fakeStore) {
	t.Helper()
	broker := NewMemoryBroker(256)
	store := newFakeStore()
	hubs := NewHubs(broker, store, countingCloser{calls: make(chan string, 8)}, slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewMetrics(prometheus.NewRegistry()))
	broker.SetDeliver(hubs.Deliver)
	return hubs, broker, store
}

// got is a frame as a client read it.
type got struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	Seq  int64           `json:"seq"`
	Data json.RawMessage `json:"data"`
}

// peer is a socket of the hub over loopback TCP, read by a minimal
// WebSocket frame reader: no services, the conn's real write path.
type peer struct {
	c      *conn
	client net.Conn
	frames chan got
}

// loopback returns both ends of a TCP connection over 127.0.0.1.
func loopback(tb testing.TB) (client, srv net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, _ := ln.Accept()
		accepted <- nc
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	srv = <-accepted
	tb.Cleanup(func() {
		client.Close()
		srv.Close()
	})
	return client, srv
}

func newPeer(t *testing.T, user string, teacher bool, cfg *Config) *peer {
	t.Helper()
	client, srv := loopback(t)
	if cfg == nil {
		cfg = &Config{}
		cfg.defaults()
	}
	role := quiz.RoleStudent
	if teacher {
		role = quiz.RoleTeacher
	}
	c := newConn(auth.Identity{UserID: user, Role: role}, user, teacher, cfg)
	c.nc = srv
	raw, err := srv.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	c.raw = raw
	p := &peer{c: c, client: client, frames: make(chan got, 1024)}
	go p.read()
	return p
}

func (p *peer) read() {
	defer close(p.frames)
	r := bufio.NewReader(p.client)
	for {
		var hdr [2]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(r, ext[:]); err != nil {
				return
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(r, ext[:]); err != nil {
				return
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		if hdr[0] != 0x81 {
			continue // control frames
		}
		var f got
		if err := json.Unmarshal(payload, &f); err != nil {
			return
		}
		p.frames <- f
	}
}

func (p *peer) next(t *testing.T) got {
	t.Helper()
	select {
	case f, ok := <-p.frames:
		if !ok {
			t.Fatal("the socket closed")
		}
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no frame within 10 s")
	}
	return got{}
}

func (p *peer) expectSeqs(t *testing.T, seqs ...int64) {
	t.Helper()
	for _, want := range seqs {
		if f := p.next(t); f.Seq != want {
			t.Fatalf("got %s seq %d, want seq %d", f.Type, f.Seq, want)
		}
	}
}

func (p *peer) quiet(t *testing.T) {
	t.Helper()
	select {
	case f := <-p.frames:
		t.Fatalf("unexpected frame %s seq %d", f.Type, f.Seq)
	case <-time.After(50 * time.Millisecond):
	}
}

const testSession = "session-1"

func joinHub(t *testing.T, hubs *Hubs) *hub {
	t.Helper()
	hb, err := hubs.acquire(context.Background(), testSession, "school-1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hubs.release(hb) })
	return hb
}

// Broadcasts that pub/sub brings out of order reach every socket in seq
// order, each once.
func TestHubDeliversInSeqOrder(t *testing.T) {
	hubs, broker, store := testHubs(t)
	hb := joinHub(t, hubs)
	a, b := newPeer(t, "u1", false, nil), newPeer(t, "u2", false, nil)
	hb.add(a.c, 0)
	hb.add(b.c, 0)
	one := store.record(t, protocol.TypeSessionStarted, protocol.SessionStarted{})
	two := store.record(t, protocol.TypeQuestionOpened, protocol.QuestionOpened{Deadline: quiz.Time(time.Now().Add(time.Hour))})
	three := store.record(t, protocol.TypeQuestionClosed, protocol.QuestionClosed{QuestionID: "q"})
	ctx := context.Background()
	for _, env := range []protocol.Envelope{
		{Broadcasts: []protocol.Broadcast{three}},
		{Broadcasts: []protocol.Broadcast{one}},
		{Broadcasts: []protocol.Broadcast{two, three}}, // three again
	} {
		if err := broker.Publish(ctx, testSession, env); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*peer{a, b} {
		p.expectSeqs(t, 1, 2, 3)
		p.quiet(t)
	}
	if !bytesEqual(hb.recent[0].frame, textFrame(one.Raw)) {
		t.Error("the hub re-encoded a broadcast")
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// A broadcast that never arrives by pub/sub is read from the store, and
// what follows it waits for it.
func TestHubFillsGapsFromTheStore(t *testing.T) {
	hubs, broker, store := testHubs(t)
	hb := joinHub(t, hubs)
	p := newPeer(t, "u1", false, nil)
	hb.add(p.c, 0)
	store.record(t, protocol.TypeSessionStarted, protocol.SessionStarted{})
	store.record(t, protocol.TypeQuestionOpened, protocol.QuestionOpened{Deadline: quiz.Time(time.Now().Add(time.Hour))})
	three := store.record(t, protocol.TypeQuestionClosed, protocol.QuestionClosed{QuestionID: "q"})
	if err := broker.Publish(context.Background(), testSession, protocol.Envelope{Broadcasts: []protocol.Broadcast{three}}); err != nil {
		t.Fatal(err)
	}
	p.expectSeqs(t, 1, 2, 3)
	store.mu.Lock()
	reads := store.reads
	store.mu.Unlock()
	if reads == 0 {
		t.Error("the gap was not read from the store")
	}

	// Resync finds a broadcast that was committed but never published.
	store.record(t, protocol.TypeLeaderboard, protocol.Leaderboard{})
	hubs.resync(context.Background())
	p.expectSeqs(t, 4)
	p.quiet(t)
}

// Results go out right after the leaderboard they follow, even when the
// leaderboard's envelope arrives before the broadcasts ahead of it.
func TestHubSendsResultsAfterTheirLeaderboard(t *testing.T) {
	hubs, broker, store := testHubs(t)
	hb := joinHub(t, hubs)
	u1, u2, teacher := newPeer(t, "u1", false, nil), newPeer(t, "u2", false, nil), newPeer(t, "t", true, nil)
	for _, p := range []*peer{u1, u2, teacher} {
		hb.add(p.c, 0)
	}
	one := store.record(t, protocol.TypeSessionStarted, protocol.SessionStarted{})
	two := store.record(t, protocol.TypeQuestionOpened, protocol.QuestionOpened{Deadline: quiz.Time(time.Now().Add(time.Hour))})
	closed := store.record(t, protocol.TypeQuestionClosed, protocol.QuestionClosed{QuestionID: "q"})
	board := store.record(t, protocol.TypeLeaderboard, protocol.Leaderboard{})
	result := func(points int) []byte {
		raw, err := protocol.Encode(protocol.TypeResult, protocol.Result{QuestionID: "q", Points: points})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	ctx := context.Background()
	late := protocol.Envelope{Broadcasts: []protocol.Broadcast{closed, board},
		Results: map[string][]byte{"u1": result(900), "u2": result(0)}}
	if err := broker.Publish(ctx, testSession, late); err != nil {
		t.Fatal(err)
	}
	u1.quiet(t) // seq 3 and 4 wait for 1 and 2; so does the result
	if err := broker.Publish(ctx, testSession, protocol.Envelope{Broadcasts: []protocol.Broadcast{one, two}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*peer{u1, u2} {
		p.expectSeqs(t, 1, 2, 3, 4)
		if f := p.next(t); f.Type != protocol.TypeResult {
			t.Fatalf("after the leaderboard: %s, want result", f.Type)
		}
	}
	teacher.expectSeqs(t, 1, 2, 3, 4)
	teacher.quiet(t) // the teacher has no result

	// A close whose envelope is in order: results straight after it.
	closed2 := store.record(t, protocol.TypeQuestionClosed, protocol.QuestionClosed{QuestionID: "q2"})
	board2 := store.record(t, protocol.TypeLeaderboard, protocol.Leaderboard{})
	if err := broker.Publish(ctx, testSession, protocol.Envelope{Broadcasts: []protocol.Broadcast{closed2, board2},
		Results: map[string][]byte{"u1": result(500)}}); err != nil {
		t.Fatal(err)
	}
	u1.expectSeqs(t, 5, 6)
	if f := u1.next(t); f.Type != protocol.TypeResult {
		t.Fatalf("after the second leaderboard: %s, want result", f.Type)
	}
	u2.expectSeqs(t, 5, 6)
	u2.quiet(t)
}

// A socket that joins behind the hub's memory gets the difference from the
// store, then what the hub holds, in order and once.
func TestHubCatchesUpALateSocket(t *testing.T) {
	hubs, broker, store := testHubs(t)
	hb := joinHub(t, hubs)
	ctx := context.Background()
	for range recentFrames + 10 {
		b := store.record(t, protocol.TypeSessionStarted, protocol.SessionStarted{})
		if err := broker.Publish(ctx, testSession, protocol.Envelope{Broadcasts: []protocol.Broadcast{b}}); err != nil {
			t.Fatal(err)
		}
	}
	p := newPeer(t, "u1", false, nil)
	hb.add(p.c, 3) // its welcome covered seq 3
	for want := int64(4); want <= recentFrames+10; want++ {
		p.expectSeqs(t, want)
	}
	p.quiet(t)
}

// The question's deadline is taken from the broadcast's fields, without
// decoding it, and closes the question on this node at its time.
func TestHubClosesAtTheDeadline(t *testing.T) {
	hubs, broker, store := testHubs(t)
	joinHub(t, hubs)
	calls := hubs.closer.(countingCloser).calls
	b := store.record(t, protocol.TypeQuestionOpened, protocol.QuestionOpened{Deadline: quiz.Time(time.Now().Add(50 * time.Millisecond))})
	if err := broker.Publish(context.Background(), testSession, protocol.Envelope{Broadcasts: []protocol.Broadcast{b}}); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-calls:
		if id != testSession {
			t.Fatalf("closed %s", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the deadline did not close the question")
	}
}

// The timer counts down on the closer's clock, which stamped the deadline,
// not on this machine's wall clock: with the node's clock an hour ahead of
// the wall, a deadline an hour and 50 ms away by the wall is 50 ms away.
func TestHubArmsTheDeadlineOnTheNodesClock(t *testing.T) {
	hubs, broker, store := testHubs(t)
	calls := make(chan string, 8)
	hubs.closer = countingCloser{calls: calls, ahead: time.Hour}
	joinHub(t, hubs)
	b := store.record(t, protocol.TypeQuestionOpened, protocol.QuestionOpened{Deadline: quiz.Time(time.Now().Add(time.Hour + 50*time.Millisecond))})
	if err := broker.Publish(context.Background(), testSession, protocol.Envelope{Broadcasts: []protocol.Broadcast{b}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("the timer waited by the wall clock, not the node's")
	}
}

// A new hub of a session that is still being released keeps its
// subscription: subscribe and unsubscribe of one channel stay ordered.
func TestHubResubscribeAfterRelease(t *testing.T) {
	hubs, broker, _ := testHubs(t)
	for range 50 {
		var wg sync.WaitGroup
		hb, err := hubs.acquire(context.Background(), testSession, "school-1")
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		var again *hub
		go func() { defer wg.Done(); hubs.release(hb) }()
		go func() {
			defer wg.Done()
			again, err = hubs.acquire(context.Background(), testSession, "school-1")
		}()
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		broker.mu.Lock()
		subscribed := broker.subs[testSession]
		broker.mu.Unlock()
		if !subscribed {
			t.Fatal("a live hub lost its subscription")
		}
		hubs.release(again)
	}
	broker.mu.Lock()
	defer broker.mu.Unlock()
	if broker.subs[testSession] {
		t.Error("still subscribed with no hub")
	}
}

// A user's sockets in one session are capped on the node: each one beyond
// the cap closes that user's oldest with 4409; other users keep theirs.
func TestHubCapsSocketsPerUser(t *testing.T) {
	hubs, _, _ := testHubs(t)
	hb := joinHub(t, hubs)
	other := newPeer(t, "u2", false, nil)
	hb.add(other.c, 0)
	var ps []*peer
	for range MaxSocketsPerUser + 2 {
		p := newPeer(t, "u1", false, nil)
		hb.add(p.c, 0)
		ps = append(ps, p)
	}
	for i, p := range ps {
		replaced := i < 2 // the two oldest
		if p.c.isClosing() != replaced {
			t.Fatalf("socket %d closing=%v, want %v", i, p.c.isClosing(), replaced)
		}
		if replaced && p.c.code != StatusReplaced {
			t.Fatalf("socket %d closed with %d, want %d", i, p.c.code, StatusReplaced)
		}
	}
	if other.c.isClosing() {
		t.Fatal("another user's socket was closed")
	}
}

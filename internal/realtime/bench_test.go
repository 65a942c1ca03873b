package realtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/protocol"
	"github.com/quizcast/quizcast/internal/quiz"
)

// emptyStore is a session that has broadcast nothing yet: the hub starts at
// seq 0 and never needs to fill a gap (the benchmark publishes in order).
type emptyStore struct{}

func (emptyStore) Broadcasts(context.Context, string, int64, int64) ([]protocol.Broadcast, error) {
	return nil, nil
}
func (emptyStore) Seq(context.Context, string) (int64, error) { return 0, nil }
func (emptyStore) Seqs(context.Context, []string) (map[string]int64, error) {
	return map[string]int64{}, nil
}

type noCloser struct{}

func (noCloser) CloseDue(context.Context, string, string) error { return nil }
func (noCloser) Now() time.Time                                 { return time.Now() }

// BenchmarkHubFanout measures one broadcast from Publish to its receipt by
// the last of n real WebSocket clients over loopback: the hub's delivery,
// the non-blocking write to each socket, the kernel, and the clients' reads, all
// in this process. ns/op is per broadcast; allocations include the
// clients' side.
func BenchmarkHubFanout(b *testing.B) {
	for _, n := range []int{30, 1000} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) { benchFanout(b, n) })
	}
}

func benchFanout(b *testing.B, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	broker := NewMemoryBroker(256)
	hubs := NewHubs(broker, emptyStore{}, noCloser{}, log, NewMetrics(prometheus.NewRegistry()))
	broker.SetDeliver(hubs.Deliver)
	const session = "bench-session"
	hb, err := hubs.acquire(ctx, session, "bench-school")
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{}
	cfg.defaults()
	var joined sync.WaitGroup
	joined.Add(n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := newConn(auth.Identity{UserID: r.URL.Query().Get("u"), Role: quiz.RoleStudent}, "", false, &cfg)
		ws, err := websocket.Accept(hijacker{ResponseWriter: w, c: c}, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		c.ws = ws
		hb.add(c, 0)
		joined.Done()
		go func() {
			for {
				if _, _, err := ws.Read(ctx); err != nil {
					c.closeWith(StatusGoingAway, "", false)
					return
				}
			}
		}()
	}))
	defer srv.Close()

	var got sync.WaitGroup
	url := strings.Replace(srv.URL, "http", "ws", 1)
	clients := make([]*websocket.Conn, n)
	for i := range clients {
		c, _, err := websocket.Dial(ctx, fmt.Sprintf("%s/?u=%d", url, i), nil)
		if err != nil {
			b.Fatal(err)
		}
		clients[i] = c
		go func() {
			for {
				if _, _, err := c.Read(ctx); err != nil {
					return
				}
				got.Done()
			}
		}()
	}
	joined.Wait()
	defer func() {
		for _, c := range clients {
			c.CloseNow()
		}
	}()

	now := time.Now()
	data := protocol.QuestionOpened{
		Question: protocol.PublicQuestion{ID: "q", Text: "Which planet is known as the red planet?", Kind: quiz.KindSingle,
			Options:    []quiz.Option{{ID: "a", Text: "Venus"}, {ID: "b", Text: "Mars"}, {ID: "c", Text: "Jupiter"}, {ID: "d", Text: "Saturn"}},
			TimeLimitS: 20, Points: 1000},
		OpenedAt: quiz.Time(now), Deadline: quiz.Time(now.Add(time.Hour)),
	}
	b.ReportAllocs()
	b.ResetTimer()
	var seq int64
	for b.Loop() {
		seq++
		got.Add(n)
		f, err := protocol.EncodeBroadcast(protocol.TypeQuestionOpened, seq, data)
		if err != nil {
			b.Fatal(err)
		}
		env := protocol.Envelope{Broadcasts: []protocol.Broadcast{f}}
		if err := broker.Publish(ctx, session, env); err != nil {
			b.Fatal(err)
		}
		got.Wait()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/socket")
}

// BenchmarkHubDeliver is the receiving node's work for one broadcast: the
// envelope decoded from its inter-node bytes, the frame put behind a
// WebSocket header once, and written to each of n sockets (loopback TCP,
// read by clients that discard). allocs/op is per delivered broadcast,
// whatever n: nothing is allocated per socket.
func BenchmarkHubDeliver(b *testing.B) {
	for _, n := range []int{30, 300} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			hubs, _, _ := testHubs(&testing.T{})
			hb, err := hubs.acquire(context.Background(), testSession, "school-1")
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				p := benchPeer(b, fmt.Sprint("u", i))
				hb.add(p, 0)
			}
			data := protocol.QuestionClosed{QuestionID: "0b9e2f4c-54a4-4d0e-9a53-2f7a4f1f5f21",
				Correct: []string{"6b4d2e2f-1d7c-4a9f-9b45-2e3d4c5b6a72"}, Distribution: map[string]int{"a": 10, "b": 20}, Answered: 30, Participants: 30}
			var seq int64
			wires := make([][]byte, 0, 1024)
			for range cap(wires) {
				seq++
				f, err := protocol.EncodeBroadcast(protocol.TypeQuestionClosed, seq, data)
				if err != nil {
					b.Fatal(err)
				}
				wire, err := protocol.MarshalEnvelope(protocol.Envelope{Broadcasts: []protocol.Broadcast{f}})
				if err != nil {
					b.Fatal(err)
				}
				wires = append(wires, wire)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i == len(wires) {
					b.StopTimer()
					hb.mu.Lock()
					hb.last = 0
					for c := range hb.conns {
						c.lastSeq = 0
					}
					hb.mu.Unlock()
					i = 0
					b.StartTimer()
				}
				env, err := protocol.UnmarshalEnvelope(wires[i])
				if err != nil {
					b.Fatal(err)
				}
				hubs.Deliver(testSession, env)
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/socket")
		})
	}
}

// benchPeer is a socket whose client reads and discards.
func benchPeer(b *testing.B, user string) *conn {
	client, srv := loopback(b)
	go func() { _, _ = io.Copy(io.Discard, client) }()
	var err error
	cfg := &Config{SendQueue: 1 << 20}
	cfg.defaults()
	c := newConn(auth.Identity{UserID: user, Role: quiz.RoleStudent}, user, false, cfg)
	c.nc = srv
	if c.raw, err = srv.(*net.TCPConn).SyscallConn(); err != nil {
		b.Fatal(err)
	}
	return c
}

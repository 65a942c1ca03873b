package realtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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

// BenchmarkHubFanout measures one broadcast from Publish to its receipt by
// the last of n real WebSocket clients over loopback: the hub's delivery,
// each socket's writer goroutine, the kernel, and the clients' reads, all
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
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		c := newConn(ws, auth.Identity{UserID: r.URL.Query().Get("u"), Role: quiz.RoleStudent}, "", false, &cfg)
		go c.writeLoop()
		hb.add(c, 0)
		joined.Done()
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				c.closeWith(StatusGoingAway, "", false)
				return
			}
		}
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

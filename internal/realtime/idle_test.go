package realtime

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
)

// BenchmarkIdleSockets measures what an idle socket costs the node: n
// sockets are opened to a Server in this process by clients in another
// process (so their memory is not counted), and the benchmark reports the
// resident memory and the goroutines they added, per socket. The sockets
// go through Serve as a session's teacher (a student adds only the
// presence calls of its join, which need Redis).
//
//	go test -run '^$' -bench IdleSockets -benchtime 1x ./internal/realtime
func BenchmarkIdleSockets(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("QC_IDLE_SOCKETS")); err == nil && v > 0 {
		n = v
	}
	for b.Loop() {
		rss, goroutines, heap := idleSockets(b, n)
		b.ReportMetric(rss/1024, "KiB-RSS/socket")
		b.ReportMetric(heap/1024, "KiB-heap+stack/socket")
		b.ReportMetric(goroutines, "goroutines/socket")
	}
}

func idleSockets(b *testing.B, n int) (rss, goroutines, heap float64) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	stats := NewMetrics(prometheus.NewRegistry())
	broker := NewMemoryBroker(256)
	hubs := NewHubs(broker, newFakeStore(), countingCloser{calls: make(chan string, 1)}, log, stats)
	broker.SetDeliver(hubs.Deliver)
	s := NewServer(Config{}, nil, blockingSessions{}, hubs, broker, nil, NewQueue(Limits{}, stats), log, stats)
	sess := quiz.Session{ID: testSession, SchoolID: "school-1", TeacherID: "t"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Serve(w, r, &Admission{id: auth.Identity{UserID: "t", Role: quiz.RoleTeacher},
			access: postgres.Access{Session: sess, Teacher: true}}, func(int) {})
	}))
	defer srv.Close()

	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "QC_IDLE_URL="+strings.Replace(srv.URL, "http", "ws", 1), "QC_IDLE_N="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr

	settle := func() (int64, uint64) {
		runtime.GC()
		debug.FreeOSMemory()
		time.Sleep(200 * time.Millisecond)
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return residentBytes(b), m.HeapInuse + m.StackInuse
	}
	rss0, heap0 := settle()
	g0 := runtime.NumGoroutine()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		b.Fatalf("clients: %q %v", line, err)
	}
	// Every socket is in the hub once its welcome was written.
	hb := hubs.lookup(testSession)
	for deadline := time.Now().Add(time.Minute); ; {
		hb.mu.Lock()
		joined := len(hb.conns)
		hb.mu.Unlock()
		if joined == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d sockets joined", joined, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	rss1, heap1 := settle()
	g1 := runtime.NumGoroutine()
	return float64(rss1-rss0) / float64(n), float64(g1-g0) / float64(n), float64(heap1-heap0) / float64(n)
}

// residentBytes reads VmRSS of this process.
func residentBytes(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc: resident memory is measured on Linux")
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb * 1024
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// TestMain runs this test binary as the client process of
// BenchmarkIdleSockets when QC_IDLE_URL names the server.
func TestMain(m *testing.M) {
	if url := os.Getenv("QC_IDLE_URL"); url != "" {
		if err := idleClients(url, os.Getenv("QC_IDLE_N")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// idleClients opens n sockets, prints "ready", and holds them (reading,
// as a client does) until its stdin closes.
func idleClients(url, n string) error {
	count, err := strconv.Atoi(n)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range count {
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return fmt.Errorf("socket %d: %w", i, err)
		}
		go func() {
			for {
				if _, _, err := c.Read(ctx); err != nil {
					return
				}
			}
		}()
	}
	fmt.Println("ready")
	_, err = io.Copy(io.Discard, os.Stdin)
	return err
}

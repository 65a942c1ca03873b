package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/rabbitmq"
	"github.com/quizcast/quizcast/internal/rabbitmq/rabbitmqtest"
	"github.com/quizcast/quizcast/internal/testenv"
)

func TestWorkerStoresEventsAndAnswersProbes(t *testing.T) {
	url := testenv.RabbitMQURL(t)
	pool, dbURL := testenv.Database(t)
	topo := rabbitmqtest.Topology(t, url)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	env := map[string]string{
		"DATABASE_URL": dbURL, "RABBITMQ_URL": url, "REDIS_URL": testenv.RedisURL(t), "WORKER_HTTP_ADDR": addr,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, topo, slog.New(slog.DiscardHandler))
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	testenv.Eventually(t, 20*time.Second, "ready", func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Fatalf("healthz: %d", code)
	}

	pub := rabbitmq.NewPublisher(url, "test", topo, 10*time.Second)
	defer pub.Close()
	ev := quiz.Event{EventID: uuid.NewString(), Name: quiz.EventSessionEnded, OccurredAt: time.Now().UTC(),
		SchoolID: uuid.NewString(), App: quiz.AppWhiteboard, Data: map[string]any{}}
	body, _ := json.Marshal(ev)
	if err := pub.Publish(ctx, []rabbitmq.Message{{RoutingKey: string(ev.Name), MessageID: ev.EventID, Body: body}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "the event stored", func() bool {
		var n int
		_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE event_id = $1`, ev.EventID).Scan(&n)
		return n == 1
	})
	code, text := get("/metrics")
	for _, want := range []string{"quizcast_events_stored_total 1", "quizcast_event_lag_seconds_count 1", "quizcast_db_pool_total_connections", "quizcast_build_info{"} {
		if code != http.StatusOK || !strings.Contains(text, want) {
			t.Fatalf("metrics (%d) lack %q", code, want)
		}
	}
}

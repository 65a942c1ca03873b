package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

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
	// As the relay does, a batch RabbitMQ refuses (a nack: the quorum
	// queue still electing its leader on a loaded machine) is sent again.
	testenv.Eventually(t, 20*time.Second, "the event published and confirmed", func() bool {
		err := pub.Publish(ctx, []rabbitmq.Message{{RoutingKey: string(ev.Name), MessageID: ev.EventID, Body: body}})
		if err != nil {
			t.Log(err)
		}
		return err == nil
	})
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

// replay-dlq -dry-run lists the dead letters and leaves them; replay-dlq
// moves them to the events exchange, whose worker queue then holds them.
func TestReplayDLQ(t *testing.T) {
	url := testenv.RabbitMQURL(t)
	topo := rabbitmqtest.Topology(t, url)
	ch := rabbitmqtest.Channel(t, url, topo)
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	for i, id := range ids {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, topo.DeadLetterExchange, "session_ended", false, false, amqp.Publishing{
			Headers: amqp.Table{rabbitmq.ReasonHeader: fmt.Sprintf("bad event %d", i)}, MessageId: id,
			DeliveryMode: amqp.Persistent, Body: []byte(`{"n":` + fmt.Sprint(i) + `}`),
		})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("confirm: %v %v", ok, err)
		}
	}
	depth := func(queue string) int {
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum})
		if err != nil {
			t.Fatal(err)
		}
		return q.Messages
	}
	testenv.Eventually(t, 10*time.Second, "three dead letters", func() bool { return depth(topo.DeadLetterQueue) == 3 })
	env := func(k string) (string, bool) {
		if k == "RABBITMQ_URL" {
			return url, true
		}
		return "", false
	}

	var out strings.Builder
	if err := replayDLQ(ctx, []string{"-dry-run"}, env, topo, &out); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if !strings.Contains(out.String(), id+"\tsession_ended\tbad event "+fmt.Sprint(i)) {
			t.Fatalf("dry run output lacks %s:\n%s", id, out.String())
		}
	}
	if !strings.Contains(out.String(), "3 dead letters listed (dry run") {
		t.Fatalf("dry run summary:\n%s", out.String())
	}
	testenv.Eventually(t, 10*time.Second, "the dead letters left in place", func() bool {
		return depth(topo.DeadLetterQueue) == 3 && depth(topo.Queue) == 0
	})

	out.Reset()
	if err := replayDLQ(ctx, nil, env, topo, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "3 dead letters replayed") {
		t.Fatalf("replay summary:\n%s", out.String())
	}
	testenv.Eventually(t, 10*time.Second, "the dead letters back in the worker queue", func() bool {
		return depth(topo.DeadLetterQueue) == 0 && depth(topo.Queue) == 3
	})
	d, ok, err := ch.Get(topo.Queue, true)
	if err != nil || !ok {
		t.Fatalf("get replayed: %v %v", ok, err)
	}
	if _, has := d.Headers[rabbitmq.ReasonHeader]; has || d.RoutingKey != "session_ended" || d.MessageId != ids[0] {
		t.Fatalf("replayed message: key %q id %q headers %v", d.RoutingKey, d.MessageId, d.Headers)
	}
	if err := replayDLQ(ctx, []string{"-limit", "-1"}, env, topo, &out); err == nil {
		t.Fatal("a negative -limit was accepted")
	}
}

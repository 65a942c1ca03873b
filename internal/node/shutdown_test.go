package node_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/client"
	"github.com/quizcast/quizcast/internal/config"
	"github.com/quizcast/quizcast/internal/node"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/rabbitmq/rabbitmqtest"
	"github.com/quizcast/quizcast/internal/testenv"
	"github.com/quizcast/quizcast/internal/teststack"
	"github.com/quizcast/quizcast/internal/worker"
)

// TestShutdownRecordsEveryLeave: a node with N student sockets is shut
// down as cmd/server does (Shutdown, then its pools and Redis closed): every
// socket is closed with 1001, the session holds N student_left events (in
// the outbox or, relayed, in events) and the node logged no write against a
// closed pool or Redis client.
func TestShutdownRecordsEveryLeave(t *testing.T) {
	const students = 6
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	shared, dbURL := testenv.Database(t)
	redisURL := testenv.RedisURL(t)
	rabbitURL := testenv.RabbitMQURL(t)
	topo := rabbitmqtest.Topology(t, rabbitURL)

	// The node's own pools and Redis client, closed after its Shutdown.
	pool, err := postgres.Connect(ctx, dbURL, 8)
	if err != nil {
		t.Fatal(err)
	}
	answers, err := postgres.ConnectAnswers(ctx, dbURL, 2)
	if err != nil {
		t.Fatal(err)
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	var logs testenv.LogBuffer
	cfg := config.Server{DatabaseURL: dbURL, RedisURL: redisURL, RabbitMQURL: rabbitURL,
		JWTSecret: []byte(teststack.Secret), AccessTTL: 15 * time.Minute, RefreshTTL: time.Hour,
		LoginIPLimit: 100000, LoginAccountLimit: 1000, APIUserLimit: 100000,
		HandshakeUserLimit: 100000, HandshakeIPLimit: 100000}
	n, err := node.New(cfg, node.Options{Topology: topo, AnswerPool: answers}, pool, rdb,
		slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler)
	t.Cleanup(srv.Close)
	done := make(chan struct{})
	go func() { n.Run(context.Background()); close(done) }()

	// The events the relay published reach the events table.
	w := worker.New(config.Worker{DatabaseURL: dbURL, RabbitMQURL: rabbitURL, RedisURL: redisURL,
		RefreshInterval: time.Minute, Prefetch: 100, BatchSize: 50, BatchLinger: 20 * time.Millisecond},
		topo, shared, testenv.Redis(t), prometheus.NewRegistry(), teststack.Logger())
	wctx, stopWorker := context.WithCancel(context.Background())
	workerDone := make(chan struct{})
	go func() { w.Run(wctx, wctx); close(workerDone) }()
	t.Cleanup(func() { stopWorker(); <-workerDone })

	sc := teststack.NewSchool(t, ctx, srv.URL, students, teststack.FiveQuestions())
	sess, err := sc.Teacher.CreateSession(ctx, sc.Quiz.ID, sc.Classroom.ID)
	if err != nil {
		t.Fatal(err)
	}
	var socks []*client.Socket
	for _, st := range sc.Students {
		s := teststack.Dial(t, ctx, srv.URL, st.Token, sess.ID, client.DialOptions{})
		teststack.Expect(t, ctx, s, "welcome")
		socks = append(socks, s)
	}

	// A socket's welcome goes out before its join is recorded; a drain in
	// between refuses the socket (1001) with neither a join nor a leave.
	// Every socket here joined before the shutdown begins.
	testenv.Eventually(t, time.Minute, "a student_joined per socket", func() bool {
		var joined int
		err := shared.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM outbox WHERE name = 'student_joined' AND payload->>'session_id' = $1::text) +
			(SELECT count(*) FROM events WHERE name = 'student_joined' AND session_id = $1::uuid)`, sess.ID).Scan(&joined)
		return err == nil && joined >= students
	})
	n.Shutdown(ctx, srv.Config.Shutdown)
	<-done
	answers.Close()
	pool.Close()
	_ = rdb.Close()

	for i, s := range socks {
		for {
			if _, err := s.Next(ctx); err != nil {
				break
			}
		}
		if s.CloseStatus() != 1001 {
			t.Fatalf("socket %d closed with %v, want 1001", i, s.CloseStatus())
		}
	}
	var left int
	t.Cleanup(func() {
		if t.Failed() {
			var ob, ev, all int
			err := shared.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM events), (SELECT count(*) FROM events WHERE name = 'student_left')`).Scan(&ob, &ev, &all)
			t.Logf("left=%d outbox=%d events=%d student_left events=%d (%v); node log:\n%s", left, ob, ev, all, err, logs.String())
		}
	})
	testenv.Eventually(t, time.Minute, "a student_left per socket", func() bool {
		err := shared.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM outbox WHERE name = 'student_left' AND payload->>'session_id' = $1::text) +
			(SELECT count(*) FROM events WHERE name = 'student_left' AND session_id = $1::uuid)`, sess.ID).Scan(&left)
		if err != nil {
			t.Log(err)
		}
		return err == nil && left >= students
	})
	if left != students {
		t.Fatalf("%d student_left events, want %d", left, students)
	}
	out := logs.String()
	for _, bad := range []string{"closed pool", "client is closed", "recording student_left failed"} {
		if strings.Contains(out, bad) {
			t.Fatalf("the node logged %q during shutdown:\n%s", bad, out)
		}
	}
}

// Package teststack runs whole Quizcast stacks inside a test: server
// nodes (the production object graph of internal/node) and the event
// worker over the test's PostgreSQL, Redis and RabbitMQ, and a school set
// up through the public API. Tests of realtime, reports and the pipeline
// share it.
package teststack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/apicheck"
	"github.com/quizcast/quizcast/internal/client"
	"github.com/quizcast/quizcast/internal/config"
	"github.com/quizcast/quizcast/internal/node"
	"github.com/quizcast/quizcast/internal/rabbitmq"
	"github.com/quizcast/quizcast/internal/testenv"
	"github.com/quizcast/quizcast/internal/worker"
)

// Node is one in-process server node over the test services.
type Node struct {
	Node   *node.Node
	URL    string
	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Stop kills the node: its sockets drop and its background work stops.
func (n *Node) Stop() {
	n.once.Do(func() {
		n.srv.CloseClientConnections()
		n.srv.Close()
		n.cancel()
		<-n.done
	})
}

// Cluster is a set of nodes sharing one database and Redis.
type Cluster struct {
	Pool  *pgxpool.Pool
	DBURL string
	RDB   *redis.Client
	Nodes []*Node
	cfg   config.Server
}

// URL is node i's base URL.
func (c *Cluster) URL(i int) string { return c.Nodes[i].URL }

// Secret signs the test stacks' tokens.
const Secret = "test-secret-test-secret-test-secret-0123"

// Start runs n nodes over a fresh database.
func Start(t *testing.T, n int, opts node.Options) *Cluster {
	t.Helper()
	pool, dbURL := testenv.Database(t)
	rdb := testenv.Redis(t)
	cfg := config.Server{
		DatabaseURL: dbURL, RedisURL: testenv.RedisURL(t), RabbitMQURL: os.Getenv("RABBITMQ_URL"),
		JWTSecret: []byte(Secret), HTTPAddr: ":0", AllowedOrigins: []string{"https://whiteboard.example.org"},
		AccessTTL: 15 * time.Minute, RefreshTTL: time.Hour,
		LoginIPLimit: 100000, LoginAccountLimit: 1000, APIUserLimit: 100000,
		HandshakeUserLimit: 100000, HandshakeIPLimit: 100000,
	}
	c := &Cluster{Pool: pool, DBURL: dbURL, RDB: rdb, cfg: cfg}
	for range n {
		nd, err := node.New(cfg, opts, pool, rdb, Logger())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		// Every exchange with the node is held to api/*.yaml.
		srv := httptest.NewServer(apicheck.Handler(t, nd.Handler))
		tn := &Node{Node: nd, URL: srv.URL, srv: srv, cancel: cancel, done: make(chan struct{})}
		go func() { nd.Run(ctx); close(tn.done) }()
		c.Nodes = append(c.Nodes, tn)
		t.Cleanup(tn.Stop)
	}
	return c
}

// Logger discards logs unless QUIZCAST_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("QUIZCAST_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// School is a registered school with a classroom, its students and a quiz.
type School struct {
	Teacher   *client.Client // logged in
	TeacherID string
	Classroom client.Classroom
	Students  []Student
	Quiz      client.Quiz
}

// Student is an enrolled, logged-in student.
type Student struct {
	ID    string
	Name  string
	Email string
	Token string
}

// Password is every test account's password.
const Password = "correct-horse-battery"

// FiveQuestions is a quiz of all four kinds.
func FiveQuestions() client.Quiz {
	zero := 0
	return client.Quiz{Title: "Everything", Questions: []client.Question{
		{Text: "2+2?", Kind: "single", Options: []client.Option{{Text: "3"}, {Text: "4"}, {Text: "5"}}, Correct: []int{1}, TimeLimitS: 30},
		{Text: "Primes?", Kind: "multi", Options: []client.Option{{Text: "2"}, {Text: "4"}, {Text: "5"}, {Text: "9"}}, Correct: []int{0, 2}, TimeLimitS: 30},
		{Text: "The sky is blue", Kind: "true_false", Options: []client.Option{{Text: "True"}, {Text: "False"}}, Correct: []int{0}, TimeLimitS: 30},
		{Text: "Favourite colour?", Kind: "poll", Options: []client.Option{{Text: "Red"}, {Text: "Green"}}, Correct: []int{}, Points: &zero, TimeLimitS: 30},
		{Text: "Capital of France?", Kind: "single", Options: []client.Option{{Text: "Paris"}, {Text: "Lyon"}}, Correct: []int{0}, TimeLimitS: 30},
	}}
}

// NewSchool registers a school through the API on base, with a classroom
// of n logged-in students and the quiz q.
func NewSchool(t *testing.T, ctx context.Context, base string, nStudents int, q client.Quiz) School {
	t.Helper()
	id := testenv.RandomID()
	c := client.New(base)
	// bcrypt under the race detector on two shared cores is slow.
	c.HTTP.Timeout = 3 * time.Minute
	email := "teacher-" + id + "@school.example.org"
	if _, err := c.Register(ctx, "Ms Teacher", email, Password, "School "+id); err != nil {
		t.Fatalf("register: %v", err)
	}
	login, err := c.Login(ctx, email, Password)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	s := School{Teacher: c.With(login.AccessToken), TeacherID: login.User.ID}
	if s.Classroom, err = s.Teacher.CreateClassroom(ctx, "Class "+id); err != nil {
		t.Fatalf("classroom: %v", err)
	}
	var list []client.NewStudent
	for i := range nStudents {
		list = append(list, client.NewStudent{Name: fmt.Sprintf("Student %02d", i), Email: fmt.Sprintf("s%02d-%s@school.example.org", i, id), Password: Password})
	}
	if nStudents > 0 {
		users, err := s.Teacher.Enrol(ctx, s.Classroom.ID, list)
		if err != nil {
			t.Fatalf("enrol: %v", err)
		}
		s.Students = make([]Student, len(users))
		var wg sync.WaitGroup
		errs := make(chan error, len(users))
		for i, u := range users {
			wg.Go(func() {
				l, err := c.Login(ctx, u.Email, Password)
				if err != nil {
					errs <- fmt.Errorf("login %s: %w", u.Email, err)
					return
				}
				s.Students[i] = Student{ID: u.ID, Name: u.Name, Email: u.Email, Token: l.AccessToken}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	if s.Quiz, err = s.Teacher.CreateQuiz(ctx, q); err != nil {
		t.Fatalf("quiz: %v", err)
	}
	return s
}

// Dial opens a socket as token on base, failing the test on refusal.
func Dial(t *testing.T, ctx context.Context, base, token, sessionID string, o client.DialOptions) *client.Socket {
	t.Helper()
	s, status, err := client.New(base).With(token).Dial(ctx, sessionID, o)
	if err != nil {
		t.Fatalf("dial %s: status %d: %v", base, status, err)
	}
	t.Cleanup(s.Close)
	return s
}

// Expect returns the next frame of type typ, failing the test otherwise.
func Expect(t *testing.T, ctx context.Context, s *client.Socket, typ string) client.Frame {
	t.Helper()
	f, err := s.Expect(ctx, typ)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// StartWorker runs the event worker over the cluster's database and Redis,
// consuming topo, until the test ends.
func StartWorker(t *testing.T, c *Cluster, topo rabbitmq.Topology, refresh time.Duration) {
	t.Helper()
	cfg := config.Worker{DatabaseURL: c.DBURL, RabbitMQURL: c.cfg.RabbitMQURL, RedisURL: c.cfg.RedisURL,
		RefreshInterval: refresh, Prefetch: 500, BatchSize: 200, BatchLinger: 20 * time.Millisecond}
	w := worker.New(cfg, topo, c.Pool, c.RDB, prometheus.NewRegistry(), Logger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx, ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

package realtime_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/client"
	"github.com/quizcast/quizcast/internal/config"
	"github.com/quizcast/quizcast/internal/node"
	"github.com/quizcast/quizcast/internal/testenv"
)

// testNode is one in-process server node over the shared test services.
type testNode struct {
	srv    *httptest.Server
	node   *node.Node
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// stop kills the node: its sockets drop and its background work stops.
func (n *testNode) stop() {
	n.once.Do(func() {
		n.srv.CloseClientConnections()
		n.srv.Close()
		n.cancel()
		<-n.done
	})
}

type cluster struct {
	pool  *pgxpool.Pool
	rdb   *redis.Client
	nodes []*testNode
}

func (c *cluster) url(i int) string { return c.nodes[i].srv.URL }

const testSecret = "test-secret-test-secret-test-secret-0123"

func startCluster(t *testing.T, n int, opts node.Options) *cluster {
	t.Helper()
	pool, dbURL := testenv.Database(t)
	rdb := testenv.Redis(t)
	cfg := config.Server{
		DatabaseURL: dbURL, RedisURL: testenv.RedisURL(t), RabbitMQURL: os.Getenv("RABBITMQ_URL"),
		JWTSecret: []byte(testSecret), HTTPAddr: ":0", AllowedOrigins: []string{"https://whiteboard.example.org"},
		AccessTTL: 15 * time.Minute, RefreshTTL: time.Hour,
		LoginIPLimit: 100000, LoginAccountLimit: 1000, APIUserLimit: 100000,
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("QUIZCAST_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	c := &cluster{pool: pool, rdb: rdb}
	for range n {
		nd, err := node.New(cfg, opts, pool, rdb, log)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		tn := &testNode{srv: httptest.NewServer(nd.Handler), node: nd, cancel: cancel, done: make(chan struct{})}
		go func() { nd.Run(ctx, ctx); close(tn.done) }()
		c.nodes = append(c.nodes, tn)
		t.Cleanup(tn.stop)
	}
	return c
}

// school is a registered school with a classroom, its students and a quiz.
type school struct {
	teacher   *client.Client // logged in on node 0
	teacherID string
	classroom client.Classroom
	students  []student
	quiz      client.Quiz
}

type student struct {
	id    string
	name  string
	email string
	token string
}

const password = "correct-horse-battery"

// fiveQuestions is a quiz of all four kinds.
func fiveQuestions() client.Quiz {
	zero := 0
	return client.Quiz{Title: "Everything", Questions: []client.Question{
		{Text: "2+2?", Kind: "single", Options: []client.Option{{Text: "3"}, {Text: "4"}, {Text: "5"}}, Correct: []int{1}, TimeLimitS: 30},
		{Text: "Primes?", Kind: "multi", Options: []client.Option{{Text: "2"}, {Text: "4"}, {Text: "5"}, {Text: "9"}}, Correct: []int{0, 2}, TimeLimitS: 30},
		{Text: "The sky is blue", Kind: "true_false", Options: []client.Option{{Text: "True"}, {Text: "False"}}, Correct: []int{0}, TimeLimitS: 30},
		{Text: "Favourite colour?", Kind: "poll", Options: []client.Option{{Text: "Red"}, {Text: "Green"}}, Correct: []int{}, Points: &zero, TimeLimitS: 30},
		{Text: "Capital of France?", Kind: "single", Options: []client.Option{{Text: "Paris"}, {Text: "Lyon"}}, Correct: []int{0}, TimeLimitS: 30},
	}}
}

func newSchool(t *testing.T, ctx context.Context, base string, nStudents int, q client.Quiz) school {
	t.Helper()
	id := testenv.RandomID()
	c := client.New(base)
	// bcrypt under the race detector on two shared cores is slow.
	c.HTTP.Timeout = 3 * time.Minute
	email := "teacher-" + id + "@school.example.org"
	if _, err := c.Register(ctx, "Ms Teacher", email, password, "School "+id); err != nil {
		t.Fatalf("register: %v", err)
	}
	login, err := c.Login(ctx, email, password)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	s := school{teacher: c.With(login.AccessToken), teacherID: login.User.ID}
	if s.classroom, err = s.teacher.CreateClassroom(ctx, "Class "+id); err != nil {
		t.Fatalf("classroom: %v", err)
	}
	var list []client.NewStudent
	for i := range nStudents {
		list = append(list, client.NewStudent{Name: fmt.Sprintf("Student %02d", i), Email: fmt.Sprintf("s%02d-%s@school.example.org", i, id), Password: password})
	}
	if nStudents > 0 {
		users, err := s.teacher.Enrol(ctx, s.classroom.ID, list)
		if err != nil {
			t.Fatalf("enrol: %v", err)
		}
		s.students = make([]student, len(users))
		var wg sync.WaitGroup
		errs := make(chan error, len(users))
		for i, u := range users {
			wg.Go(func() {
				l, err := c.Login(ctx, u.Email, password)
				if err != nil {
					errs <- fmt.Errorf("login %s: %w", u.Email, err)
					return
				}
				s.students[i] = student{id: u.ID, name: u.Name, email: u.Email, token: l.AccessToken}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	if s.quiz, err = s.teacher.CreateQuiz(ctx, q); err != nil {
		t.Fatalf("quiz: %v", err)
	}
	return s
}

// dial opens a socket as token on base, failing the test on refusal.
func dial(t *testing.T, ctx context.Context, base, token, sessionID string, o client.DialOptions) *client.Socket {
	t.Helper()
	s, status, err := client.New(base).With(token).Dial(ctx, sessionID, o)
	if err != nil {
		t.Fatalf("dial %s: status %d: %v", base, status, err)
	}
	t.Cleanup(s.Close)
	return s
}

func expect(t *testing.T, ctx context.Context, s *client.Socket, typ string) client.Frame {
	t.Helper()
	f, err := s.Expect(ctx, typ)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

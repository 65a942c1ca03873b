package node_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/config"
	"github.com/quizcast/quizcast/internal/node"
	"github.com/quizcast/quizcast/internal/testenv"
)

// TestReadinessFollowsRedis: killing Redis turns /readyz to 503 naming
// Redis; once Redis is back it answers 200 again, with no restart.
func TestReadinessFollowsRedis(t *testing.T) {
	pool, dbURL := testenv.Database(t)
	testenv.RedisURL(t)
	priv := testenv.NewPrivate(t, testenv.PrivateRedis)
	opt, err := redis.ParseURL(priv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	cfg := config.Server{DatabaseURL: dbURL, RedisURL: priv.URL, RabbitMQURL: testenv.RabbitMQURL(t),
		JWTSecret: []byte(strings.Repeat("k", 32)), AccessTTL: time.Minute, RefreshTTL: time.Hour,
		LoginIPLimit: 100, LoginAccountLimit: 10, APIUserLimit: 100}
	n, err := node.New(cfg, node.Options{}, pool, rdb, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler)
	defer srv.Close()

	ready := func() (int, string) {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := ready(); code != 200 {
		t.Fatalf("/readyz = %d %s, want 200", code, body)
	}
	priv.Stop(t)
	code, body := ready()
	var e struct {
		Error struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	if code != 503 || e.Error.Code != "unavailable" || !strings.Contains(e.Error.Message, "redis") || e.Error.Fields["postgres"] != "ok" {
		t.Fatalf("/readyz with Redis down = %d %s, want 503 naming redis", code, body)
	}
	priv.Start(t)
	testenv.Eventually(t, 30*time.Second, "/readyz back to 200", func() bool {
		code, _ := ready()
		return code == 200
	})
}

// TestBadEnvironmentStopsTheServer: the server binary refuses a malformed
// variable with one line naming it.
func TestBadEnvironmentStopsTheServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server binary")
	}
	bin := t.TempDir() + "/server"
	root := testenv.RepoRoot(t)
	build := runCmd(t, root, nil, "go", "build", "-o", bin, "./cmd/server")
	if build.err != nil {
		t.Fatalf("build: %v\n%s", build.err, build.out)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=mysql://db/x", "REDIS_URL=redis://127.0.0.1:1/0",
		"RABBITMQ_URL=amqp://127.0.0.1:1/", "JWT_SECRET=" + "Zq8vN2mK5pR7tX1cB4fH9jL3wY6sD0gA"}
	res := runCmd(t, root, env, bin)
	if res.err == nil {
		t.Fatal("the server started with a bad DATABASE_URL")
	}
	if lines := strings.Split(strings.TrimSpace(res.out), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "DATABASE_URL") {
		t.Fatalf("want one line naming DATABASE_URL, got:\n%s", res.out)
	}
}

type result struct {
	out string
	err error
}

func runCmd(t *testing.T, dir string, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	out, err := cmd.CombinedOutput()
	return result{out: string(out), err: err}
}

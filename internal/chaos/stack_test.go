package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/testenv"
)

// stack is the system under test: private services and the processes.
type stack struct {
	t        *testing.T
	root     string // repository root
	bin      string // built binaries
	dir      string // services.sh directory
	base     int
	dbURL    string // the scenario's database, direct
	redisURL string
	amqpURL  string
	pool     *pgxpool.Pool
	// nodeDB and nodeRedis are what the processes are given (a proxy in
	// scenario 7, else the services themselves).
	nodeDB, nodeRedis string
	nodes             []*proc
	worker            *proc
	logs              string
}

// proc is one process of the stack.
type proc struct {
	name     string
	binary   string // the executable (default: bin/server, bin/eventworker)
	wallStep string // the file its wall clock's offset is read from (the stepped binary)
	args     []string
	env      []string
	port     int
	cmd      *exec.Cmd
	done     chan struct{}
}

// setup is how a scenario's stack differs from the plain one.
type setup struct {
	// proxied puts TCP proxies between the processes and PostgreSQL and
	// Redis (scenario 7).
	proxied bool
	// wallStep runs node B on the binary whose wall clock steps
	// (scenario 8).
	wallStep bool
	// teacherNode is the node the teacher's commands go to first.
	teacherNode int
}

// services starts the private PostgreSQL, Redis and RabbitMQ once per test
// binary; scenarios take a fresh database each.
var shared struct {
	root, bin, dir string
	base           int
}

func TestMain(m *testing.M) {
	code := m.Run()
	if t := table(); t != "" {
		fmt.Println("\nchaos: what each scenario lost (zeros everywhere but acked, stored and recovery)\n" + t)
		if out := os.Getenv("CHAOS_TABLE"); out != "" {
			_ = os.WriteFile(out, []byte(t+"\n"), 0o644)
		}
	}
	if shared.dir != "" {
		_ = exec.Command("bash", filepath.Join(shared.root, "scripts", "services.sh"), "stop", shared.dir).Run()
		_ = os.RemoveAll(shared.dir)
	}
	if shared.bin != "" {
		_ = os.RemoveAll(shared.bin)
	}
	os.Exit(code)
}

// need skips (or under CI=true fails) when a service binary is missing.
func need(t *testing.T) {
	for _, b := range []string{"redis-server", "rabbitmq-server", "psql"} {
		if _, err := exec.LookPath(b); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed", b)
			}
			t.Skipf("%s is not installed", b)
		}
	}
}

func setupShared(t *testing.T) {
	t.Helper()
	need(t)
	if shared.dir != "" {
		return
	}
	shared.root = testenv.RepoRoot(t)
	bin, err := os.MkdirTemp("", "quizcast-chaos-bin-")
	if err != nil {
		t.Fatal(err)
	}
	shared.bin = bin
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/server", "./cmd/eventworker")
	build.Dir = shared.root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir, err := os.MkdirTemp("", "quizcast-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shared.dir = dir
	shared.base = freeBase(t)
	if b := os.Getenv("CHAOS_BASEPORT"); b != "" {
		fmt.Sscan(b, &shared.base)
	}
	services(t, "start", dir, fmt.Sprint(shared.base))
}

// freeBase picks a base port with base..base+3 free, below the ephemeral
// range (32768+): a service stopped by a scenario must find its port free
// again when it restarts, and an outgoing connection's local port (the
// nodes keep redialling the stopped service) could take one in that range.
func freeBase(t *testing.T) int {
	for range 100 {
		base := 20000 + 4*rand.IntN(3000)
		ok := true
		for p := base; p < base+4; p++ {
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err != nil {
				ok = false
			} else {
				_ = l.Close()
			}
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func services(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("bash", append([]string{filepath.Join(shared.root, "scripts", "services.sh")}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("services.sh %v: %v\n%s", args, err, out)
	}
}

// newStack creates a migrated database for the scenario and starts the
// processes as st says.
func newStack(t *testing.T, st setup) (*stack, *proxy, *proxy) {
	setupShared(t)
	s := &stack{t: t, root: shared.root, bin: shared.bin, dir: shared.dir, base: shared.base}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.base)
	name := "chaos_" + testenv.RandomID()
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	_ = c.Close(ctx)
	s.dbURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.base, name)
	s.redisURL = fmt.Sprintf("redis://127.0.0.1:%d/0", s.base+1)
	s.amqpURL = fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", s.base+2)
	s.nodeDB, s.nodeRedis = s.dbURL, s.redisURL
	var pgProxy, redisProxy *proxy
	if st.proxied {
		pgProxy = newProxy(t, fmt.Sprintf("127.0.0.1:%d", s.base))
		redisProxy = newProxy(t, fmt.Sprintf("127.0.0.1:%d", s.base+1))
		s.nodeDB = fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", pgProxy.addr(), name)
		s.nodeRedis = fmt.Sprintf("redis://%s/0", redisProxy.addr())
	}
	s.pool, err = postgres.Connect(ctx, s.dbURL, 8)
	if err != nil {
		t.Fatal(err)
	}
	migrate := exec.Command(filepath.Join(s.bin, "server"), "migrate")
	migrate.Env = append(os.Environ(), "DATABASE_URL="+s.dbURL)
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	s.logs = t.TempDir()
	secret := "chaos-secret-chaos-secret-chaos-secret-0123"
	common := []string{"DATABASE_URL=" + s.nodeDB, "REDIS_URL=" + s.nodeRedis, "RABBITMQ_URL=" + s.amqpURL}
	for _, n := range []string{"a", "b"} {
		port := freePort(t)
		s.nodes = append(s.nodes, &proc{name: "server-" + n, args: nil, port: port, env: append([]string{
			"JWT_SECRET=" + secret, "NODE_ID=chaos-" + n, fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", port),
			"OUTBOX_POLL_INTERVAL=100ms", "SHUTDOWN_TIMEOUT=10s", "RATE_API_PER_USER=100000", "RATE_LOGIN_PER_IP=100000",
		}, common...)})
	}
	if st.wallStep {
		b := s.nodes[1]
		b.binary, b.wallStep = steppedServer(t), filepath.Join(s.logs, "wallstep")
		if err := os.WriteFile(b.wallStep, []byte("0"), 0o644); err != nil {
			t.Fatal(err)
		}
		b.env = append(b.env, wallStepEnv+"="+b.wallStep)
	}
	wport := freePort(t)
	s.worker = &proc{name: "eventworker", port: wport, env: append([]string{fmt.Sprintf("WORKER_HTTP_ADDR=127.0.0.1:%d", wport),
		"WORKER_BATCH_LINGER=20ms", "REFRESH_INTERVAL=1h"}, common...)}
	for _, p := range append(s.nodes, s.worker) {
		s.start(p)
	}
	for _, p := range append(s.nodes, s.worker) {
		s.waitReady(p, time.Minute)
	}
	t.Cleanup(func() {
		for _, p := range append(s.nodes, s.worker) {
			s.kill(p, syscall.SIGKILL)
		}
		s.pool.Close()
		if dir := os.Getenv("CHAOS_LOGS"); dir != "" {
			// Kept for a post-mortem (make chaos keeps them in .chaos/).
			dst := filepath.Join(dir, testenv.Sanitize(t.Name()))
			_ = os.MkdirAll(dst, 0o755)
			for _, p := range append(s.nodes, s.worker) {
				if b, err := os.ReadFile(filepath.Join(s.logs, p.name+".log")); err == nil {
					_ = os.WriteFile(filepath.Join(dst, p.name+".log"), b, 0o644)
				}
			}
		}
		if t.Failed() {
			for _, p := range append(s.nodes, s.worker) {
				b, _ := os.ReadFile(filepath.Join(s.logs, p.name+".log"))
				lines := strings.Split(string(b), "\n")
				t.Logf("--- %s (last lines)\n%s", p.name, strings.Join(lines[max(0, len(lines)-30):], "\n"))
			}
		}
	})
	return s, pgProxy, redisProxy
}

func (s *stack) url(p *proc) string { return fmt.Sprintf("http://127.0.0.1:%d", p.port) }

// start (re)starts p.
func (s *stack) start(p *proc) {
	s.t.Helper()
	bin := filepath.Join(s.bin, "server")
	if p == s.worker {
		bin = filepath.Join(s.bin, "eventworker")
	}
	if p.binary != "" {
		bin = p.binary
	}
	f, err := os.OpenFile(filepath.Join(s.logs, p.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); _ = f.Close(); close(p.done) }()
}

// kill sends sig and waits for the process to end (SIGKILL after 30 s).
func (s *stack) kill(p *proc, sig syscall.Signal) {
	if p.cmd == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// restart stops p with sig, waits pause, starts it and waits until ready.
func (s *stack) restart(p *proc, sig syscall.Signal, pause time.Duration) {
	s.t.Helper()
	s.kill(p, sig)
	time.Sleep(pause)
	s.start(p)
	s.waitReady(p, time.Minute)
}

func (s *stack) alive(p *proc) bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (s *stack) ready(p *proc) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(s.url(p) + "/readyz")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (s *stack) waitReady(p *proc, d time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for !s.ready(p) {
		if time.Now().After(deadline) || !s.alive(p) {
			b, _ := os.ReadFile(filepath.Join(s.logs, p.name+".log"))
			s.t.Fatalf("%s not ready:\n%s", p.name, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

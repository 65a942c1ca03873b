package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// PrivateService names a service a test may run for itself.
type PrivateService string

// The services a test may stop and start without disturbing other
// packages' tests, which share the instances make test started.
const (
	PrivateRedis    PrivateService = "redis"
	PrivateRabbitMQ PrivateService = "rabbit"
)

// Private is a Redis or RabbitMQ of one test's own, started by
// scripts/services.sh on free ports, stopped when the test ends.
type Private struct {
	URL     string
	service PrivateService
	dir     string
	script  string
}

// NewPrivate starts a private instance of service.
func NewPrivate(t testing.TB, service PrivateService) *Private {
	t.Helper()
	bin := map[PrivateService]string{PrivateRedis: "redis-server", PrivateRabbitMQ: "rabbitmq-server"}[service]
	if _, err := exec.LookPath(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed", bin)
		}
		t.Skipf("%s is not installed", bin)
	}
	dir, err := os.MkdirTemp("", "quizcast-"+string(service)+"-")
	if err != nil {
		t.Fatal(err)
	}
	// services.sh runs RabbitMQ as the rabbitmq user, which must reach DIR.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	base := freeBase(t)
	// start-redis / start-rabbit read the base port that start would have
	// saved: Redis listens on base+1, RabbitMQ on base+2 (distribution +3).
	if err := os.WriteFile(filepath.Join(dir, "baseport"), []byte(fmt.Sprint(base)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Private{service: service, dir: dir, script: filepath.Join(RepoRoot(t), "scripts", "services.sh")}
	switch service {
	case PrivateRedis:
		p.URL = fmt.Sprintf("redis://127.0.0.1:%d/0", base+1)
	case PrivateRabbitMQ:
		p.URL = fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", base+2)
	}
	t.Cleanup(func() {
		_ = exec.Command("bash", p.script, "stop-"+string(service), p.dir).Run()
		_ = os.RemoveAll(p.dir)
	})
	p.Start(t)
	return p
}

// Start starts the instance and waits until it serves.
func (p *Private) Start(t testing.TB) { p.run(t, "start-"+string(p.service)) }

// Stop stops it; what it persisted is there again after Start.
func (p *Private) Stop(t testing.TB) { p.run(t, "stop-"+string(p.service)) }

func (p *Private) run(t testing.TB, action string) {
	t.Helper()
	if out, err := exec.Command("bash", p.script, action, p.dir).CombinedOutput(); err != nil {
		t.Fatalf("services.sh %s: %v\n%s", action, err, out)
	}
}

// freeBase picks a base port whose service ports (base+1..base+3) are
// free, below the ephemeral range.
func freeBase(t testing.TB) int {
	t.Helper()
	for range 50 {
		base := 26432 + 4*rand.IntN(1000)
		if free(base+1) && free(base+2) && free(base+3) {
			return base
		}
	}
	t.Fatal("no free ports for a private service")
	return 0
}

func free(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

package k8s

import (
	"context"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/quizcast/quizcast/internal/config"
)

// composeSecret stands for the JWT_SECRET an operator exports before
// `docker compose up` (the file has no default for it).
const composeSecret = "Hk2mP9xQ4vT7wZ1bN5cR8fJ3gL6sY0dA"

// loadCompose loads ../docker-compose.yml with the compose-spec loader (as
// `docker compose config` does: schema validation, interpolation,
// normalization), with an environment holding only JWT_SECRET so the
// file's other defaults apply.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadComposeEnv([]string{"JWT_SECRET=" + composeSecret})
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

func loadComposeEnv(env []string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{"../docker-compose.yml"},
		cli.WithWorkingDirectory(".."),
		cli.WithEnv(env),
		cli.WithName("quizcast"),
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

// TestComposeRequiresSecret: without JWT_SECRET in the environment compose
// refuses to start the stack (no known default secret).
func TestComposeRequiresSecret(t *testing.T) {
	_, err := loadComposeEnv(nil)
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET") {
		t.Fatalf("compose without JWT_SECRET: got %v, want a refusal naming JWT_SECRET", err)
	}
}

// env flattens a service's environment.
func env(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func lookupIn(m map[string]string) config.Getenv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestCompose checks the services, images, health checks, dependencies
// and environment docker-compose.yml must have; the environment of the
// Quizcast services goes through internal/config's own loaders.
func TestCompose(t *testing.T) {
	p := loadCompose(t)
	var names []string
	for name := range p.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	want := []string{"eventworker", "migrate", "postgres", "rabbitmq", "redis", "seed", "server-a", "server-b"}
	if !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	svc := p.Services

	// Images: the data stores' majors; the Quizcast services all run the
	// image built from the Dockerfile's compose stage.
	for name, prefix := range map[string]string{"postgres": "postgres:15", "redis": "redis:7", "rabbitmq": "rabbitmq:3-management"} {
		if img := svc[name].Image; img != prefix && !strings.HasPrefix(img, prefix+".") && !strings.HasPrefix(img, prefix+"-") {
			t.Errorf("%s image %q, want %s", name, img, prefix)
		}
	}
	stages := readDockerfile(t)
	app := []string{"migrate", "seed", "server-a", "server-b", "eventworker"}
	for _, name := range app {
		s := svc[name]
		if s.Build == nil || s.Build.Target == "" {
			t.Errorf("%s: must build the Dockerfile at a target", name)
			continue
		}
		if !slices.ContainsFunc(stages, func(st stage) bool { return st.Name == s.Build.Target }) {
			t.Errorf("%s: build target %q is not a Dockerfile stage", name, s.Build.Target)
		}
		if s.Image != svc["server-a"].Image || s.Build.Target != svc["server-a"].Build.Target {
			t.Errorf("%s: every Quizcast service must run the same image", name)
		}
	}

	// Health checks on every long-running service; the one-shot migrate
	// reports through its exit status instead.
	for name, s := range svc {
		if name == "migrate" || name == "seed" {
			continue
		}
		hc := s.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE" {
			t.Errorf("%s: no health check", name)
		}
	}
	m := svc["migrate"]
	if !slices.Equal([]string(m.Command), []string{"migrate"}) || m.Restart != "no" {
		t.Errorf("migrate: want command [migrate] and restart \"no\", got %q %q", m.Command, m.Restart)
	}
	if dep := m.DependsOn["postgres"]; dep.Condition != types.ServiceConditionHealthy {
		t.Errorf("migrate must wait for a healthy postgres, got %q", dep.Condition)
	}
	if _, err := url.Parse(env(m)["DATABASE_URL"]); err != nil || env(m)["DATABASE_URL"] != env(svc["server-a"])["DATABASE_URL"] {
		t.Errorf("migrate must migrate the servers' database")
	}

	// The demo school is loaded once, after the migrations, by the seed
	// binary that the compose image carries.
	sd := svc["seed"]
	if !slices.Equal([]string(sd.Entrypoint), []string{"/usr/local/bin/seed"}) || !slices.Equal([]string(sd.Command), []string{"demo"}) || sd.Restart != "no" {
		t.Errorf("seed: want entrypoint [/usr/local/bin/seed], command [demo], restart \"no\"; got %q %q %q", sd.Entrypoint, sd.Command, sd.Restart)
	}
	if dep := sd.DependsOn["migrate"]; dep.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("seed must wait for the migrations, got %q", dep.Condition)
	}
	if env(sd)["DATABASE_URL"] != env(svc["server-a"])["DATABASE_URL"] {
		t.Errorf("seed must load the servers' database")
	}
	for _, st := range stages {
		if st.Name != svc["seed"].Build.Target {
			continue
		}
		var copied []string
		for _, in := range st.Instr {
			if in.Cmd == "COPY" {
				copied = append(copied, strings.Fields(in.Args)...)
			}
		}
		if !slices.Contains(copied, "/out/seed") {
			t.Errorf("stage %s does not carry the seed binary the seed service runs", st.Name)
		}
	}

	// The servers and the worker start after the migrations and on healthy
	// data stores.
	for _, name := range []string{"server-a", "server-b", "eventworker"} {
		deps := svc[name].DependsOn
		for dep, cond := range map[string]string{
			"migrate":  types.ServiceConditionCompletedSuccessfully,
			"postgres": types.ServiceConditionHealthy,
			"redis":    types.ServiceConditionHealthy,
			"rabbitmq": types.ServiceConditionHealthy,
		} {
			if got := deps[dep].Condition; got != cond {
				t.Errorf("%s depends_on %s: condition %q, want %q", name, dep, got, cond)
			}
		}
	}

	// Environment: valid for internal/config, pointing at these services.
	pg := env(svc["postgres"])
	rmq := env(svc["rabbitmq"])
	nodes := map[string]bool{}
	published := map[string]string{}
	for _, name := range []string{"server-a", "server-b"} {
		s := svc[name]
		e := env(s)
		cfg, err := config.LoadServer(lookupIn(e))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		checkStoreURLs(t, name, cfg.DatabaseURL, cfg.RedisURL, cfg.RabbitMQURL, pg, rmq)
		if cfg.NodeID == "" || nodes[cfg.NodeID] {
			t.Errorf("%s: NODE_ID %q must be set and distinct", name, cfg.NodeID)
		}
		nodes[cfg.NodeID] = true
		_, port, _ := net.SplitHostPort(cfg.HTTPAddr)
		target, _ := strconv.Atoi(port)
		for _, pc := range s.Ports {
			if pc.Target == uint32(target) {
				published[pc.Published] = name
			}
		}
		checkHealthURL(t, name, s, port)
		if g := s.StopGracePeriod; g == nil || time.Duration(*g) <= cfg.ShutdownTimeout {
			t.Errorf("%s: stop_grace_period must exceed SHUTDOWN_TIMEOUT %s (the socket drain)", name, cfg.ShutdownTimeout)
		}
	}
	if published["8080"] != "server-a" || published["8081"] != "server-b" {
		t.Errorf("want server-a on localhost:8080 and server-b on localhost:8081, got %v", published)
	}
	w := svc["eventworker"]
	wcfg, err := config.LoadWorker(lookupIn(env(w)))
	if err != nil {
		t.Errorf("eventworker: %v", err)
	} else {
		checkStoreURLs(t, "eventworker", wcfg.DatabaseURL, wcfg.RedisURL, wcfg.RabbitMQURL, pg, rmq)
		_, port, _ := net.SplitHostPort(wcfg.HTTPAddr)
		checkHealthURL(t, "eventworker", w, port)
	}
	if !slices.Equal([]string(w.Entrypoint), []string{"/usr/local/bin/eventworker"}) {
		t.Errorf("eventworker entrypoint %q", w.Entrypoint)
	}
	if cmd := strings.Join(svc["redis"].Command, " "); !strings.Contains(cmd, "--appendonly yes") {
		t.Errorf("redis must run with --appendonly yes, got %q", cmd)
	}
}

// checkStoreURLs: the URLs name the compose services and their credentials.
func checkStoreURLs(t *testing.T, name, db, rd, amqp string, pg, rmq map[string]string) {
	t.Helper()
	for _, c := range []struct{ raw, host, port, user, pass, path string }{
		{db, "postgres", "5432", pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], "/" + pg["POSTGRES_DB"]},
		{rd, "redis", "6379", "", "", ""},
		{amqp, "rabbitmq", "5672", rmq["RABBITMQ_DEFAULT_USER"], rmq["RABBITMQ_DEFAULT_PASS"], ""},
	} {
		u, err := url.Parse(c.raw)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		pass, _ := u.User.Password()
		if u.Hostname() != c.host || u.Port() != c.port || u.User.Username() != c.user || pass != c.pass {
			t.Errorf("%s: %s does not match the %s service (host, port, credentials)", name, u.Redacted(), c.host)
		}
		if c.path != "" && u.Path != c.path {
			t.Errorf("%s: %s: database %q, want %q", name, u.Redacted(), u.Path, c.path)
		}
	}
}

// checkHealthURL: the health check asks /readyz on the port the process
// listens on.
func checkHealthURL(t *testing.T, name string, s types.ServiceConfig, port string) {
	t.Helper()
	if s.HealthCheck == nil {
		return
	}
	test := strings.Join(s.HealthCheck.Test, " ")
	if !strings.Contains(test, ":"+port+"/readyz") {
		t.Errorf("%s: health check %q must ask /readyz on port %s", name, test, port)
	}
}

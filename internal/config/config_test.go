package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func env(m map[string]string) Getenv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func good() map[string]string {
	return map[string]string{
		"DATABASE_URL": "postgres://u@localhost:5432/db",
		"REDIS_URL":    "redis://localhost:6379/0",
		"RABBITMQ_URL": "amqp://guest:guest@localhost:5672/",
		"JWT_SECRET":   "k3V9-q2Lr7xP0aZm4TfW8yBn6HcJ1sDe",
	}
}

func TestLoadServer(t *testing.T) {
	c, err := LoadServer(env(good()))
	if err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	if c.HTTPAddr != ":8080" || c.AccessTTL.Minutes() != 15 || c.RegistrationClosed || c.RetentionMonths != 24 || c.AuditRetentionMonths != 36 {
		t.Fatalf("defaults not applied: %+v", c)
	}
	m := good()
	m["REGISTRATION"] = "Closed"
	if c, err := LoadServer(env(m)); err != nil || !c.RegistrationClosed {
		t.Fatalf("REGISTRATION=Closed: %v %+v", err, c)
	}
	tests := []struct {
		name, key, value, want string
	}{
		{"missing database", "DATABASE_URL", "", "DATABASE_URL is required"},
		{"bad database scheme", "DATABASE_URL", "mysql://x/y", "DATABASE_URL has scheme"},
		{"redis not a url", "REDIS_URL", "::::", "REDIS_URL is not a valid URL"},
		{"short secret", "JWT_SECRET", "short", "JWT_SECRET must be at least 32"},
		{"published secret", "JWT_SECRET", "dev-only-secret-change-me-0123456789abcdef", "published"},
		{"placeholder secret", "JWT_SECRET", strings.Repeat("s", 40), "placeholder"},
		{"short previous secret", "JWT_PREVIOUS_SECRET", "short", "JWT_PREVIOUS_SECRET must be at least 32"},
		{"previous secret same as current", "JWT_PREVIOUS_SECRET", "k3V9-q2Lr7xP0aZm4TfW8yBn6HcJ1sDe", "must differ"},
		{"bad metrics addr", "METRICS_ADDR", "9100", "METRICS_ADDR"},
		{"bad addr", "HTTP_ADDR", "8080", "HTTP_ADDR"},
		{"bad origin", "ALLOWED_ORIGINS", "example.org", "ALLOWED_ORIGINS entry"},
		{"bad ttl", "ACCESS_TOKEN_TTL", "1h", "ACCESS_TOKEN_TTL"},
		{"bad int", "RATE_API_PER_USER", "many", "RATE_API_PER_USER"},
		{"outbox batch too large", "OUTBOX_BATCH_SIZE", "20000", "OUTBOX_BATCH_SIZE"},
		{"bad outbox poll", "OUTBOX_POLL_INTERVAL", "soon", "OUTBOX_POLL_INTERVAL"},
		{"bad registration", "REGISTRATION", "invite-only", "REGISTRATION"},
		{"zero retention", "RETENTION_MONTHS", "0", "RETENTION_MONTHS"},
		{"bad audit retention", "AUDIT_RETENTION_MONTHS", "forever", "AUDIT_RETENTION_MONTHS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good()
			m[tt.key] = tt.value
			_, err := LoadServer(env(m))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadWorker(t *testing.T) {
	c, err := LoadWorker(env(good()))
	if err != nil {
		t.Fatal(err)
	}
	if c.BatchLinger.Milliseconds() != 50 || c.BatchSize != 500 || c.Prefetch != 1000 || c.Consumers != 2 {
		t.Fatalf("defaults not applied: %+v", c)
	}
	bad := good()
	bad["WORKER_BATCH_LINGER"] = "1h"
	if _, err := LoadWorker(env(bad)); err == nil || !strings.Contains(err.Error(), "WORKER_BATCH_LINGER") {
		t.Fatalf("got %v", err)
	}
	m := good()
	delete(m, "RABBITMQ_URL")
	if _, err := LoadWorker(env(m)); err == nil || !strings.Contains(err.Error(), "RABBITMQ_URL is required") {
		t.Fatalf("got %v", err)
	}
}

// secretInFiles matches a JWT_SECRET value written in a file of the
// repository: YAML (JWT_SECRET: v), shell (JWT_SECRET=v, ${JWT_SECRET:-v}).
var secretInFiles = regexp.MustCompile(`JWT_(?:PREVIOUS_)?SECRET(?::-|[:=])\s*["']?([^\s"'}$]+)`)

// TestPublishedSecretsRefused reads every text file of the repository and
// checks that each JWT secret written in one is refused at start-up.
func TestPublishedSecretsRefused(t *testing.T) {
	root := filepath.Join("..", "..")
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", ".run", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".md", ".yml", ".yaml", ".sh", ".env", ".example", "":
		default:
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range secretInFiles.FindAllStringSubmatch(string(data), -1) {
			v := m[1]
			if len(v) < 8 || strings.HasPrefix(v, "$") || strings.HasPrefix(v, "<") {
				continue // a reference or a shell expression, not a value
			}
			found++
			e := good()
			e["JWT_SECRET"] = v
			if _, err := LoadServer(env(e)); err == nil || !strings.Contains(err.Error(), "JWT_SECRET") {
				t.Errorf("%s: JWT secret %q is accepted", path, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatal("no secret found in the repository's files: the pattern is stale")
	}
}

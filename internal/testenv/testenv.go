// Package testenv gives integration tests the real PostgreSQL, Redis and
// RabbitMQ that make test starts. Their URLs come from DATABASE_URL,
// REDIS_URL and RABBITMQ_URL. Without them a test skips, except under
// CI=true, where a missing service is a failure.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/postgres"
)

func need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: under CI=true every service must be there (run the tests with make test)", name)
		}
		t.Skipf("%s is not set; run with make test for the real services", name)
	}
	return v
}

// RandomID returns a short random hex string for unique names.
func RandomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Database creates a fresh, migrated database for the calling test and drops
// it when the test ends. It returns the pool and the database's URL.
func Database(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	pool, dbURL := EmptyDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return pool, dbURL
}

// EmptyDatabase creates a fresh database without any migration applied,
// dropped when the test ends. It returns the pool and the database's URL.
func EmptyDatabase(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	base := need(t, "DATABASE_URL")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to PostgreSQL at DATABASE_URL: %v", err)
	}
	defer admin.Close(context.Background())
	name := "qc_test_" + RandomID()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	dbURL := u.String()
	pool, err := postgres.Connect(ctx, dbURL, 20)
	if err != nil {
		t.Fatalf("connect test database: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return pool, dbURL
}

// RedisURL returns the test Redis URL.
func RedisURL(t testing.TB) string {
	t.Helper()
	return need(t, "REDIS_URL")
}

// Redis returns a client of the test Redis. Tests share it: use unique keys.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL(t))
	if err != nil {
		t.Fatalf("parse REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping Redis at REDIS_URL: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// RabbitMQURL returns the test RabbitMQ URL.
func RabbitMQURL(t testing.TB) string {
	t.Helper()
	return need(t, "RABBITMQ_URL")
}

// RepoRoot finds the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// Eventually polls cond every 20 ms until it returns true or timeout passes.
// It waits for asynchronous effects; it asserts no duration.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Sanitize makes s usable as part of a Redis key or database name.
func Sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, strings.ToLower(s))
}

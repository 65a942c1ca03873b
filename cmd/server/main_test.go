package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/config"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/testenv"
)

func env(m map[string]string) config.Getenv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestHelpAndVersion: --help, -h and help list the commands and every
// variable with its default; version names the build.
func TestHelpAndVersion(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"--help", "-h", "help"} {
		var out bytes.Buffer
		if err := run(t.Context(), []string{arg}, env(nil), &out); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		for _, want := range []string{"checkconfig", "migrate", "version", "serve"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s does not mention %s", arg, want)
			}
		}
		for _, v := range config.ServerVars {
			if !strings.Contains(out.String(), v.Name) || !strings.Contains(out.String(), v.Default) {
				t.Errorf("%s does not list %s with its default %q", arg, v.Name, v.Default)
			}
		}
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"version"}, env(nil), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "quizcast ") || !strings.Contains(out.String(), "go1.") {
		t.Fatalf("version printed %q", out.String())
	}
	if err := run(t.Context(), []string{"dance"}, env(nil), &out); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("unknown command: %v", err)
	}
}

// TestCheckConfig: a valid environment with live stores is ok; every
// problem is one line of the error.
func TestCheckConfig(t *testing.T) {
	_, dbURL := testenv.Database(t)
	good := map[string]string{
		"DATABASE_URL": dbURL, "REDIS_URL": testenv.RedisURL(t), "RABBITMQ_URL": testenv.RabbitMQURL(t),
		"JWT_SECRET": testenv.RandomID() + testenv.RandomID() + testenv.RandomID(),
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"checkconfig"}, env(good), &out); err != nil {
		t.Fatalf("checkconfig of a good environment: %v", err)
	}
	if !strings.HasPrefix(out.String(), "ok:") {
		t.Fatalf("printed %q", out.String())
	}

	bad := map[string]string{
		// Nothing listens on port 1; the secret is too short; no RabbitMQ.
		"DATABASE_URL": "postgres://quizcast@127.0.0.1:1/quizcast", "REDIS_URL": "redis://127.0.0.1:1/0",
		"JWT_SECRET": "short", "HTTP_ADDR": "nope",
	}
	err := run(t.Context(), []string{"checkconfig"}, env(bad), &out)
	if err == nil {
		t.Fatal("checkconfig of a bad environment succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	for _, want := range []string{"RABBITMQ_URL is required", "HTTP_ADDR", "JWT_SECRET must be at least 32", "PostgreSQL unreachable", "Redis unreachable"} {
		found := false
		for _, l := range lines[1:] {
			found = found || strings.Contains(l, want)
		}
		if !found {
			t.Errorf("no line about %q in:\n%v", want, err)
		}
	}
	if len(lines) != 6 {
		t.Errorf("%d lines, want a header and 5 problems:\n%v", len(lines), err)
	}
}

func TestCreateSchool(t *testing.T) {
	pool, url := testenv.Database(t)
	getenv := func(k string) (string, bool) {
		if k == "DATABASE_URL" {
			return url, true
		}
		return "", false
	}
	email := "head-" + testenv.RandomID() + "@hillside.example"
	var out bytes.Buffer
	if err := createSchool(t.Context(), []string{"-name", "Hillside", "-admin-email", strings.ToUpper(email)}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`reset code \(valid 24h0m0s, shown once\): (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no reset code in %q", out.String())
	}
	store := postgres.NewStore(pool)
	u, hash, err := store.UserByEmail(t.Context(), email)
	if err != nil || u.Role != "admin" || auth.CheckPassword(hash, "") {
		t.Fatalf("admin %+v, %v", u, err)
	}
	if ok, err := store.ResetValid(t.Context(), u.ID, auth.HashToken(m[1])); err != nil || !ok {
		t.Fatalf("the printed code is not pending: %v %v", ok, err)
	}
	// The same email again, and bad flags, are refused.
	if err := createSchool(t.Context(), []string{"-name", "Again", "-admin-email", email}, getenv, &out); err == nil {
		t.Fatal("a taken email was accepted")
	}
	for _, args := range [][]string{{"-admin-email", email}, {"-name", "X", "-admin-email", "not an email"}, {"-bogus"}} {
		if err := createSchool(t.Context(), args, getenv, &out); err == nil {
			t.Fatalf("%v accepted", args)
		}
	}
}

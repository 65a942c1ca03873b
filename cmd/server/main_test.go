package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/testenv"
)

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

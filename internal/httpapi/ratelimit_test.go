package httpapi_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/ratelimit"
	"github.com/quizcast/quizcast/internal/testenv"
)

// wantLimited checks a 429 in the contract's shape with a Retry-After.
func wantLimited(t *testing.T, r reply) {
	t.Helper()
	want(t, r, http.StatusTooManyRequests)
	if r.err(t).Error.Code != "rate_limited" {
		t.Fatalf("code: %s", r.Body)
	}
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
}

// Each limit is shared by two server instances: alternating between them
// does not double the allowance.
func TestRateLimitsAcrossNodes(t *testing.T) {
	t.Parallel()
	t.Run("failed logins per account", func(t *testing.T) {
		e := newEnv(t, ratelimit.Limits{LoginPerIP: 1000, LoginFailuresPerAccount: 3, APIPerUser: 1000})
		a, b := e.node(), e.node()
		addr := a.school(t, "Limits").teacher.User.Email
		bad := map[string]string{"email": addr, "password": "wrong password"}
		nodes := []*node{a, b, a}
		for _, n := range nodes {
			want(t, n.do(t, "POST", "/api/v1/auth/login", "", bad), http.StatusUnauthorized)
		}
		// Over the limit, even the right password waits: guessing stops.
		wantLimited(t, b.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": addr, "password": password}))
		wantLimited(t, a.do(t, "POST", "/api/v1/auth/login", "", bad))
		// Another account is not affected.
		b.login(t, b.school(t, "Limits Two").teacher.User.Email)
		// The owner, from another address, still gets in: failures count
		// per (email, address), so no one can lock someone else out.
		want(t, a.doFrom(t, "192.0.2.77", "POST", "/api/v1/auth/login", "", map[string]string{"email": addr, "password": password}), http.StatusOK)
	})
	t.Run("failed logins per IP", func(t *testing.T) {
		e := newEnv(t, ratelimit.Limits{LoginPerIP: 1000, LoginFailuresPerAccount: 100, LoginFailuresPerIP: 3, APIPerUser: 1000})
		a, b := e.node(), e.node()
		for i, n := range []*node{a, b, a} {
			bad := map[string]string{"email": fmt.Sprintf("nobody%d-%s@example.org", i, testenv.RandomID()), "password": "wrong password"}
			want(t, n.do(t, "POST", "/api/v1/auth/login", "", bad), http.StatusUnauthorized)
		}
		// A fourth email from the same address waits, whichever it is.
		wantLimited(t, b.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": "other@example.org", "password": "wrong password"}))
	})
	t.Run("attempts per IP", func(t *testing.T) {
		e := newEnv(t, ratelimit.Limits{LoginPerIP: 4, LoginFailuresPerAccount: 100, APIPerUser: 1000})
		a, b := e.node(), e.node()
		_, addr := a.register(t, "IP Limits")                                                                                     // 1
		tok := b.login(t, addr)                                                                                                   // 2
		want(t, a.do(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tok.RefreshToken}), http.StatusOK) // 3
		want(t, b.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": addr, "password": "nope nope"}), http.StatusUnauthorized)
		wantLimited(t, a.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": addr, "password": password}))
		wantLimited(t, b.do(t, "POST", "/api/v1/auth/register", "", map[string]string{"name": "x"}))
		// Another address is not affected.
		e.ip = "192.0.2.77"
		b.login(t, addr)
	})
	t.Run("API requests per user", func(t *testing.T) {
		e := newEnv(t, ratelimit.Limits{LoginPerIP: 1000, LoginFailuresPerAccount: 100, APIPerUser: 5})
		a, b := e.node(), e.node()
		s := a.school(t, "API Limits")
		// The same user on another login shares the limit.
		tok, other := s.other, b.session(t, quiz.User{ID: s.other.User.ID, SchoolID: s.other.User.SchoolID, Role: quiz.RoleTeacher})
		for i := range 5 {
			n := []*node{a, b}[i%2]
			want(t, n.do(t, "GET", "/api/v1/me", tok.AccessToken, nil), http.StatusOK)
		}
		wantLimited(t, b.do(t, "GET", "/api/v1/classrooms", other.AccessToken, nil))
		wantLimited(t, a.do(t, "GET", "/api/v1/me", tok.AccessToken, nil))
	})
}

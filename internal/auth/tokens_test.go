package auth

import (
	"testing"
	"time"
)

// A token issued by one node is good at once on another whose clock is a
// few milliseconds behind, also when the issue fell just after a second
// boundary (claims are whole seconds); far behind, it is refused.
func TestTokenIssuedJustAheadOfTheCheckingClock(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef-issued-ahead")
	issuer, err := NewTokens(secret, 15*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	checker, err := NewTokens(secret, 15*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	boundary := time.Date(2026, 12, 1, 9, 0, 1, 0, time.UTC)
	issuer.UseClock(func() time.Time { return boundary.Add(2 * time.Millisecond) })
	token, _, err := issuer.Issue(Identity{UserID: "u", SchoolID: "s", Role: "teacher", LoginID: "l"})
	if err != nil {
		t.Fatal(err)
	}
	checker.UseClock(func() time.Time { return boundary.Add(-3 * time.Millisecond) })
	if _, err := checker.Parse(token); err != nil {
		t.Fatalf("3 ms behind the issuer: %v", err)
	}
	checker.UseClock(func() time.Time { return boundary.Add(-time.Minute) })
	if _, err := checker.Parse(token); err == nil {
		t.Fatal("a minute behind the issuer: accepted a token from its future")
	}
}

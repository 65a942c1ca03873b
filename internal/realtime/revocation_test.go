package realtime

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/quizcast/quizcast/internal/auth"
)

// epochAuth counts the full checks the revocation watch makes.
type epochAuth struct {
	epoch    int64
	epochErr error
	checks   int
}

func (a *epochAuth) Verify(context.Context, string) (auth.Identity, error) {
	return auth.Identity{}, nil
}
func (a *epochAuth) RedeemTicket(context.Context, string) (auth.Identity, error) {
	return auth.Identity{}, nil
}
func (a *epochAuth) RevokedLogins(_ context.Context, ids []string) (map[string]bool, error) {
	a.checks++
	return map[string]bool{}, nil
}
func (a *epochAuth) RevocationEpoch(context.Context) (int64, error) { return a.epoch, a.epochErr }

// The watch looks up every socket's login only when a revocation happened
// somewhere since its last full check (the epoch moved), when the epoch
// cannot be read, or once a minute whatever the epoch says.
func TestRevocationWatchChecksOnlyWhenTheEpochMoves(t *testing.T) {
	a := &epochAuth{epoch: 7}
	s := NewServer(Config{}, a, nil, nil, nil, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	c := newConn(auth.Identity{UserID: "u", LoginID: "l"}, "u", false, &s.cfg)
	s.conns[c] = struct{}{}
	ctx := context.Background()
	step := func(want int, why string) {
		t.Helper()
		s.closeRevoked(ctx)
		if a.checks != want {
			t.Fatalf("%s: %d full checks, want %d", why, a.checks, want)
		}
	}
	step(1, "first tick")
	step(1, "epoch unchanged")
	step(1, "epoch still unchanged")
	a.epoch++
	step(2, "a revocation raised the epoch")
	step(2, "unchanged again")
	s.revFull = time.Now().Add(-2 * revocationBackstop)
	step(3, "a minute without a full check")
	a.epochErr = errors.New("redis down")
	step(4, "epoch unreadable")
	step(5, "epoch still unreadable")
}

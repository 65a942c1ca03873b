package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"runtime"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/errgroup"

	"github.com/quizcast/quizcast/internal/quiz"
)

// PasswordCost is the bcrypt cost of stored password hashes.
const PasswordCost = 10

// prehash maps a password of any length (the contract allows 128
// characters, bcrypt reads 72 bytes) to 44 bytes of base64, so every
// character counts and no NUL byte reaches bcrypt.
func prehash(password string) []byte {
	sum := sha256.Sum256([]byte(password))
	out := make([]byte, base64.StdEncoding.EncodedLen(len(sum)))
	base64.StdEncoding.Encode(out, sum[:])
	return out
}

// HashPassword returns the bcrypt hash to store for password.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword(prehash(password), PasswordCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether password matches hash. bcrypt compares in
// constant time.
func CheckPassword(hash, password string) bool {
	err := bcrypt.CompareHashAndPassword([]byte(hash), prehash(password))
	return err == nil
}

// Hasher bounds the bcrypt work of a node: a fixed number of workers and a
// bounded queue shared by every request (logins, registrations, bulk
// enrolments), with a smaller share for any one request, so a bulk
// enrolment of 200 new students can neither hold every core nor delay every
// login on the node. Beyond the queue it refuses at once with 503
// unavailable and Retry-After, before doing any of the request's work.
type Hasher struct {
	slots      chan struct{}
	perRequest int
	queue      int64
	pending    atomic.Int64
}

// HasherConfig sizes a Hasher.
type HasherConfig struct {
	// Workers hash at once on the node (default: GOMAXPROCS).
	Workers int
	// PerRequest is how many of them one request may use (default: half
	// the workers, at least one).
	PerRequest int
	// Queue bounds the hashes admitted (running and waiting) on the node
	// (default 256: about 9 s of work for 2 workers at cost 10).
	Queue int
}

// NewHasher returns a Hasher sized by cfg.
func NewHasher(cfg HasherConfig) *Hasher {
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.PerRequest <= 0 {
		cfg.PerRequest = max(1, cfg.Workers/2)
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 256
	}
	return &Hasher{slots: make(chan struct{}, cfg.Workers), perRequest: min(cfg.PerRequest, cfg.Workers), queue: int64(cfg.Queue)}
}

// ErrHashBusy answers a request whose password hashing the node cannot
// take now (503, retry later).
var ErrHashBusy = &quiz.Error{Code: quiz.CodeUnavailable,
	Message: "the server is busy hashing passwords; retry in a few seconds", RetryAfter: 2}

// admit reserves n places in the queue or refuses.
func (h *Hasher) admit(n int) error {
	if h.pending.Add(int64(n)) > h.queue {
		h.pending.Add(-int64(n))
		return ErrHashBusy
	}
	return nil
}

// run runs fn on a worker slot, waiting for one.
func (h *Hasher) run(ctx context.Context, fn func()) error {
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", quiz.ErrUnavailable, ctx.Err())
	}
	defer func() { <-h.slots }()
	fn()
	return nil
}

// Hash returns the bcrypt hash to store for password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	out, err := h.HashAll(ctx, []string{password})
	if err != nil {
		return "", err
	}
	return out[0], nil
}

// HashAll hashes passwords with at most PerRequest workers, admitting all
// of them to the queue at once or none.
func (h *Hasher) HashAll(ctx context.Context, passwords []string) ([]string, error) {
	if len(passwords) == 0 {
		return nil, nil
	}
	if err := h.admit(len(passwords)); err != nil {
		return nil, err
	}
	defer h.pending.Add(-int64(len(passwords)))
	out := make([]string, len(passwords))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(h.perRequest)
	for i, p := range passwords {
		g.Go(func() error {
			var err error
			if rerr := h.run(gctx, func() { out[i], err = HashPassword(p) }); rerr != nil {
				return rerr
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// Check reports whether password matches hash, on a worker slot.
func (h *Hasher) Check(ctx context.Context, hash, password string) (bool, error) {
	if err := h.admit(1); err != nil {
		return false, err
	}
	defer h.pending.Add(-1)
	var ok bool
	if err := h.run(ctx, func() { ok = CheckPassword(hash, password) }); err != nil {
		return false, err
	}
	return ok, nil
}

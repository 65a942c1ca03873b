package auth

import (
	"errors"
	"sync"
	"testing"

	"github.com/quizcast/quizcast/internal/quiz"
)

// The pool refuses a batch beyond its queue before doing any of it, lets
// a small request in while a big one runs, and frees its places.
func TestHasherBounds(t *testing.T) {
	h := NewHasher(HasherConfig{Workers: 2, PerRequest: 1, Queue: 4})
	if _, err := h.HashAll(t.Context(), make([]string, 5)); !errors.Is(err, ErrHashBusy) {
		t.Fatalf("5 hashes in a queue of 4: %v, want busy", err)
	}
	var e *quiz.Error
	if !errors.As(ErrHashBusy, &e) || e.Code != quiz.CodeUnavailable || e.RetryAfter < 1 {
		t.Fatalf("busy must be 503 unavailable with Retry-After: %+v", e)
	}
	var wg sync.WaitGroup
	var bigErr error
	wg.Go(func() { _, bigErr = h.HashAll(t.Context(), []string{"a-password-1", "a-password-2", "a-password-3"}) })
	hash, err := h.Hash(t.Context(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if bigErr != nil {
		t.Fatal(bigErr)
	}
	if ok, err := h.Check(t.Context(), hash, "correct horse"); err != nil || !ok {
		t.Fatalf("check: %v %v", ok, err)
	}
	if ok, _ := h.Check(t.Context(), hash, "wrong horse"); ok {
		t.Fatal("wrong password matched")
	}
	if n := h.pending.Load(); n != 0 {
		t.Fatalf("%d places still held", n)
	}
	if _, err := h.HashAll(t.Context(), make([]string, 4)); err != nil {
		t.Fatalf("a full queue's worth after the others finished: %v", err)
	}
}

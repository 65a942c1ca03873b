package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/client"
	"github.com/quizcast/quizcast/internal/quiz"
)

// minter issues access tokens with the benchmark's JWT_SECRET, as a login
// would (a fresh login id each): see the package comment.
type minter struct{ tokens *auth.Tokens }

func newMinter() (*minter, error) {
	secret := os.Getenv("JWT_SECRET")
	if secret == "" {
		return nil, errors.New("JWT_SECRET is required (the servers' secret)")
	}
	// Issue needs no Redis; the servers check revocation in theirs.
	t, err := auth.NewTokens([]byte(secret), auth.MaxAccessTTL, nil)
	if err != nil {
		return nil, err
	}
	return &minter{tokens: t}, nil
}

func (m *minter) token(schoolID, userID string, role quiz.Role) (string, error) {
	tok, _, err := m.tokens.Issue(auth.Identity{UserID: userID, SchoolID: schoolID, LoginID: uuid.NewString(), Role: role})
	return tok, err
}

// parallel runs fn(i) for i in [0, n) on conc goroutines and returns the
// first error.
func parallel(ctx context.Context, n, conc int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// createSessions opens a session in the lobby for each classroom, as its
// teacher, over REST on the node the teacher will use.
func createSessions(ctx context.Context, m *minter, rooms []SeededClassroom, nodeOf func(int) string) ([]string, error) {
	ids := make([]string, len(rooms))
	err := parallel(ctx, len(rooms), 8, func(ctx context.Context, i int) error {
		r := rooms[i]
		tok, err := m.token(r.SchoolID, r.TeacherID, quiz.RoleTeacher)
		if err != nil {
			return err
		}
		snap, err := client.New(nodeOf(i)).With(tok).CreateSession(ctx, r.QuizID, r.ID)
		if err != nil {
			return fmt.Errorf("create session of classroom %s: %w", r.ID, err)
		}
		ids[i] = snap.ID
		return nil
	})
	return ids, err
}

// dial opens a session socket and waits for its welcome.
func dial(ctx context.Context, node, token, sessionID string, buffer int) (*client.Socket, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, status, err := client.New(node).With(token).Dial(dctx, sessionID, client.DialOptions{Buffer: buffer})
	if err != nil {
		return nil, fmt.Errorf("dial %s (HTTP %d): %w", node, status, err)
	}
	if _, err := s.Expect(dctx, "welcome"); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

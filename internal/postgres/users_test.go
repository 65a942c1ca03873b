package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/testenv"
)

func newSchool(t *testing.T, s *postgres.Store) quiz.User {
	t.Helper()
	_, admin, err := s.CreateSchool(context.Background(), "School", quiz.User{Name: "A", Email: "a" + testenv.RandomID() + "@x.org", Role: quiz.RoleAdmin}, "hash")
	if err != nil {
		t.Fatal(err)
	}
	return admin
}

// Concurrent rotations of one refresh token: exactly one wins; the others
// see it spent, which revokes the login.
func TestRotateRefreshConcurrently(t *testing.T) {
	pool, _ := testenv.Database(t)
	s := postgres.NewStore(pool)
	ctx := context.Background()
	admin := newSchool(t, s)
	exp := time.Now().Add(time.Hour)
	login, err := s.CreateLogin(ctx, admin, []byte("old"), exp)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, reused := 0, 0
	for i := range n {
		wg.Go(func() {
			rot, err := s.RotateRefresh(ctx, []byte("old"), []byte{byte(i)}, exp)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("rotate: %v", err)
			case rot.Reused:
				reused++
			default:
				won++
				if rot.LoginID != login || rot.User.ID != admin.ID {
					t.Errorf("rotation %+v", rot)
				}
			}
		})
	}
	wg.Wait()
	if won != 1 || reused != n-1 {
		t.Fatalf("%d won, %d saw reuse; want 1 and %d", won, reused, n-1)
	}
	// The login is revoked: even the winner's new token is refused.
	for i := range n {
		if _, err := s.RotateRefresh(ctx, []byte{byte(i)}, []byte("next"), exp); !errors.Is(err, quiz.ErrUnauthorized) {
			t.Fatalf("token of a revoked login: %v", err)
		}
	}
}

func TestRefreshExpiresAndUnknownIsUnauthorized(t *testing.T) {
	pool, _ := testenv.Database(t)
	s := postgres.NewStore(pool)
	ctx := context.Background()
	admin := newSchool(t, s)
	if _, err := s.CreateLogin(ctx, admin, []byte("stale"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateRefresh(ctx, []byte("stale"), []byte("n1"), time.Now().Add(time.Hour)); !errors.Is(err, quiz.ErrUnauthorized) {
		t.Fatalf("expired: %v", err)
	}
	if _, err := s.RotateRefresh(ctx, []byte("unknown"), []byte("n2"), time.Now().Add(time.Hour)); !errors.Is(err, quiz.ErrUnauthorized) {
		t.Fatalf("unknown: %v", err)
	}
}

// Two enrolments creating the same new students at once both succeed and
// leave one account per email.
func TestEnrolConcurrently(t *testing.T) {
	pool, _ := testenv.Database(t)
	s := postgres.NewStore(pool)
	ctx := context.Background()
	admin := newSchool(t, s)
	c, err := s.CreateClassroom(ctx, quiz.Classroom{SchoolID: admin.SchoolID, TeacherID: admin.ID, Name: "C"})
	if err != nil {
		t.Fatal(err)
	}
	var list []quiz.Enrolment
	for range 20 {
		list = append(list, quiz.Enrolment{Name: "S", Email: "s" + testenv.RandomID() + "@x.org", PasswordHash: "h"})
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			users, err := s.Enrol(ctx, admin.SchoolID, c.ID, list)
			if err != nil || len(users) != len(list) {
				t.Errorf("enrol: %d users, %v", len(users), err)
			}
		})
	}
	wg.Wait()
	got, err := s.Classroom(ctx, admin.SchoolID, c.ID)
	if err != nil || got.StudentCount != 20 {
		t.Fatalf("student_count %d (%v), want 20", got.StudentCount, err)
	}
}

// Versions are immutable: editing adds one, reading an old one gives it as
// it was; concurrent edits get consecutive versions.
func TestQuizVersions(t *testing.T) {
	pool, _ := testenv.Database(t)
	s := postgres.NewStore(pool)
	ctx := context.Background()
	admin := newSchool(t, s)
	mk := func(title string) quiz.Quiz {
		return quiz.Quiz{SchoolID: admin.SchoolID, OwnerID: admin.ID, Title: title, Questions: []quiz.Question{
			quiz.NewQuestion("Q", quiz.KindSingle, []string{"A", "B"}, []int{1}, 20, 1000),
		}}
	}
	q, err := s.CreateQuiz(ctx, mk("v1"), admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			e := mk("edit")
			e.ID = q.ID
			if _, err := s.UpdateQuiz(ctx, e, admin.ID); err != nil {
				t.Errorf("update: %v", err)
			}
		})
	}
	wg.Wait()
	cur, err := s.Quiz(ctx, admin.SchoolID, q.ID)
	if err != nil || cur.Version != 6 || cur.Title != "edit" {
		t.Fatalf("current: v%d %q (%v)", cur.Version, cur.Title, err)
	}
	v1, err := s.QuizVersion(ctx, admin.SchoolID, q.ID, 1)
	if err != nil || v1.Title != "v1" || v1.Questions[0].ID != q.Questions[0].ID || v1.Questions[0].Correct[0] != q.Questions[0].Options[1].ID {
		t.Fatalf("version 1: %+v (%v)", v1, err)
	}
	other := newSchool(t, s)
	if _, err := s.Quiz(ctx, other.SchoolID, q.ID); !errors.Is(err, quiz.ErrNotFound) {
		t.Fatalf("another school reads the quiz: %v", err)
	}
	var events int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE school_id = $1`, admin.SchoolID).Scan(&events); err != nil || events != 6 {
		t.Fatalf("%d outbox events (%v), want 6", events, err)
	}
}

// Command seed loads data into a migrated Quizcast database. "seed demo"
// creates the demo school, idempotently: an admin who is also the teacher,
// a classroom of 30 students and a 5-question quiz covering every kind;
// then it prints the demo logins.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
)

// The demo school. The passwords are public: this is demo data.
const (
	schoolName      = "Quizcast Demo School"
	adminName       = "Ada Lovelace"
	adminEmail      = "teacher@demo.example.org"
	adminPassword   = "demo-teacher-pass"
	studentPassword = "demo-student-pass"
	studentCount    = 30
	classroomName   = "Demo class 7B"
	quizTitle       = "Fractions warm-up"
)

func studentEmail(i int) string { return fmt.Sprintf("student%02d@demo.example.org", i) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quizcast seed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) (string, bool), out io.Writer) error {
	if len(args) != 1 || args[0] != "demo" {
		return errors.New("usage: seed demo")
	}
	url, ok := getenv("DATABASE_URL")
	if !ok || url == "" {
		return errors.New("configuration: DATABASE_URL is required")
	}
	pool, err := postgres.Connect(ctx, url, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	d, err := demo(ctx, postgres.NewStore(pool))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, `Demo school %q (id %s)
  teacher/admin  %s  password %s
  students       %s .. %s  password %s
  classroom      %q (id %s), %d students
  quiz           %q (id %s), %d questions
`, schoolName, d.admin.SchoolID, adminEmail, adminPassword, studentEmail(1), studentEmail(studentCount), studentPassword,
		classroomName, d.classroom.ID, studentCount, quizTitle, d.quiz.ID, len(d.quiz.Questions))
	return nil
}

type seeded struct {
	admin     quiz.User
	classroom quiz.Classroom
	quiz      quiz.Quiz
}

// demo finds or creates each part of the demo school, so running it again
// (or after an interrupted run) completes it without duplicates.
func demo(ctx context.Context, store *postgres.Store) (seeded, error) {
	var d seeded
	var err error
	d.admin, _, err = store.UserByEmail(ctx, adminEmail)
	if errors.Is(err, quiz.ErrNotFound) {
		hash, herr := auth.HashPassword(adminPassword)
		if herr != nil {
			return d, herr
		}
		_, d.admin, err = store.CreateSchool(ctx, schoolName, quiz.User{Name: adminName, Email: adminEmail, Role: quiz.RoleAdmin}, hash)
	}
	if err != nil {
		return d, fmt.Errorf("demo admin: %w", err)
	}
	school := d.admin.SchoolID

	classrooms, _, err := store.Classrooms(ctx, school, quiz.ClassroomFilter{TeacherID: d.admin.ID}, quiz.Page{Limit: 200})
	if err != nil {
		return d, err
	}
	for _, c := range classrooms {
		if c.Name == classroomName {
			d.classroom = c
		}
	}
	if d.classroom.ID == "" {
		d.classroom, err = store.CreateClassroom(ctx, quiz.Classroom{SchoolID: school, TeacherID: d.admin.ID,
			Name: classroomName, Subject: "Mathematics", Grade: "7"})
		if err != nil {
			return d, err
		}
	}

	// The students share a password: one bcrypt hash serves them all.
	hash, err := auth.HashPassword(studentPassword)
	if err != nil {
		return d, err
	}
	list := make([]quiz.Enrolment, studentCount)
	for i := range list {
		list[i] = quiz.Enrolment{Name: fmt.Sprintf("Student %02d", i+1), Email: studentEmail(i + 1), PasswordHash: hash}
	}
	if _, err := store.Enrol(ctx, school, d.classroom.ID, list); err != nil {
		return d, err
	}

	quizzes, _, err := store.Quizzes(ctx, school, d.admin.ID, quiz.Page{Limit: 200})
	if err != nil {
		return d, err
	}
	for _, q := range quizzes {
		if q.Title == quizTitle {
			d.quiz, err = store.Quiz(ctx, school, q.ID)
			return d, err
		}
	}
	d.quiz, err = store.CreateQuiz(ctx, quiz.Quiz{SchoolID: school, OwnerID: d.admin.ID, Title: quizTitle,
		Description: "Five questions, every kind", Questions: []quiz.Question{
			quiz.NewQuestion("What is 1/2 + 1/4?", quiz.KindSingle, []string{"3/4", "2/6", "1/8", "1"}, []int{0}, 20, 1000),
			quiz.NewQuestion("Which fractions equal 1/2?", quiz.KindMulti, []string{"2/4", "3/6", "2/3", "5/10"}, []int{0, 1, 3}, 30, 1500),
			quiz.NewQuestion("1/3 is greater than 1/4.", quiz.KindTrueFalse, []string{"True", "False"}, []int{0}, 15, 1000),
			quiz.NewQuestion("What is 3/4 of 20?", quiz.KindSingle, []string{"12", "15", "16"}, []int{1}, 30, 1000),
			quiz.NewQuestion("How confident do you feel about fractions?", quiz.KindPoll, []string{"Very", "Somewhat", "Not yet"}, nil, 20, 0),
		}}, d.admin.ID)
	return d, err
}

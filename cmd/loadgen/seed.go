package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/quiz"
)

// Seeded is the credentials file: every account the load needs, with the
// one password they share (logins are not what the load measures; see the
// package comment for tokens).
type Seeded struct {
	Password   string            `json:"password"`
	Schools    []string          `json:"schools"`
	Classrooms []SeededClassroom `json:"classrooms"`
}

// SeededClassroom is one classroom, its teacher, the teacher's quiz and
// its students.
type SeededClassroom struct {
	ID           string       `json:"id"`
	SchoolID     string       `json:"school_id"`
	TeacherID    string       `json:"teacher_id"`
	TeacherEmail string       `json:"teacher_email"`
	QuizID       string       `json:"quiz_id"`
	Questions    []string     `json:"questions"`
	Students     []SeededUser `json:"students"`
}

// SeededUser is one student.
type SeededUser struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

func loadSeeded(path string) (Seeded, error) {
	var s Seeded
	raw, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(raw, &s)
}

func seedCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	classrooms := fs.Int("classrooms", 667, "classrooms (one teacher and one quiz each)")
	students := fs.Int("students", 30, "students per classroom")
	questions := fs.Int("questions", 60, "questions per quiz (1..100)")
	perSchool := fs.Int("classrooms-per-school", 50, "classrooms per school")
	out := fs.String("out", "credentials.json", "credentials file to write")
	fs.String("timeout", "5m", "give up after")
	_ = fs.Parse(args)
	if *classrooms < 1 || *classrooms > 5000 || *students < 1 || *students > 200 || *questions < 1 || *questions > 100 || *perSchool < 1 {
		return fmt.Errorf("seed: -classrooms 1..5000, -students 1..200, -questions 1..100")
	}
	ctx, cancel := bounded(ctx, fs)
	defer cancel()
	pool, err := openDB(ctx, 4)
	if err != nil {
		return err
	}
	defer pool.Close()

	started := time.Now()
	const password = "bench-password-1"
	// One bcrypt hash for every account: hashing 20,000 passwords at cost
	// 10 would take minutes on two cores and measures nothing.
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	s, rows := plan(*classrooms, *students, *questions, *perSchool, password, hash)
	if err := copyAll(ctx, pool, rows); err != nil {
		return err
	}
	if err := writeJSON(*out, s); err != nil {
		return err
	}
	fmt.Printf("seeded %d schools, %d classrooms, %d students, %d quizzes × %d questions in %s → %s\n",
		len(s.Schools), *classrooms, *classrooms**students, *classrooms, *questions, time.Since(started).Round(time.Millisecond), *out)
	return nil
}

// tableRows are the rows of one table for COPY.
type tableRows struct {
	table   string
	columns []string
	rows    [][]any
}

// plan builds every row in memory (a few MB) with ids chosen here, so the
// credentials file can name them.
func plan(classrooms, students, questions, perSchool int, password, hash string) (Seeded, []tableRows) {
	now := time.Now().UTC()
	s := Seeded{Password: password}
	schools := tableRows{table: "schools", columns: []string{"id", "name"}}
	users := tableRows{table: "users", columns: []string{"id", "school_id", "name", "email", "password_hash", "role"}}
	rooms := tableRows{table: "classrooms", columns: []string{"id", "school_id", "teacher_id", "name", "subject", "grade"}}
	enrol := tableRows{table: "enrolments", columns: []string{"school_id", "classroom_id", "student_id"}}
	quizzes := tableRows{table: "quizzes", columns: []string{"id", "school_id", "owner_id", "created_at", "updated_at"}}
	versions := tableRows{table: "quiz_versions", columns: []string{"school_id", "quiz_id", "version", "title", "created_at"}}
	qs := tableRows{table: "questions", columns: []string{"id", "school_id", "quiz_id", "quiz_version", "idx", "text", "kind", "options", "correct", "time_limit_s", "points"}}
	// A run tag keeps e-mails unique when seed runs twice on one database.
	tag := uuid.NewString()[:8]
	var school string
	for c := range classrooms {
		if c%perSchool == 0 {
			school = uuid.NewString()
			s.Schools = append(s.Schools, school)
			schools.rows = append(schools.rows, []any{school, fmt.Sprintf("Bench school %d", len(s.Schools))})
		}
		room := SeededClassroom{ID: uuid.NewString(), SchoolID: school, TeacherID: uuid.NewString(), QuizID: uuid.NewString()}
		room.TeacherEmail = fmt.Sprintf("t%d-%s@bench.quizcast.test", c, tag)
		users.rows = append(users.rows, []any{room.TeacherID, school, fmt.Sprintf("Teacher %d", c), room.TeacherEmail, hash, string(quiz.RoleTeacher)})
		rooms.rows = append(rooms.rows, []any{room.ID, school, room.TeacherID, fmt.Sprintf("Class %d", c), "Bench", "7"})
		for i := range students {
			u := SeededUser{ID: uuid.NewString(), Email: fmt.Sprintf("s%d-%d-%s@bench.quizcast.test", c, i, tag)}
			room.Students = append(room.Students, u)
			users.rows = append(users.rows, []any{u.ID, school, fmt.Sprintf("Student %d-%02d", c, i), u.Email, hash, string(quiz.RoleStudent)})
			enrol.rows = append(enrol.rows, []any{school, room.ID, u.ID})
		}
		quizzes.rows = append(quizzes.rows, []any{room.QuizID, school, room.TeacherID, now, now})
		versions.rows = append(versions.rows, []any{school, room.QuizID, 1, fmt.Sprintf("Bench quiz %d", c), now})
		for i := range questions {
			opts := make([]quiz.Option, 4)
			for o := range opts {
				opts[o] = quiz.Option{ID: uuid.NewString(), Text: fmt.Sprintf("Option %c", 'A'+o)}
			}
			id := uuid.NewString()
			room.Questions = append(room.Questions, id)
			qs.rows = append(qs.rows, []any{id, school, room.QuizID, 1, i, fmt.Sprintf("Question %d: which option is right?", i+1),
				string(quiz.KindSingle), opts, []string{opts[i%4].ID}, 20, 1000})
		}
		s.Classrooms = append(s.Classrooms, room)
	}
	return s, []tableRows{schools, users, rooms, enrol, quizzes, versions, qs}
}

// copyAll writes the tables in one transaction, in foreign-key order.
func copyAll(ctx context.Context, pool *pgxpool.Pool, tables []tableRows) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, t := range tables {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.table}, t.columns, pgx.CopyFromRows(t.rows)); err != nil {
				return fmt.Errorf("copy %s: %w", t.table, err)
			}
		}
		return nil
	})
}

package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// volume is a bulk-loaded data set of realistic shape for the plan checks
// and the refresh measurements: schools of 10 classrooms of 25 students, 10
// quizzes of 10 questions (8 single, 1 multi, 1 poll), sessions spread over
// 2026 in which ~80% of the class answers each question. It is written with
// COPY through the real partitioned tables.
type volume struct {
	schools []string
	// One of each subject, for the plans.
	school, admin, teacher, student, classroom, quiz, session string
	answers                                                   int
}

const (
	volClassrooms = 10
	volStudents   = 25
	volQuizzes    = 10
	volQuestions  = 10
)

func copyRows(t testing.TB, ctx context.Context, pool *pgxpool.Pool, table string, cols []string, rows [][]any) {
	t.Helper()
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows)); err != nil {
		t.Fatalf("copy %s: %v", table, err)
	}
}

// seedVolume loads about answers answers into nSchools schools.
func seedVolume(t testing.TB, pool *pgxpool.Pool, nSchools, answers int) *volume {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(42, uint64(answers)))
	start := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	span := time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC).Sub(start)
	if _, err := pool.Exec(ctx, `SELECT quizcast_ensure_partitions($1, $2)`, start, start.Add(span)); err != nil {
		t.Fatal(err)
	}
	v := &volume{}
	type class struct {
		id, school, teacher string
		students            []string
	}
	type quizRow struct {
		id, school string
		questions  []fxQuestion
	}
	var classes []class
	quizzesBySchool := map[string][]quizRow{}
	var schools, users, classrooms, enrolments, quizzes, versions, questions [][]any
	for s := range nSchools {
		school := uuid.NewString()
		v.schools = append(v.schools, school)
		schools = append(schools, []any{school, fmt.Sprintf("School %d", s)})
		admin := uuid.NewString()
		users = append(users, []any{admin, school, "Admin", admin + "@example.org", "x", "admin"})
		var teachers []string
		for range volClassrooms / 2 {
			id := uuid.NewString()
			teachers = append(teachers, id)
			users = append(users, []any{id, school, "Teacher", id + "@example.org", "x", "teacher"})
		}
		for c := range volClassrooms {
			cl := class{id: uuid.NewString(), school: school, teacher: teachers[c/2]}
			classrooms = append(classrooms, []any{cl.id, school, cl.teacher, fmt.Sprintf("Class %d", c)})
			for range volStudents {
				id := uuid.NewString()
				cl.students = append(cl.students, id)
				users = append(users, []any{id, school, fmt.Sprintf("Student %s", id[:8]), id + "@example.org", "x", "student"})
				enrolments = append(enrolments, []any{school, cl.id, id})
			}
			classes = append(classes, cl)
		}
		for qz := range volQuizzes {
			qr := quizRow{id: uuid.NewString(), school: school}
			quizzes = append(quizzes, []any{qr.id, school, teachers[qz%len(teachers)]})
			versions = append(versions, []any{school, qr.id, 1, fmt.Sprintf("Quiz %d", qz)})
			for i := range volQuestions {
				q := fxQuestion{ID: uuid.NewString(), Kind: "single", Options: []string{"a", "b", "c", "d"}, Correct: []string{"a"}, Points: 1000}
				switch i {
				case 8:
					q.Kind, q.Options, q.Correct = "multi", []string{"a", "b", "c"}, []string{"a", "b"}
				case 9:
					q.Kind, q.Options, q.Correct, q.Points = "poll", []string{"x", "y", "z"}, []string{}, 0
				}
				opts := make([]map[string]string, len(q.Options))
				for j, o := range q.Options {
					opts[j] = map[string]string{"id": o, "text": o}
				}
				raw, _ := json.Marshal(opts)
				questions = append(questions, []any{q.ID, school, qr.id, 1, i, fmt.Sprintf("Question %d", i), q.Kind, string(raw), q.Correct, 20, q.Points})
				qr.questions = append(qr.questions, q)
			}
			quizzesBySchool[school] = append(quizzesBySchool[school], qr)
		}
		if s == 0 {
			v.school, v.admin, v.teacher = school, admin, teachers[0]
		}
	}
	copyRows(t, ctx, pool, "schools", []string{"id", "name"}, schools)
	copyRows(t, ctx, pool, "users", []string{"id", "school_id", "name", "email", "password_hash", "role"}, users)
	copyRows(t, ctx, pool, "classrooms", []string{"id", "school_id", "teacher_id", "name"}, classrooms)
	copyRows(t, ctx, pool, "enrolments", []string{"school_id", "classroom_id", "student_id"}, enrolments)
	copyRows(t, ctx, pool, "quizzes", []string{"id", "school_id", "owner_id"}, quizzes)
	copyRows(t, ctx, pool, "quiz_versions", []string{"school_id", "quiz_id", "version", "title"}, versions)
	copyRows(t, ctx, pool, "questions", []string{"id", "school_id", "quiz_id", "quiz_version", "idx", "text", "kind", "options", "correct", "time_limit_s", "points"}, questions)
	v.classroom, v.student, v.quiz = classes[0].id, classes[0].students[0], quizzesBySchool[v.school][0].id

	// Sessions and their questions are few; the answers stream.
	perSession := volQuestions * volStudents * 8 / 10
	nSessions := max(1, answers/perSession)
	type session struct {
		id      string
		created time.Time
		class   class
		quiz    quizRow
		opened  []time.Time
	}
	sessions := make([]session, nSessions)
	var sessionRows, sqRows [][]any
	for i := range sessions {
		cl := classes[rng.IntN(len(classes))]
		qz := quizzesBySchool[cl.school][rng.IntN(volQuizzes)]
		started := start.Add(time.Duration(rng.Int64N(int64(span))))
		s := session{id: uuid.NewString(), created: started.Add(-2 * time.Minute), class: cl, quiz: qz}
		sessionRows = append(sessionRows, []any{s.id, cl.school, cl.id, qz.id, 1, cl.teacher, "ended", volQuestions, s.created, started, started.Add(30 * time.Minute)})
		for j, q := range qz.questions {
			at := started.Add(time.Duration(j+1) * time.Minute)
			s.opened = append(s.opened, at)
			sqRows = append(sqRows, []any{cl.school, s.id, j, q.ID, at, at.Add(20 * time.Second), at.Add(20 * time.Second)})
		}
		sessions[i] = s
		if cl.school == v.school && v.session == "" {
			v.session = s.id
		}
	}
	copyRows(t, ctx, pool, "sessions", []string{"id", "school_id", "classroom_id", "quiz_id", "quiz_version", "teacher_id", "state", "question_count", "created_at", "started_at", "ended_at"}, sessionRows)
	copyRows(t, ctx, pool, "session_questions", []string{"school_id", "session_id", "idx", "question_id", "opened_at", "deadline", "closed_at"}, sqRows)

	si, qi, sti := 0, 0, 0
	var row []any
	next := func() bool {
		for si < len(sessions) {
			s := sessions[si]
			for qi < volQuestions {
				q := s.quiz.questions[qi]
				for sti < volStudents {
					student := s.class.students[sti]
					sti++
					if rng.IntN(10) >= 8 {
						continue
					}
					ms := 500 + rng.IntN(18500)
					var choices []string
					var correct any
					points := 0
					switch q.Kind {
					case "poll":
						choices = []string{q.Options[rng.IntN(len(q.Options))]}
					case "multi":
						choices = []string{"a", "b"}
						if rng.IntN(2) == 0 {
							choices = []string{"a", "c"}[:1+rng.IntN(2)]
						}
					default:
						choices = []string{"a"}
						if rng.IntN(10) >= 6 {
							choices = []string{q.Options[1+rng.IntN(3)]}
						}
					}
					if q.Kind != "poll" {
						ok := len(choices) == len(q.Correct) && choices[0] == "a" && (len(choices) == 1 || choices[1] == "b")
						correct = ok
						if ok {
							points = int(math.Round(float64(q.Points) * (1 - 0.5*float64(ms)/20000)))
						}
					}
					row = []any{uuid.New(), s.class.school, s.id, s.created, s.class.id, s.quiz.id, q.ID, qi, student,
						choices, correct, points, s.opened[qi].Add(time.Duration(ms) * time.Millisecond), ms}
					v.answers++
					return true
				}
				qi, sti = qi+1, 0
			}
			si, qi = si+1, 0
		}
		return false
	}
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"answers"},
		[]string{"id", "school_id", "session_id", "session_created_at", "classroom_id", "quiz_id", "question_id", "question_idx",
			"student_id", "choices", "correct", "points", "received_at", "response_ms"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if !next() {
				return nil, nil
			}
			return row, nil
		}))
	if err != nil {
		t.Fatalf("copy answers: %v", err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	return v
}

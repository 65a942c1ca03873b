package httpapi_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/quizcast/quizcast/internal/policy"
	"github.com/quizcast/quizcast/internal/quiz"
)

// TestAccessMatrix runs every role against every classroom, roster and quiz
// endpoint of one school: admin, the classroom's teacher (who owns the
// quiz), another teacher of the school, an enrolled student, and the admin
// of another school.
func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, generous)
	n := e.node()
	s := n.school(t, "Matrix High")
	foreign := n.school(t, "Other Town").admin

	actors := []struct {
		name  string
		token string
	}{
		{"admin", s.admin.AccessToken},
		{"teacher", s.teacher.AccessToken},
		{"other teacher", s.other.AccessToken},
		{"student", s.student.AccessToken},
		{"other school", foreign.AccessToken},
	}
	c, q, st := "/api/v1/classrooms/"+s.classroom, "/api/v1/quizzes/"+s.quiz, s.student.User.ID
	enrol := map[string]any{"students": []map[string]string{{"name": "Stu Dent", "email": s.student.User.Email}}}
	newTeacher := func() any {
		return map[string]string{"name": "New", "email": email("new"), "password": password}
	}
	rows := []struct {
		method, path string
		body         func() any
		before       func()
		want         [5]int // admin, teacher, other teacher, student, other school
	}{
		{"GET", "/api/v1/classrooms", nil, nil, [5]int{200, 200, 200, 200, 200}},
		{"POST", "/api/v1/classrooms", func() any { return map[string]string{"name": "X"} }, nil, [5]int{201, 201, 201, 403, 201}},
		{"GET", c, nil, nil, [5]int{200, 200, 404, 200, 404}},
		{"POST", c + "/students", func() any { return enrol }, nil, [5]int{201, 201, 404, 403, 404}},
		{"GET", c + "/students", nil, nil, [5]int{200, 200, 404, 403, 404}},
		{"DELETE", c + "/students/" + st, nil, func() {
			want(t, n.do(t, "POST", c+"/students", s.teacher.AccessToken, enrol), http.StatusCreated)
		}, [5]int{204, 204, 404, 403, 404}},
		{"POST", "/api/v1/quizzes", func() any { return sampleQuiz() }, nil, [5]int{201, 201, 201, 403, 201}},
		{"GET", "/api/v1/quizzes", nil, nil, [5]int{200, 200, 200, 403, 200}},
		{"GET", q, nil, nil, [5]int{200, 200, 404, 403, 404}},
		{"PUT", q, func() any { return sampleQuiz() }, nil, [5]int{200, 200, 404, 403, 404}},
		{"DELETE", q, nil, nil, [5]int{204, 204, 404, 403, 404}},
		{"POST", "/api/v1/teachers", newTeacher, nil, [5]int{201, 403, 403, 403, 201}},
		{"GET", "/api/v1/me", nil, nil, [5]int{200, 200, 200, 200, 200}},
	}
	for _, row := range rows {
		for i, a := range actors {
			t.Run(row.method+" "+row.path+" as "+a.name, func(t *testing.T) {
				if row.before != nil {
					row.before()
				}
				var body any
				if row.body != nil {
					body = row.body()
				}
				r := want(t, n.do(t, row.method, row.path, a.token, body), row.want[i])
				if r.Status >= 400 {
					r.err(t)
				}
			})
		}
	}
}

// TestPolicyStudent checks the rule reports use for a student's data.
func TestPolicyStudent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, generous)
	n := e.node()
	s := n.school(t, "Policy School")
	x := n.school(t, "Other Policy School")
	p := policy.New(e.store)
	ctx := t.Context()
	cases := []struct {
		name    string
		caller  tokenJSON
		student string
		want    error
	}{
		{"admin", s.admin, s.student.User.ID, nil},
		{"teacher of the student", s.teacher, s.student.User.ID, nil},
		{"another teacher", s.other, s.student.User.ID, quiz.ErrNotFound},
		{"the student", s.student, s.student.User.ID, nil},
		{"another student", x.student, s.student.User.ID, quiz.ErrNotFound},
		{"another school's admin", x.admin, s.student.User.ID, quiz.ErrNotFound},
		{"admin asking about a teacher", s.admin, s.teacher.User.ID, quiz.ErrNotFound},
		{"not an id", s.admin, "nope", quiz.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			who, err := n.tokens.Parse(tc.caller.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Student(ctx, who, tc.student)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Student() = %v, want %v", err, tc.want)
			}
		})
	}
}

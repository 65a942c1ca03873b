package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"testing"
)

type classroomJSON struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Subject      string `json:"subject"`
	Grade        string `json:"grade"`
	TeacherID    string `json:"teacher_id"`
	SchoolID     string `json:"school_id"`
	StudentCount int    `json:"student_count"`
}

type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

var timeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestClassroomsAndRosters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, generous)
	n := e.node()
	s := n.school(t, "Roster Academy")
	tt := s.teacher.AccessToken

	var c classroomJSON
	want(t, n.do(t, "POST", "/api/v1/classrooms", tt, map[string]string{"name": "8A", "grade": "8"}), http.StatusCreated).decode(t, &c)
	if c.Name != "8A" || c.Grade != "8" || c.Subject != "" || c.TeacherID != s.teacher.User.ID || c.SchoolID != s.teacher.User.SchoolID {
		t.Fatalf("created %+v", c)
	}
	base := "/api/v1/classrooms/" + c.ID

	// Three new students and the existing one (from 7B); one email twice.
	existing := s.student.User.Email
	a, b, d := email("a"), email("b"), email("d")
	body := map[string]any{"students": []map[string]string{
		{"name": "Bea", "email": b, "password": password},
		{"name": "Abe", "email": a, "password": password},
		{"name": "Stu Dent", "email": existing},
		{"name": "Dee", "email": d, "password": password},
		{"name": "Bea again", "email": upper(b), "password": password},
	}}
	var enrolled list[userJSON]
	want(t, n.do(t, "POST", base+"/students", tt, body), http.StatusCreated).decode(t, &enrolled)
	if len(enrolled.Items) != 5 || enrolled.Items[2].ID != s.student.User.ID || enrolled.Items[0].ID != enrolled.Items[4].ID ||
		enrolled.Items[1].Role != "student" || enrolled.Items[1].SchoolID != c.SchoolID {
		t.Fatalf("enrolled %+v", enrolled.Items)
	}
	// Idempotent per email: again, nothing changes.
	want(t, n.do(t, "POST", base+"/students", tt, body), http.StatusCreated)
	// New students can log in with the password given.
	n.login(t, a)

	var got classroomJSON
	want(t, n.do(t, "GET", base, tt, nil), http.StatusOK).decode(t, &got)
	if got.StudentCount != 4 {
		t.Fatalf("student_count %d, want 4", got.StudentCount)
	}

	t.Run("roster pages in name order", func(t *testing.T) {
		var names []string
		cursor := ""
		for pages := 0; ; pages++ {
			var page list[userJSON]
			want(t, n.do(t, "GET", base+"/students?limit=3"+cursor, tt, nil), http.StatusOK).decode(t, &page)
			for _, u := range page.Items {
				names = append(names, u.Name)
			}
			if page.NextCursor == "" {
				if pages != 1 {
					t.Fatalf("%d pages, want 2", pages+1)
				}
				break
			}
			cursor = "&cursor=" + page.NextCursor
		}
		if want := []string{"Abe", "Bea", "Dee", "Stu Dent"}; !slices.Equal(names, want) {
			t.Fatalf("roster %v, want %v", names, want)
		}
	})

	t.Run("refused items", func(t *testing.T) {
		other := n.school(t, "Elsewhere")
		cases := []struct {
			name, field string
			student     map[string]string
		}{
			// An email that exists but cannot be enrolled here answers as a
			// new one would: no answer tells that it exists elsewhere.
			{"a teacher's email", "students[1].password", map[string]string{"name": "T", "email": s.other.User.Email}},
			{"another school's student", "students[1].password", map[string]string{"name": "X", "email": other.student.User.Email}},
			{"a teacher's email with a password", "students[1].email", map[string]string{"name": "T", "email": s.other.User.Email, "password": password}},
			{"another school's student with a password", "students[1].email", map[string]string{"name": "X", "email": other.student.User.Email, "password": password}},
			{"new without password", "students[1].password", map[string]string{"name": "New", "email": email("new")}},
			{"short password", "students[1].password", map[string]string{"name": "New", "email": email("new"), "password": "short"}},
			{"bad email", "students[1].email", map[string]string{"name": "New", "email": "nope", "password": password}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := want(t, n.do(t, "POST", base+"/students", tt, map[string]any{"students": []map[string]string{
					{"name": "Fine", "email": email("fine"), "password": password}, tc.student,
				}}), http.StatusUnprocessableEntity)
				if f := r.err(t).Error.Fields; f[tc.field] == "" || len(f) != 1 {
					t.Fatalf("fields %v, want %s", f, tc.field)
				}
			})
		}
		// Nothing of a refused request is kept.
		var again classroomJSON
		want(t, n.do(t, "GET", base, tt, nil), http.StatusOK).decode(t, &again)
		if again.StudentCount != 4 {
			t.Fatalf("student_count %d after refusals, want 4", again.StudentCount)
		}
		want(t, n.do(t, "POST", base+"/students", tt, map[string]any{"students": []any{}}), http.StatusUnprocessableEntity)
		many := make([]map[string]string, 201)
		for i := range many {
			many[i] = map[string]string{"name": "N", "email": fmt.Sprintf("n%d@example.org", i)}
		}
		r := want(t, n.do(t, "POST", base+"/students", tt, map[string]any{"students": many}), http.StatusUnprocessableEntity)
		if r.err(t).Error.Fields["students"] == "" {
			t.Fatalf("201 students: %s", r.Body)
		}
	})

	t.Run("lists by role", func(t *testing.T) {
		ids := func(token string) []string {
			var l list[classroomJSON]
			want(t, n.do(t, "GET", "/api/v1/classrooms", token, nil), http.StatusOK).decode(t, &l)
			var out []string
			for _, c := range l.Items {
				out = append(out, c.ID)
			}
			return out
		}
		if got := ids(s.teacher.AccessToken); !slices.Equal(got, []string{s.classroom, c.ID}) {
			t.Fatalf("teacher sees %v", got)
		}
		if got := ids(s.admin.AccessToken); !slices.Equal(got, []string{s.classroom, c.ID}) {
			t.Fatalf("admin sees %v", got)
		}
		if got := ids(s.other.AccessToken); len(got) != 0 {
			t.Fatalf("other teacher sees %v", got)
		}
		if got := ids(s.student.AccessToken); !slices.Equal(got, []string{s.classroom, c.ID}) {
			t.Fatalf("student sees %v", got)
		}
		var l list[classroomJSON]
		want(t, n.do(t, "GET", "/api/v1/classrooms?limit=1", s.admin.AccessToken, nil), http.StatusOK).decode(t, &l)
		if len(l.Items) != 1 || l.NextCursor == "" {
			t.Fatalf("limit=1: %+v", l)
		}
		next := l.NextCursor
		l = list[classroomJSON]{} // next_cursor is absent on the last page
		want(t, n.do(t, "GET", "/api/v1/classrooms?limit=1&cursor="+next, s.admin.AccessToken, nil), http.StatusOK).decode(t, &l)
		if len(l.Items) != 1 || l.Items[0].ID != c.ID || l.NextCursor != "" {
			t.Fatalf("second page: %+v", l)
		}
	})

	t.Run("unenrol", func(t *testing.T) {
		want(t, n.do(t, "DELETE", base+"/students/"+s.student.User.ID, tt, nil), http.StatusNoContent)
		want(t, n.do(t, "DELETE", base+"/students/"+s.student.User.ID, tt, nil), http.StatusNotFound)
		want(t, n.do(t, "DELETE", base+"/students/not-a-uuid", tt, nil), http.StatusNotFound)
		want(t, n.do(t, "GET", base, s.student.AccessToken, nil), http.StatusNotFound)
	})
}

type quizJSON struct {
	ID          string `json:"id"`
	Version     int    `json:"version"`
	Title       string `json:"title"`
	Description string `json:"description"`
	OwnerID     string `json:"owner_id"`
	CreatedAt   string `json:"created_at"`
	UpdatedAt   string `json:"updated_at"`
	ArchivedAt  string `json:"archived_at"`
	Questions   []struct {
		ID      string `json:"id"`
		Index   int    `json:"index"`
		Text    string `json:"text"`
		Kind    string `json:"kind"`
		Options []struct {
			ID   string `json:"id"`
			Text string `json:"text"`
		} `json:"options"`
		Correct    []int `json:"correct"`
		TimeLimitS int   `json:"time_limit_s"`
		Points     int   `json:"points"`
	} `json:"questions"`
}

func TestQuizzes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, generous)
	n := e.node()
	s := n.school(t, "Quiz School")
	tt := s.teacher.AccessToken

	var q quizJSON
	want(t, n.do(t, "POST", "/api/v1/quizzes", tt, sampleQuiz()), http.StatusCreated).decode(t, &q)
	if q.Version != 1 || q.Title != "Fractions" || q.Description != "Week 3" || q.OwnerID != s.teacher.User.ID ||
		!timeRE.MatchString(q.CreatedAt) || !timeRE.MatchString(q.UpdatedAt) || q.ArchivedAt != "" || len(q.Questions) != 4 {
		t.Fatalf("created %+v", q)
	}
	type expect struct {
		kind           string
		correct        []int
		limit, points  int
		options, index int
	}
	wants := []expect{
		{"single", []int{0}, 20, 1000, 3, 0},
		{"multi", []int{0, 1}, 30, 500, 3, 1},
		{"true_false", []int{0}, 20, 1000, 2, 2},
		{"poll", []int{}, 20, 0, 2, 3},
	}
	ids := map[string]bool{}
	for i, w := range wants {
		qu := q.Questions[i]
		if qu.Kind != w.kind || !slices.Equal(qu.Correct, w.correct) || qu.TimeLimitS != w.limit || qu.Points != w.points ||
			len(qu.Options) != w.options || qu.Index != w.index || qu.ID == "" {
			t.Fatalf("question %d: %+v, want %+v", i, qu, w)
		}
		ids[qu.ID] = true
		for _, o := range qu.Options {
			if o.ID == "" || ids[o.ID] {
				t.Fatalf("option ids not unique: %+v", qu.Options)
			}
			ids[o.ID] = true
		}
	}
	if q.Questions[0].Options[1].Text != "2/6" {
		t.Fatalf("options out of order: %+v", q.Questions[0].Options)
	}

	var got quizJSON
	want(t, n.do(t, "GET", "/api/v1/quizzes/"+q.ID, tt, nil), http.StatusOK).decode(t, &got)
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(q)
	if string(a) != string(b) {
		t.Fatalf("GET differs from create:\n%s\n%s", a, b)
	}

	// Update: a new version with new ids; version 1 is unchanged.
	edit := sampleQuiz()
	edit["title"] = "Fractions II"
	edit["questions"] = edit["questions"].([]map[string]any)[:2]
	var v2 quizJSON
	want(t, n.do(t, "PUT", "/api/v1/quizzes/"+q.ID, tt, edit), http.StatusOK).decode(t, &v2)
	if v2.Version != 2 || v2.ID != q.ID || v2.Title != "Fractions II" || len(v2.Questions) != 2 || v2.CreatedAt != q.CreatedAt ||
		v2.Questions[0].ID == q.Questions[0].ID {
		t.Fatalf("updated %+v", v2)
	}
	old, err := e.store.QuizVersion(t.Context(), s.teacher.User.SchoolID, q.ID, 1)
	if err != nil || old.Title != "Fractions" || len(old.Questions) != 4 || old.Questions[1].Correct[0] != q.Questions[1].Options[0].ID {
		t.Fatalf("version 1 after the edit: %+v, %v", old, err)
	}

	t.Run("events in the outbox", func(t *testing.T) {
		rows, err := e.pool.Query(t.Context(), `SELECT name, payload FROM outbox WHERE payload->>'quiz_id' = $1 ORDER BY id`, q.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var name string
			var ev struct {
				Name     string         `json:"name"`
				App      string         `json:"app"`
				SchoolID string         `json:"school_id"`
				UserID   string         `json:"user_id"`
				Data     map[string]int `json:"data"`
			}
			if err := rows.Scan(&name, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.App != "whiteboard" || ev.SchoolID != s.teacher.User.SchoolID || ev.UserID != s.teacher.User.ID {
				t.Fatalf("event %+v", ev)
			}
			got = append(got, fmt.Sprintf("%s v%d n%d", name, ev.Data["version"], ev.Data["question_count"]))
		}
		if want := []string{"quiz_created v1 n4", "quiz_updated v2 n2"}; !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
	})

	t.Run("lists: owner's, admin's, paged", func(t *testing.T) {
		// s.quiz (made by school()) and q are the teacher's; one of the other's.
		want(t, n.do(t, "POST", "/api/v1/quizzes", s.other.AccessToken, sampleQuiz()), http.StatusCreated)
		count := func(token, query string) (int, string) {
			var l list[map[string]any]
			want(t, n.do(t, "GET", "/api/v1/quizzes"+query, token, nil), http.StatusOK).decode(t, &l)
			return len(l.Items), l.NextCursor
		}
		if c, _ := count(tt, ""); c != 2 {
			t.Fatalf("teacher lists %d", c)
		}
		if c, _ := count(s.admin.AccessToken, ""); c != 3 {
			t.Fatalf("admin lists %d", c)
		}
		c, next := count(s.admin.AccessToken, "?limit=2")
		if c != 2 || next == "" {
			t.Fatalf("page 1: %d %q", c, next)
		}
		if c, next = count(s.admin.AccessToken, "?limit=2&cursor="+next); c != 1 || next != "" {
			t.Fatalf("page 2: %d %q", c, next)
		}
		var l list[struct {
			ID            string `json:"id"`
			Version       int    `json:"version"`
			QuestionCount int    `json:"question_count"`
		}]
		want(t, n.do(t, "GET", "/api/v1/quizzes?limit=200", tt, nil), http.StatusOK).decode(t, &l)
		if l.Items[1].ID != q.ID || l.Items[1].Version != 2 || l.Items[1].QuestionCount != 2 {
			t.Fatalf("summary %+v", l.Items[1])
		}
	})

	t.Run("archive", func(t *testing.T) {
		want(t, n.do(t, "DELETE", "/api/v1/quizzes/"+q.ID, tt, nil), http.StatusNoContent)
		want(t, n.do(t, "DELETE", "/api/v1/quizzes/"+q.ID, tt, nil), http.StatusNoContent)
		var l list[quizJSON]
		want(t, n.do(t, "GET", "/api/v1/quizzes", tt, nil), http.StatusOK).decode(t, &l)
		if len(l.Items) != 1 || l.Items[0].ID != s.quiz {
			t.Fatalf("list after archive: %+v", l.Items)
		}
		var a quizJSON
		want(t, n.do(t, "GET", "/api/v1/quizzes/"+q.ID, tt, nil), http.StatusOK).decode(t, &a)
		if !timeRE.MatchString(a.ArchivedAt) || a.Version != 2 {
			t.Fatalf("archived quiz: %+v", a)
		}
		r := want(t, n.do(t, "PUT", "/api/v1/quizzes/"+q.ID, tt, sampleQuiz()), http.StatusConflict)
		if r.err(t).Error.Code != "conflict" {
			t.Fatalf("edit archived: %s", r.Body)
		}
	})
}

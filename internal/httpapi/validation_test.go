package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestValidationAndErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, generous)
	n := e.node()
	_, addr := n.register(t, "Validation")
	tok := n.login(t, addr).AccessToken

	question := func(mod func(q map[string]any)) map[string]any {
		q := map[string]any{"text": "Q?", "kind": "single", "options": opts("A", "B"), "correct": []int{0}}
		mod(q)
		return map[string]any{"title": "T", "questions": []any{q}}
	}
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code, field        string
	}{
		{"register: bad email", "POST", "/api/v1/auth/register", map[string]string{"name": "A", "email": "nope", "password": password, "school_name": "S"}, 422, "validation_failed", "email"},
		{"register: short password", "POST", "/api/v1/auth/register", map[string]string{"name": "A", "email": email("a"), "password": "1234567", "school_name": "S"}, 422, "validation_failed", "password"},
		{"register: long password", "POST", "/api/v1/auth/register", map[string]string{"name": "A", "email": email("a"), "password": strings.Repeat("x", 129), "school_name": "S"}, 422, "validation_failed", "password"},
		{"register: missing school", "POST", "/api/v1/auth/register", map[string]string{"name": "A", "email": email("a"), "password": password}, 422, "validation_failed", "school_name"},
		{"register: unknown field", "POST", "/api/v1/auth/register", map[string]string{"name": "A", "email": email("a"), "password": password, "school_name": "S", "role": "admin"}, 422, "validation_failed", "role"},
		{"login: wrong type", "POST", "/api/v1/auth/login", `{"email": 5, "password": "x"}`, 422, "validation_failed", "email"},
		{"login: not JSON", "POST", "/api/v1/auth/login", `{"email":`, 400, "invalid_json", ""},
		{"login: empty body", "POST", "/api/v1/auth/login", "", 400, "invalid_json", ""},
		{"refresh: missing token", "POST", "/api/v1/auth/refresh", `{}`, 422, "validation_failed", "refresh_token"},
		{"classroom: empty name", "POST", "/api/v1/classrooms", map[string]string{"name": ""}, 422, "validation_failed", "name"},
		{"classrooms: limit 0", "GET", "/api/v1/classrooms?limit=0", nil, 422, "validation_failed", "limit"},
		{"classrooms: limit 201", "GET", "/api/v1/classrooms?limit=201", nil, 422, "validation_failed", "limit"},
		{"classrooms: limit x", "GET", "/api/v1/classrooms?limit=x", nil, 422, "validation_failed", "limit"},
		{"quizzes: bad cursor", "GET", "/api/v1/quizzes?cursor=abc", nil, 422, "validation_failed", "cursor"},
		{"quiz: no questions", "POST", "/api/v1/quizzes", map[string]any{"title": "T", "questions": []any{}}, 422, "validation_failed", "questions"},
		{"quiz: valid", "POST", "/api/v1/quizzes", question(func(q map[string]any) {}), 201, "", ""},
		{"quiz: title too long", "POST", "/api/v1/quizzes", map[string]any{"title": strings.Repeat("é", 201), "questions": question(func(map[string]any) {})["questions"]}, 422, "validation_failed", "title"},
		{"quiz: unknown kind", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["kind"] = "essay" }), 422, "validation_failed", "questions[0].kind"},
		{"quiz: one option", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["options"] = opts("A") }), 422, "validation_failed", "questions[0].options"},
		{"quiz: seven options", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["options"] = opts("1", "2", "3", "4", "5", "6", "7") }), 422, "validation_failed", "questions[0].options"},
		{"quiz: empty option", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["options"] = opts("A", "") }), 422, "validation_failed", "questions[0].options[1].text"},
		{"quiz: option id sent", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["options"] = []map[string]string{{"id": "x", "text": "A"}, {"text": "B"}} }), 422, "validation_failed", "id"},
		{"single: two correct", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["correct"] = []int{0, 1} }), 422, "validation_failed", "questions[0].correct"},
		{"single: none correct", "POST", "/api/v1/quizzes", question(func(q map[string]any) { delete(q, "correct") }), 422, "validation_failed", "questions[0].correct"},
		{"single: index out of range", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["correct"] = []int{2} }), 422, "validation_failed", "questions[0].correct"},
		{"single: negative index", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["correct"] = []int{-1} }), 422, "validation_failed", "questions[0].correct"},
		{"multi: none correct", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["kind"] = "multi"; q["correct"] = []int{} }), 422, "validation_failed", "questions[0].correct"},
		{"multi: repeated index", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["kind"] = "multi"; q["correct"] = []int{1, 1} }), 422, "validation_failed", "questions[0].correct"},
		{"true_false: other options", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["kind"] = "true_false"; q["options"] = opts("Yes", "No") }), 422, "validation_failed", "questions[0].options"},
		{"true_false: swapped", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["kind"] = "true_false"; q["options"] = opts("False", "True") }), 422, "validation_failed", "questions[0].options"},
		{"poll: correct given", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["kind"] = "poll" }), 422, "validation_failed", "questions[0].correct"},
		{"poll: points given", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["kind"] = "poll"; delete(q, "correct"); q["points"] = 10 }), 422, "validation_failed", "questions[0].points"},
		{"poll: points 0", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["kind"] = "poll"; q["correct"] = []int{}; q["points"] = 0 }), 201, "", ""},
		{"time limit 4", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["time_limit_s"] = 4 }), 422, "validation_failed", "questions[0].time_limit_s"},
		{"time limit 301", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["time_limit_s"] = 301 }), 422, "validation_failed", "questions[0].time_limit_s"},
		{"points 2001", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["points"] = 2001 }), 422, "validation_failed", "questions[0].points"},
		{"points fractional", "POST", "/api/v1/quizzes", question(func(q map[string]any) { q["points"] = 1.5 }), 422, "validation_failed", "questions.points"},
		{"body over 1 MiB", "POST", "/api/v1/quizzes", `{"title":"` + strings.Repeat("x", 1<<20) + `"}`, 413, "payload_too_large", ""},
		{"unknown route", "GET", "/api/v1/nothing", nil, 404, "not_found", ""},
		{"unknown quiz", "GET", "/api/v1/quizzes/8f7f4f1e-8a1c-4a0e-9d4e-2b6c1f1d9a11", nil, 404, "not_found", ""},
		{"malformed id", "GET", "/api/v1/quizzes/nope", nil, 404, "not_found", ""},
		{"wrong method", "PATCH", "/api/v1/quizzes", nil, 405, "not_found", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := want(t, n.do(t, tc.method, tc.path, tok, tc.body), tc.status)
			if tc.code == "" {
				return
			}
			eb := r.err(t)
			if eb.Error.Code != tc.code {
				t.Fatalf("code %q, want %q: %s", eb.Error.Code, tc.code, r.Body)
			}
			if tc.field != "" && eb.Error.Fields[tc.field] == "" {
				t.Fatalf("fields %v lack %q", eb.Error.Fields, tc.field)
			}
			if r.Header.Get("X-Request-ID") != eb.Error.RequestID {
				t.Fatalf("request id %q in body, %q in header", eb.Error.RequestID, r.Header.Get("X-Request-ID"))
			}
		})
	}
}

func TestPanicIsA500WithRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, generous)
	n := e.node()
	n.engine.GET("/test-panic", func(*gin.Context) { panic("boom") })
	req, _ := http.NewRequest("GET", n.URL+"/test-panic", nil)
	req.Header.Set("X-Request-ID", "req-123")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body errorBody
	r := reply{Status: res.StatusCode}
	if err := decodeJSON(res, &body); err != nil {
		t.Fatal(err)
	}
	if r.Status != 500 || body.Error.Code != "internal" || body.Error.RequestID != "req-123" || strings.Contains(body.Error.Message, "boom") {
		t.Fatalf("panic answered %d %+v", r.Status, body)
	}
}

// TestSocketWithoutUpgradeIs426: a plain GET of the WebSocket endpoint is
// refused in the error shape, before authentication.
func TestSocketWithoutUpgradeIs426(t *testing.T) {
	t.Parallel()
	n := newEnv(t, generous).node()
	r := want(t, n.do(t, "GET", "/api/v1/sessions/00000000-0000-0000-0000-000000000000/ws", "", nil), http.StatusUpgradeRequired)
	if e := r.err(t); e.Error.Code != "upgrade_required" {
		t.Fatalf("code %q", e.Error.Code)
	}
	if got := r.Header.Get("Upgrade"); got != "websocket" {
		t.Fatalf("Upgrade %q", got)
	}
}

package node_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/quizcast/quizcast/internal/client"
	"github.com/quizcast/quizcast/internal/config"
	"github.com/quizcast/quizcast/internal/httpapi"
	"github.com/quizcast/quizcast/internal/node"
	"github.com/quizcast/quizcast/internal/teststack"
)

// hostileCase is one request a hostile student or a clumsy client sends,
// with the status the docs promise for it.
type hostileCase struct {
	name        string
	method      string
	path        string
	token       string
	contentType string // "" sends none; defaults to application/json when body is set
	body        string
	want        int
	// field, when set, must be named in error.fields.
	field string
	// code, when set, is the wanted error.code.
	code string
}

// TestHostileInput sends malformed, oversized, mistyped, cross-tenant and
// forged requests to a real node (PostgreSQL, Redis, RabbitMQ) and checks
// each gets its documented status in the contract's error shape, that no
// 500 occurs, and that the node's goroutines return to their baseline.
func TestHostileInput(t *testing.T) {
	ctx := t.Context()
	cl := teststack.Start(t, 1, node.Options{})
	base := cl.URL(0)
	s := teststack.NewSchool(t, ctx, base, 1, teststack.FiveQuestions())
	admin := s.Teacher.Token
	student := s.Students[0]
	other := teststack.NewSchool(t, ctx, base, 1, teststack.FiveQuestions())
	sess, err := s.Teacher.CreateSession(ctx, s.Quiz.ID, s.Classroom.ID)
	if err != nil {
		t.Fatal(err)
	}
	otherSess, err := other.Teacher.CreateSession(ctx, other.Quiz.ID, other.Classroom.ID)
	if err != nil {
		t.Fatal(err)
	}
	// A plain teacher of the first school: the admin's session and quiz
	// are not theirs.
	teacherEmail := "t-" + sess.ID[:8] + "@school.example.org"
	if _, err := s.Teacher.Do(ctx, "POST", "/api/v1/teachers", map[string]string{"name": "Mr Other", "email": teacherEmail, "password": teststack.Password}, nil); err != nil {
		t.Fatal(err)
	}
	tl, err := client.New(base).Login(ctx, teacherEmail, teststack.Password)
	if err != nil {
		t.Fatal(err)
	}
	teacher := tl.AccessToken

	cid, qid, sid, uid := s.Classroom.ID, s.Quiz.ID, sess.ID, student.ID
	nul := `\u0000`
	cursor := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
	badCursors := map[string]string{
		"nul id":         cursor(`{"id":"` + uid[:35] + `\u0000"}`),
		"urn id":         cursor(`{"id":"urn:uuid:` + uid + `"}`),
		"braced id":      cursor(`{"id":"{` + uid + `}"}`),
		"int4 overflow":  cursor(`{"id":"` + uid + `","v":2147483648}`),
		"negative index": cursor(`{"id":"` + uid + `","i":-1}`),
		"nul text":       cursor(`{"id":"` + uid + `","s":"a\u0000b"}`),
		"unknown field":  cursor(`{"id":"` + uid + `","x":1}`),
		"not base64":     "!!!",
		"not json":       cursor("hello|world"),
		"year 10000":     cursor(`{"id":"` + uid + `","t":"10000-01-01T00:00:00Z"}`),
	}
	lists := []string{
		"/api/v1/classrooms", "/api/v1/quizzes", "/api/v1/classrooms/" + cid + "/students",
		"/api/v1/classrooms/" + cid + "/sessions", "/api/v1/reports/students/" + uid + "/performance",
		"/api/v1/reports/classrooms/" + cid + "/engagement", "/api/v1/reports/quizzes/" + qid + "/effectiveness",
		"/api/v1/reports/sessions/" + sid,
	}
	badIDs := map[string]string{
		"nul suffix":   uid + "%00",
		"urn form":     "urn:uuid:" + uid,
		"braced":       "%7B" + uid + "%7D",
		"no hyphens":   strings.ReplaceAll(uid, "-", ""),
		"one too long": uid + "0",
		"not hex":      "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
	}
	idPaths := []string{
		"/api/v1/classrooms/%s", "/api/v1/quizzes/%s", "/api/v1/sessions/%s", "/api/v1/classrooms/%s/students",
		"/api/v1/reports/students/%s/performance", "/api/v1/reports/classrooms/%s/engagement",
		"/api/v1/reports/quizzes/%s/effectiveness", "/api/v1/reports/sessions/%s",
	}

	quizWith := func(title, question, option string) string {
		return fmt.Sprintf(`{"title":"%s","questions":[{"text":"%s","kind":"single","options":[{"text":"%s"},{"text":"B"}],"correct":[0]}]}`, title, question, option)
	}
	cases := []hostileCase{
		// NUL in every kind of stored string: 422 naming the field.
		{name: "register name nul", method: "POST", path: "/api/v1/auth/register", body: `{"name":"A` + nul + `","email":"n1-` + uid[:8] + `@x.org","password":"` + teststack.Password + `","school_name":"S"}`, want: 422, field: "name"},
		{name: "register school nul", method: "POST", path: "/api/v1/auth/register", body: `{"name":"A","email":"n2-` + uid[:8] + `@x.org","password":"` + teststack.Password + `","school_name":"S` + nul + `"}`, want: 422, field: "school_name"},
		{name: "login email nul", method: "POST", path: "/api/v1/auth/login", body: `{"email":"a` + nul + `@x.org","password":"whatever1"}`, want: 422, field: "email"},
		{name: "classroom name nul", method: "POST", path: "/api/v1/classrooms", token: admin, body: `{"name":"7` + nul + `B"}`, want: 422, field: "name"},
		{name: "classroom subject nul", method: "POST", path: "/api/v1/classrooms", token: admin, body: `{"name":"7B","subject":"M` + nul + `"}`, want: 422, field: "subject"},
		{name: "classroom grade nul", method: "POST", path: "/api/v1/classrooms", token: admin, body: `{"name":"7B","grade":"` + nul + `"}`, want: 422, field: "grade"},
		{name: "quiz title nul", method: "POST", path: "/api/v1/quizzes", token: admin, body: quizWith("T"+nul, "Q", "A"), want: 422, field: "title"},
		{name: "question text nul", method: "POST", path: "/api/v1/quizzes", token: admin, body: quizWith("T", "Q"+nul, "A"), want: 422, field: "questions[0].text"},
		{name: "option text nul", method: "POST", path: "/api/v1/quizzes", token: admin, body: quizWith("T", "Q", "A"+nul), want: 422, field: "questions[0].options[0].text"},
		{name: "quiz update nul", method: "PUT", path: "/api/v1/quizzes/" + qid, token: admin, body: quizWith("T"+nul, "Q", "A"), want: 422, field: "title"},
		{name: "student name nul", method: "POST", path: "/api/v1/classrooms/" + cid + "/students", token: admin, body: `{"students":[{"name":"S` + nul + `","email":"s-` + uid[:8] + `@x.org","password":"` + teststack.Password + `"}]}`, want: 422, field: "students[0].name"},
		{name: "answer question id nul", method: "POST", path: "/api/v1/sessions/" + sid + "/answers", token: student.Token, body: `{"question_id":"` + nul + `","choices":["x"]}`, want: 422, field: "question_id"},
		{name: "teacher name nul", method: "POST", path: "/api/v1/teachers", token: admin, body: `{"name":"` + nul + `","email":"t2-` + uid[:8] + `@x.org","password":"` + teststack.Password + `"}`, want: 422, field: "name"},
		// Invalid UTF-8 is replaced by the JSON decoder, never a 500.
		{name: "classroom name invalid utf-8", method: "POST", path: "/api/v1/classrooms", token: admin, body: "{\"name\":\"7\xff\xfeB\"}", want: 201},
		// Only spaces, trimmed then required.
		{name: "classroom name spaces", method: "POST", path: "/api/v1/classrooms", token: admin, body: `{"name":"   "}`, want: 422, field: "name"},
		{name: "quiz title spaces", method: "POST", path: "/api/v1/quizzes", token: admin, body: quizWith(`  \t `, "Q", "A"), want: 422, field: "title"},
		{name: "register common password", method: "POST", path: "/api/v1/auth/register", body: `{"name":"A","email":"p-` + uid[:8] + `@x.org","password":"aaaaaaaa","school_name":"S"}`, want: 422, field: "password"},
		{name: "register password list", method: "POST", path: "/api/v1/auth/register", body: `{"name":"A","email":"p2-` + uid[:8] + `@x.org","password":"Password123","school_name":"S"}`, want: 422, field: "password"},
		// Content types.
		{name: "login text/plain", method: "POST", path: "/api/v1/auth/login", contentType: "text/plain", body: `{"email":"a@x.org","password":"whatever1"}`, want: 415, code: "unsupported_media_type"},
		{name: "register form", method: "POST", path: "/api/v1/auth/register", contentType: "application/x-www-form-urlencoded", body: `name=a`, want: 415, code: "unsupported_media_type"},
		{name: "refresh multipart", method: "POST", path: "/api/v1/auth/refresh", contentType: "multipart/form-data; boundary=x", body: "--x--", want: 415, code: "unsupported_media_type"},
		{name: "login no content type", method: "POST", path: "/api/v1/auth/login", contentType: "-", body: `{"email":"a@x.org","password":"whatever1"}`, want: 415, code: "unsupported_media_type"},
		{name: "login empty no type", method: "POST", path: "/api/v1/auth/login", contentType: "-", want: 415, code: "unsupported_media_type"},
		{name: "classroom text/csv", method: "POST", path: "/api/v1/classrooms", token: admin, contentType: "text/csv", body: "name\n7B", want: 415, code: "unsupported_media_type"},
		{name: "json with charset, mixed case", method: "POST", path: "/api/v1/auth/login", contentType: "Application/JSON; charset=UTF-8", body: `{"email":"nobody-` + uid[:8] + `@x.org","password":"whatever1"}`, want: 401},
		{name: "session command without body", method: "POST", path: "/api/v1/sessions/" + sid + "/start", token: teacher, contentType: "-", want: 404},
		{name: "session command text body", method: "POST", path: "/api/v1/sessions/" + sid + "/start", token: admin, contentType: "text/plain", body: "go", want: 415},
		{name: "logout without body", method: "POST", path: "/api/v1/auth/logout", token: teacherTokenForLogout(t, ctx, base, teacherEmail), contentType: "-", want: 204},
		// Oversize and deeply nested bodies.
		{name: "body over 1 MiB", method: "POST", path: "/api/v1/classrooms", token: admin, body: `{"name":"` + strings.Repeat("a", 1<<20) + `"}`, want: 413, code: "payload_too_large"},
		{name: "deeply nested", method: "POST", path: "/api/v1/quizzes", token: admin, body: strings.Repeat("[", 100000) + strings.Repeat("]", 100000), want: 400, code: "invalid_json"},
		{name: "nested object field", method: "POST", path: "/api/v1/classrooms", token: admin, body: `{"name":{"a":{"b":{"c":[1,2,3]}}}}`, want: 422, field: "name"},
		{name: "trailing garbage", method: "POST", path: "/api/v1/classrooms", token: admin, body: `{"name":"a"} {"name":"b"}`, want: 400},
		// Token confusion.
		{name: "refresh token as bearer", method: "GET", path: "/api/v1/me", token: "not-a-jwt-refresh-token-value", want: 401},
		{name: "alg none", method: "GET", path: "/api/v1/me", token: forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, s, "admin"), want: 401},
		{name: "published dev secret", method: "GET", path: "/api/v1/me", token: forge(t, jwt.SigningMethodHS256, []byte("dev-only-secret-change-me-0123456789abcdef"), s, "admin"), want: 401},
		{name: "empty bearer", method: "GET", path: "/api/v1/me", token: " ", want: 401},
		{name: "ticket as bearer", method: "GET", path: "/api/v1/classrooms", token: "AAAA.BBBB.CCCC", want: 401},
		// Cross-school and cross-teacher ids: 404, never data, never 403.
		{name: "other school classroom", method: "GET", path: "/api/v1/classrooms/" + other.Classroom.ID, token: admin, want: 404},
		{name: "other school quiz", method: "GET", path: "/api/v1/quizzes/" + other.Quiz.ID, token: admin, want: 404},
		{name: "other school session", method: "GET", path: "/api/v1/sessions/" + otherSess.ID, token: admin, want: 404},
		{name: "other school roster", method: "GET", path: "/api/v1/classrooms/" + other.Classroom.ID + "/students", token: admin, want: 404},
		{name: "other school engagement", method: "GET", path: "/api/v1/reports/classrooms/" + other.Classroom.ID + "/engagement", token: admin, want: 404},
		{name: "other school student performance", method: "GET", path: "/api/v1/reports/students/" + other.Students[0].ID + "/performance", token: admin, want: 404},
		{name: "other school session command", method: "POST", path: "/api/v1/sessions/" + otherSess.ID + "/start", token: admin, contentType: "-", want: 404},
		{name: "other teacher session", method: "GET", path: "/api/v1/sessions/" + sid, token: teacher, want: 404},
		{name: "other teacher effectiveness", method: "GET", path: "/api/v1/reports/quizzes/" + qid + "/effectiveness", token: teacher, want: 404},
		{name: "other teacher quiz", method: "GET", path: "/api/v1/quizzes/" + qid, token: teacher, want: 404},
		{name: "other teacher session report", method: "GET", path: "/api/v1/reports/sessions/" + sid, token: teacher, want: 404},
		{name: "other teacher student performance", method: "GET", path: "/api/v1/reports/students/" + uid + "/performance", token: teacher, want: 404},
		{name: "student reads classmate engagement", method: "GET", path: "/api/v1/reports/classrooms/" + cid + "/engagement", token: student.Token, want: 404},
		{name: "metrics not on the API", method: "GET", path: "/metrics", want: 404},
		{name: "uppercase id works", method: "GET", path: "/api/v1/classrooms/" + strings.ToUpper(cid), token: admin, want: 200},
	}
	for name, c := range badCursors {
		for _, l := range lists {
			cases = append(cases, hostileCase{name: "cursor " + name + " on " + l, method: "GET", path: l + "?cursor=" + c, token: admin, want: 422, field: "cursor"})
		}
	}
	for name, id := range badIDs {
		for _, p := range idPaths {
			cases = append(cases, hostileCase{name: "id " + name + " in " + p, method: "GET", path: fmt.Sprintf(p, id), token: admin, want: 404, code: "not_found"})
		}
	}
	cases = append(cases,
		hostileCase{name: "user id nul on unenrol", method: "DELETE", path: "/api/v1/classrooms/" + cid + "/students/" + uid + "%00", token: admin, want: 404},
		hostileCase{name: "user id urn on kick", method: "DELETE", path: "/api/v1/sessions/" + sid + "/participants/urn:uuid:" + uid, token: admin, want: 404},
		hostileCase{name: "socket id nul", method: "GET", path: "/api/v1/sessions/" + sid + "%00/ws", token: admin, want: 404},
	)

	hc := &http.Client{Timeout: time.Minute}
	baseline := runtime.NumGoroutine()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, hdr := send(t, ctx, hc, base, tc)
			if status == http.StatusInternalServerError {
				t.Fatalf("500: %s", body)
			}
			if status != tc.want {
				t.Fatalf("status %d, want %d: %.300s", status, tc.want, body)
			}
			if hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("X-Frame-Options") != "DENY" || !strings.Contains(hdr.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Fatalf("security headers missing: %v", hdr)
			}
			if status < 400 {
				return
			}
			var e httpapi.ErrorBody
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" || e.Error.RequestID == "" {
				t.Fatalf("not the error shape: %.300s", body)
			}
			if tc.code != "" && string(e.Error.Code) != tc.code {
				t.Fatalf("code %s, want %s", e.Error.Code, tc.code)
			}
			if tc.field != "" && e.Error.Fields[tc.field] == "" {
				t.Fatalf("fields %v do not name %s", e.Error.Fields, tc.field)
			}
		})
	}
	if len(cases) < 60 {
		t.Fatalf("%d cases, want at least 60", len(cases))
	}

	t.Run("websocket frames", func(t *testing.T) {
		sock := teststack.Dial(t, ctx, base, student.Token, sid, client.DialOptions{})
		teststack.Expect(t, ctx, sock, "welcome")
		for _, raw := range []string{`{"type":`, `{"type":"answer","id":"1","data":{"question_id":"\u0000","choices":["\u0000"]}}`, `{"type":"nope"}`, `[[[[[[[[[[]]]]]]]]]]`} {
			if err := sock.WS.Write(ctx, websocket.MessageText, []byte(raw)); err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			f, err := sock.Next(rctx)
			cancel()
			if err != nil {
				t.Fatalf("frame %q: no answer: %v", raw, err)
			}
			if f.Type != "error" && f.Type != "answer.rejected" {
				t.Fatalf("frame %q: answered %s %s", raw, f.Type, f.Data)
			}
		}
		// Invalid UTF-8 closes with 1007, a binary frame with 1003.
		if err := sock.WS.Write(ctx, websocket.MessageText, []byte("{\"type\":\"ping\",\"id\":\"\xff\"}")); err != nil {
			t.Fatal(err)
		}
		waitDone(t, sock)
		if st := sock.CloseStatus(); st != websocket.StatusInvalidFramePayloadData {
			t.Fatalf("invalid UTF-8: close %d, want 1007", st)
		}
		bin := teststack.Dial(t, ctx, base, student.Token, sid, client.DialOptions{})
		teststack.Expect(t, ctx, bin, "welcome")
		if err := bin.WS.Write(ctx, websocket.MessageBinary, []byte{0}); err != nil {
			t.Fatal(err)
		}
		waitDone(t, bin)
		if st := bin.CloseStatus(); st != websocket.StatusUnsupportedData {
			t.Fatalf("binary: close %d, want 1003", st)
		}
	})

	t.Run("slow client", func(t *testing.T) {
		// A trickled body is cut at the read timeout (short here; the
		// production default is HTTP_READ_TIMEOUT).
		cfg := config.Server{HTTPAddr: "127.0.0.1:0", ReadTimeout: time.Second, WriteTimeout: 2 * time.Second, IdleTimeout: time.Second}
		srv := node.HTTPServer(cfg, cl.Nodes[0].Node.Handler)
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		data, _ := io.ReadAll(conn) // returns when the server closes
		if bytes.Contains(data, []byte(" 200 ")) {
			t.Fatalf("a trickled request was served: %s", data)
		}
		// An idle keep-alive connection is closed too.
		idle, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close()
		fmt.Fprintf(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = idle.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadAll(idle); err != nil {
			t.Fatalf("idle connection not closed by the server: %v", err)
		}
	})

	hc.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline+5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline+5 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after the suite, %d before:\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
	}
}

func send(t *testing.T, ctx context.Context, hc *http.Client, base string, tc hostileCase) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if tc.body != "" {
		rd = strings.NewReader(tc.body)
	}
	req, err := http.NewRequestWithContext(ctx, tc.method, base+tc.path, rd)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case tc.contentType == "-":
	case tc.contentType != "":
		req.Header.Set("Content-Type", tc.contentType)
	case tc.body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	if tc.token != "" {
		req.Header.Set("Authorization", "Bearer "+tc.token)
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, body, res.Header
}

// forge signs an admin token for the school with key and method.
func forge(t *testing.T, m jwt.SigningMethod, key any, s teststack.School, role string) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewWithClaims(m, jwt.MapClaims{
		"iss": "quizcast", "sub": s.TeacherID, "sch": s.TeacherID, "role": role, "sid": s.TeacherID,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// teacherTokenForLogout logs the teacher in once more: logout spends it.
func teacherTokenForLogout(t *testing.T, ctx context.Context, base, email string) string {
	t.Helper()
	l, err := client.New(base).Login(ctx, email, teststack.Password)
	if err != nil {
		t.Fatal(err)
	}
	return l.AccessToken
}

func waitDone(t *testing.T, s *client.Socket) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the socket was not closed")
	}
}

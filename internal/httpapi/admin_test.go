package httpapi_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/testenv"
)

type auditPage struct {
	Items []struct {
		ID          string  `json:"id"`
		At          string  `json:"at"`
		ActorID     *string `json:"actor_id"`
		Action      string  `json:"action"`
		SubjectType string  `json:"subject_type"`
		SubjectID   *string `json:"subject_id"`
		RequestID   string  `json:"request_id"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// audited returns the actions recorded about subject, newest first.
func (n *node) audited(t *testing.T, adminToken, subject string) []string {
	t.Helper()
	var p auditPage
	want(t, n.do(t, "GET", "/api/v1/audit?subject_id="+subject, adminToken, nil), http.StatusOK).decode(t, &p)
	var out []string
	for _, e := range p.Items {
		out = append(out, e.Action)
	}
	return out
}

func TestUsersListDeactivateRename(t *testing.T) {
	t.Parallel()
	e := newEnv(t, generous)
	n := e.node()
	s := n.school(t, "Users High")
	adm := s.admin.AccessToken

	var list struct {
		Items []struct {
			userJSON
			Active bool `json:"active"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	want(t, n.do(t, "GET", "/api/v1/users?role=teacher", adm, nil), http.StatusOK).decode(t, &list)
	if len(list.Items) != 2 || list.Items[0].Role != "teacher" || !list.Items[0].Active {
		t.Fatalf("teachers: %+v", list.Items)
	}
	want(t, n.do(t, "GET", "/api/v1/users?q=STU%20d", adm, nil), http.StatusOK).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != s.student.User.ID {
		t.Fatalf("q by name: %+v", list.Items)
	}
	at := strings.Index(s.student.User.Email, "@")
	want(t, n.do(t, "GET", "/api/v1/users?q="+strings.ToUpper(s.student.User.Email[at-6:at]), adm, nil), http.StatusOK).decode(t, &list)
	if len(list.Items) != 1 {
		t.Fatalf("q by email: %+v", list.Items)
	}
	want(t, n.do(t, "GET", "/api/v1/users?limit=2", adm, nil), http.StatusOK).decode(t, &list)
	if len(list.Items) != 2 || list.NextCursor == "" {
		t.Fatalf("paging: %+v", list)
	}
	for _, q := range []string{"role=owner", "limit=0", "cursor=zzz"} {
		want(t, n.do(t, "GET", "/api/v1/users?"+q, adm, nil), http.StatusUnprocessableEntity).err(t)
	}

	// Rename.
	r := want(t, n.do(t, "PATCH", "/api/v1/users/"+s.student.User.ID, adm, map[string]any{"name": "Stu Renamed"}), http.StatusOK)
	var u struct {
		userJSON
		Active bool `json:"active"`
	}
	r.decode(t, &u)
	if u.Name != "Stu Renamed" || !u.Active {
		t.Fatalf("renamed: %+v", u)
	}
	for _, body := range []string{`{"name": ""}`, `{"active": "no"}`, `{"role": "admin"}`, `{`} {
		if r := n.do(t, "PATCH", "/api/v1/users/"+s.student.User.ID, adm, body); r.Status != 422 && r.Status != 400 {
			t.Fatalf("%s: %d %s", body, r.Status, r.Body)
		}
	}

	// Deactivate: tokens, refresh and logins refused; self is 409.
	want(t, n.do(t, "PATCH", "/api/v1/users/"+s.admin.User.ID, adm, map[string]any{"active": false}), http.StatusConflict).err(t)
	stu := n.login(t, s.student.User.Email)
	want(t, n.do(t, "PATCH", "/api/v1/users/"+s.student.User.ID, adm, map[string]any{"active": false}), http.StatusOK).decode(t, &u)
	if u.Active {
		t.Fatal("still active")
	}
	want(t, n.do(t, "GET", "/api/v1/me", stu.AccessToken, nil), http.StatusUnauthorized)
	want(t, n.do(t, "GET", "/api/v1/me", s.student.AccessToken, nil), http.StatusUnauthorized)
	want(t, e.node().do(t, "GET", "/api/v1/me", stu.AccessToken, nil), http.StatusUnauthorized)
	want(t, n.do(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": stu.RefreshToken}), http.StatusUnauthorized)
	if r := n.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": s.student.User.Email, "password": password}); r.Status != http.StatusForbidden || r.err(t).Error.Code != "forbidden" {
		t.Fatalf("login of a deactivated user: %d %s", r.Status, r.Body)
	}
	want(t, n.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": s.student.User.Email, "password": "wrong password"}), http.StatusUnauthorized)

	// Reactivate: logins work again, the revoked ones stay revoked.
	want(t, n.do(t, "PATCH", "/api/v1/users/"+s.student.User.ID, adm, map[string]any{"active": true}), http.StatusOK)
	n.login(t, s.student.User.Email)
	want(t, n.do(t, "GET", "/api/v1/me", stu.AccessToken, nil), http.StatusUnauthorized)

	got := n.audited(t, adm, s.student.User.ID)
	if strings.Join(got, ",") != "user.reactivated,user.deactivated,user.renamed" {
		t.Fatalf("audit: %v", got)
	}
	// Another school's user is not found.
	foreign := n.school(t, "Elsewhere")
	want(t, n.do(t, "PATCH", "/api/v1/users/"+foreign.student.User.ID, adm, map[string]any{"active": false}), http.StatusNotFound).err(t)
	want(t, n.do(t, "PATCH", "/api/v1/users/not-an-id", adm, map[string]any{"active": false}), http.StatusNotFound).err(t)
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t, generous)
	n := e.node()
	s := n.school(t, "Reset High")
	stranger := n.user(t, s.admin.User.SchoolID, quiz.RoleStudent, "Not In Class")

	var code struct {
		ResetCode string `json:"reset_code"`
		ExpiresIn int    `json:"expires_in"`
	}
	path := "/api/v1/users/" + s.student.User.ID + "/password-reset"
	want(t, n.do(t, "POST", path, s.teacher.AccessToken, nil), http.StatusOK).decode(t, &code)
	if code.ResetCode == "" || code.ExpiresIn != 86400 {
		t.Fatalf("code: %+v", code)
	}
	older := code.ResetCode
	want(t, n.do(t, "POST", "/api/v1/users/"+stranger.ID+"/password-reset", s.teacher.AccessToken, nil), http.StatusForbidden).err(t)
	want(t, n.do(t, "POST", "/api/v1/users/"+s.other.User.ID+"/password-reset", s.teacher.AccessToken, nil), http.StatusForbidden).err(t)
	want(t, n.do(t, "POST", path, s.student.AccessToken, nil), http.StatusForbidden).err(t)
	want(t, n.do(t, "POST", path, s.other.AccessToken, nil), http.StatusForbidden).err(t)
	foreign := n.school(t, "Reset Elsewhere")
	want(t, n.do(t, "POST", path, foreign.admin.AccessToken, nil), http.StatusNotFound).err(t)
	// A new code voids the older one.
	want(t, n.do(t, "POST", path, s.admin.AccessToken, nil), http.StatusOK).decode(t, &code)

	live := n.login(t, s.student.User.Email)
	redeem := func(c, pw string) reply {
		return n.do(t, "POST", "/api/v1/auth/password-reset", "", map[string]string{
			"email": strings.ToUpper(s.student.User.Email), "reset_code": c, "new_password": pw})
	}
	want(t, redeem(older, "new password 1"), http.StatusUnauthorized).err(t)
	want(t, redeem("nonsense", "new password 1"), http.StatusUnauthorized).err(t)
	want(t, redeem(code.ResetCode, "short"), http.StatusUnprocessableEntity).err(t)
	// The failures spent nothing.
	want(t, redeem(code.ResetCode, "new password 1"), http.StatusNoContent)
	want(t, redeem(code.ResetCode, "new password 2"), http.StatusUnauthorized).err(t)
	want(t, n.do(t, "GET", "/api/v1/me", live.AccessToken, nil), http.StatusUnauthorized)
	want(t, n.do(t, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": live.RefreshToken}), http.StatusUnauthorized)
	want(t, n.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": s.student.User.Email, "password": password}), http.StatusUnauthorized)
	want(t, n.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": s.student.User.Email, "password": "new password 1"}), http.StatusOK)
	want(t, n.do(t, "POST", "/api/v1/auth/password-reset", "", map[string]string{
		"email": email("nobody"), "reset_code": code.ResetCode, "new_password": "new password 3"}), http.StatusUnauthorized).err(t)

	got := n.audited(t, s.admin.AccessToken, s.student.User.ID)
	if strings.Join(got, ",") != "user.password_reset_used,user.password_reset_issued,user.password_reset_issued" {
		t.Fatalf("audit: %v", got)
	}
	var p auditPage
	want(t, n.do(t, "GET", "/api/v1/audit?actor_id="+s.student.User.ID, s.admin.AccessToken, nil), http.StatusOK).decode(t, &p)
	if len(p.Items) != 1 || p.Items[0].Action != "user.password_reset_used" || p.Items[0].RequestID == "" {
		t.Fatalf("actor of password_reset_used: %+v", p.Items)
	}
}

func TestPasswordResetFailuresAreRateLimited(t *testing.T) {
	t.Parallel()
	limits := generous
	limits.LoginFailuresPerAccount = 3
	e := newEnv(t, limits)
	n := e.node()
	s := n.school(t, "Limit High")
	for range 3 {
		want(t, n.do(t, "POST", "/api/v1/auth/password-reset", "", map[string]string{
			"email": s.student.User.Email, "reset_code": "guess", "new_password": "new password 1"}), http.StatusUnauthorized)
	}
	r := n.do(t, "POST", "/api/v1/auth/password-reset", "", map[string]string{
		"email": s.student.User.Email, "reset_code": "guess", "new_password": "new password 1"})
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("after 3 failures: %d %s", r.Status, r.Body)
	}
	// Failed resets count as failed logins of the email.
	want(t, n.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": s.student.User.Email, "password": password}), http.StatusTooManyRequests)
}

type importResult struct {
	Created   int `json:"created"`
	Enrolled  int `json:"enrolled"`
	Unchanged int `json:"unchanged"`
	Errors    []struct {
		Row     int    `json:"row"`
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

func TestRosterImport(t *testing.T) {
	t.Parallel()
	e := newEnv(t, generous)
	n := e.node()
	s := n.school(t, "Import High")
	foreign := n.school(t, "Import Elsewhere")
	path := "/api/v1/classrooms/" + s.classroom + "/students/import"
	post := func(body string) reply {
		return n.doRaw(t, "POST", path, s.teacher.AccessToken, "text/csv; charset=utf-8", strings.NewReader(body))
	}
	a, b, c := email("a"), email("b"), email("c")
	// BOM, CRLF, header in another order and case, quoted fields with a
	// comma and a newline, a row without password (reset-code only).
	body := "\uFEFFEmail,NAME,Password\r\n" +
		a + ",\"Lovelace, Ada\",secret password\r\n" +
		b + ",\"Multi\nLine\",\r\n" +
		s.student.User.Email + ",Stu Dent,\r\n" +
		strings.ToUpper(a) + ",Again,secret password\r\n" +
		s.teacher.User.Email + ",A Teacher,secret password\r\n" +
		foreign.student.User.Email + ",Foreign,secret password\r\n" +
		"not-an-email,Bad,secret password\r\n" +
		c + ",Nul\x00Byte,secret password\r\n" +
		c + ",,secret password\r\n" +
		c + ",Short,short\r\n"
	var res importResult
	want(t, post(body), http.StatusOK).decode(t, &res)
	if res.Created != 2 || res.Enrolled != 0 || res.Unchanged != 1 {
		t.Fatalf("counts: %+v", res)
	}
	wantErrs := []string{"4:email", "5:email", "6:email", "7:email", "8:row", "9:name", "10:password"}
	var gotErrs []string
	for _, e := range res.Errors {
		gotErrs = append(gotErrs, fmt.Sprintf("%d:%s", e.Row, e.Field))
	}
	if strings.Join(gotErrs, " ") != strings.Join(wantErrs, " ") {
		t.Fatalf("errors %v, want %v (%+v)", gotErrs, wantErrs, res.Errors)
	}
	// The new accounts are enrolled; the one with a password can log in,
	// the one without only after a reset code.
	n.do(t, "POST", "/api/v1/auth/login", "", nil)
	want(t, n.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": a, "password": "secret password"}), http.StatusOK)
	want(t, n.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": b, "password": "secret password"}), http.StatusUnauthorized)
	var roster struct {
		Items []userJSON `json:"items"`
	}
	want(t, n.do(t, "GET", "/api/v1/classrooms/"+s.classroom+"/students", s.teacher.AccessToken, nil), http.StatusOK).decode(t, &roster)
	names := map[string]bool{}
	for _, u := range roster.Items {
		names[u.Name] = true
	}
	if len(roster.Items) != 3 || !names["Lovelace, Ada"] || !names["Multi\nLine"] {
		t.Fatalf("roster: %+v", roster.Items)
	}

	// Idempotent per email; a name in the file never renames; LF line ends.
	want(t, post("name,email\nRenamed,"+a+"\n"), http.StatusOK).decode(t, &res)
	if res.Created != 0 || res.Unchanged != 1 || len(res.Errors) != 0 {
		t.Fatalf("re-import: %+v", res)
	}
	// An existing student of the school, not yet enrolled, is enrolled.
	other := n.user(t, s.admin.User.SchoolID, quiz.RoleStudent, "Other Student")
	want(t, post("name,email\nX,"+other.Email+"\n"), http.StatusOK).decode(t, &res)
	if res.Enrolled != 1 {
		t.Fatalf("enrol existing: %+v", res)
	}

	var big strings.Builder
	big.WriteString("name,email\n")
	for i := range 1001 {
		fmt.Fprintf(&big, "S%d,%s\n", i, email(fmt.Sprintf("bulk%d", i)))
	}
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"unknown column", "name,email,age\nA," + email("x") + ",12\n", 422},
		{"missing column", "name\nA\n", 422},
		{"duplicate column", "name,email,Email\nA,x@example.org,x@example.org\n", 422},
		{"empty", "", 422},
		{"header only", "name,email\r\n", 422},
		{"1001 rows", big.String(), 422},
		{"broken quotes", "name,email\n\"A,b@example.org\n", 422},
		{"5 MiB", "name,email\n" + strings.Repeat("x", 5<<20), 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want(t, post(tc.body), tc.status).err(t)
		})
	}
	// 1,001 rows applied nothing.
	want(t, n.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": email("bulk0"), "password": "x"}), http.StatusUnauthorized)
	var p struct {
		Items []userJSON `json:"items"`
	}
	want(t, n.do(t, "GET", "/api/v1/users?q=bulk", s.admin.AccessToken, nil), http.StatusOK).decode(t, &p)
	if len(p.Items) != 0 {
		t.Fatalf("1001 rows applied %d", len(p.Items))
	}

	// Media type: JSON or none is 415.
	want(t, n.doRaw(t, "POST", path, s.teacher.AccessToken, "application/json", strings.NewReader(`{}`)), http.StatusUnsupportedMediaType).err(t)
	want(t, n.doRaw(t, "POST", path, s.teacher.AccessToken, "", strings.NewReader("name,email\n")), http.StatusUnsupportedMediaType).err(t)
	want(t, n.doRaw(t, "POST", path, s.teacher.AccessToken, "TEXT/CSV", strings.NewReader("name,email\nZ,"+email("z")+"\n")), http.StatusOK)

	if got := n.audited(t, s.admin.AccessToken, s.classroom); len(got) == 0 || got[0] != "roster.imported" {
		t.Fatalf("audit: %v", got)
	}
}

func TestRegistrationClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, generous)
	n := e.closedNode()
	r := n.do(t, "POST", "/api/v1/auth/register", "", map[string]string{
		"name": "A", "email": email("a"), "password": password, "school_name": "S"})
	if r.Status != http.StatusForbidden || r.err(t).Error.Code != "forbidden" {
		t.Fatalf("closed registration: %d %s", r.Status, r.Body)
	}
}

// TestAdminAccessMatrix runs every role against every endpoint of §10.
func TestAdminAccessMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, generous)
	n := e.node()
	s := n.school(t, "Admin Matrix High")
	foreign := n.school(t, "Admin Matrix Elsewhere").admin
	actors := []struct{ name, token string }{
		{"admin", s.admin.AccessToken},
		{"teacher", s.teacher.AccessToken},
		{"other teacher", s.other.AccessToken},
		{"student", s.student.AccessToken},
		{"other school", foreign.AccessToken},
	}
	st := s.student.User.ID
	victim := func() string { return n.user(t, s.admin.User.SchoolID, quiz.RoleStudent, "Victim").ID }
	var target string
	rows := []struct {
		method string
		path   func() string
		body   any
		want   [5]int
	}{
		{"GET", func() string { return "/api/v1/users" }, nil, [5]int{200, 403, 403, 403, 200}},
		{"PATCH", func() string { return "/api/v1/users/" + st }, map[string]any{"name": "Stu Dent"}, [5]int{200, 403, 403, 403, 404}},
		{"POST", func() string { return "/api/v1/users/" + st + "/password-reset" }, nil, [5]int{200, 200, 403, 403, 404}},
		{"GET", func() string { return "/api/v1/students/" + st + "/export" }, nil, [5]int{200, 403, 403, 403, 404}},
		{"GET", func() string { return "/api/v1/audit" }, nil, [5]int{200, 403, 403, 403, 200}},
		{"DELETE", func() string { target = victim(); return "/api/v1/students/" + target }, nil, [5]int{204, 403, 403, 403, 404}},
	}
	for _, row := range rows {
		for i, a := range actors {
			path := row.path()
			t.Run(row.method+" "+path+" as "+a.name, func(t *testing.T) {
				r := want(t, n.do(t, row.method, path, a.token, row.body), row.want[i])
				if r.Status >= 400 {
					r.err(t)
				}
			})
		}
	}
	imp := "/api/v1/classrooms/" + s.classroom + "/students/import"
	for i, a := range actors {
		wantStatus := [5]int{200, 200, 404, 403, 404}[i]
		r := n.doRaw(t, "POST", imp, a.token, "text/csv", strings.NewReader("name,email\nStu Dent,"+s.student.User.Email+"\n"))
		want(t, r, wantStatus)
	}
	// Export of a non-student is 404; erasure of the same too.
	want(t, n.do(t, "GET", "/api/v1/students/"+s.teacher.User.ID+"/export", s.admin.AccessToken, nil), http.StatusNotFound).err(t)
	want(t, n.do(t, "DELETE", "/api/v1/students/"+s.teacher.User.ID, s.admin.AccessToken, nil), http.StatusNotFound).err(t)
	want(t, n.do(t, "GET", "/api/v1/students/"+st+"/export?format=csv", s.admin.AccessToken, nil), http.StatusUnprocessableEntity).err(t)
	want(t, n.do(t, "GET", "/api/v1/audit?actor_id=x", s.admin.AccessToken, nil), http.StatusUnprocessableEntity).err(t)
	want(t, n.do(t, "GET", "/api/v1/audit?from=yesterday", s.admin.AccessToken, nil), http.StatusUnprocessableEntity).err(t)
	for _, a := range []string{"", "x"} {
		want(t, n.do(t, "GET", "/api/v1/users", a, nil), http.StatusUnauthorized).err(t)
	}
}

// TestLogsHoldNoPersonalData runs the accounts and administration flows on
// a node logging JSON as in production and scans every line for the
// emails, names, passwords, tokens and codes that went through it.
func TestLogsHoldNoPersonalData(t *testing.T) {
	t.Parallel()
	e := newEnv(t, generous)
	var buf testenv.LogBuffer
	n := e.newNode(false, slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	adminUser, adminEmail := n.register(t, "Logs High")
	adm := n.login(t, adminEmail)
	secrets := []string{adminEmail, adminUser.Name, password, adm.AccessToken, adm.RefreshToken}

	var cl struct {
		ID string `json:"id"`
	}
	want(t, n.do(t, "POST", "/api/v1/classrooms", adm.AccessToken, map[string]string{"name": "Logs 7B"}), http.StatusCreated).decode(t, &cl)
	stuEmail, stuName := email("kidlog"), "Tabitha Quillfeather"
	want(t, n.doRaw(t, "POST", "/api/v1/classrooms/"+cl.ID+"/students/import", adm.AccessToken, "text/csv",
		strings.NewReader("name,email,password\n"+stuName+","+stuEmail+",kid password 1\nBad Row,not-an-email,\n")), http.StatusOK)
	var stu tokenJSON
	want(t, n.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": stuEmail, "password": "kid password 1"}), http.StatusOK).decode(t, &stu)
	secrets = append(secrets, stuEmail, stuName, "kid password 1", stu.AccessToken, stu.RefreshToken)
	var list struct {
		Items []userJSON `json:"items"`
	}
	want(t, n.do(t, "GET", "/api/v1/users?q=Tabitha", adm.AccessToken, nil), http.StatusOK).decode(t, &list)
	if len(list.Items) != 1 {
		t.Fatalf("users: %+v", list.Items)
	}
	var code struct {
		ResetCode string `json:"reset_code"`
	}
	want(t, n.do(t, "POST", "/api/v1/users/"+stu.User.ID+"/password-reset", adm.AccessToken, nil), http.StatusOK).decode(t, &code)
	secrets = append(secrets, code.ResetCode, "kid password 2")
	want(t, n.do(t, "POST", "/api/v1/auth/password-reset", "", map[string]string{"email": stuEmail, "reset_code": "wrong", "new_password": "kid password 2"}), http.StatusUnauthorized)
	want(t, n.do(t, "POST", "/api/v1/auth/password-reset", "", map[string]string{"email": stuEmail, "reset_code": code.ResetCode, "new_password": "kid password 2"}), http.StatusNoContent)
	want(t, n.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": stuEmail, "password": "wrong password"}), http.StatusUnauthorized)
	want(t, n.do(t, "GET", "/api/v1/students/"+stu.User.ID+"/export", adm.AccessToken, nil), http.StatusOK)
	want(t, n.do(t, "PATCH", "/api/v1/users/"+stu.User.ID, adm.AccessToken, map[string]any{"name": "Renamed Quillfeather", "active": false}), http.StatusOK)
	secrets = append(secrets, "Quillfeather")
	want(t, n.do(t, "DELETE", "/api/v1/students/"+stu.User.ID, adm.AccessToken, nil), http.StatusNoContent)

	logs := buf.String()
	if !strings.Contains(logs, `"route":"/api/v1/students/:id"`) {
		t.Fatalf("the run logged no requests:\n%s", logs)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the logs hold %q", s)
		}
	}
	if strings.Contains(logs, "@example.org") {
		t.Error("the logs hold an email")
	}
}

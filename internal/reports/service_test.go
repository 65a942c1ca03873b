package reports

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/testenv"
)

func as(id, school string, role quiz.Role) context.Context {
	return auth.WithIdentity(context.Background(), auth.Identity{UserID: id, SchoolID: school, Role: role})
}

func codeOf(err error) string {
	if err == nil {
		return "ok"
	}
	if e, ok := quiz.AsError(err); ok {
		return string(e.Code)
	}
	return "error: " + err.Error()
}

// TestAccessMatrix asks every report as every kind of caller: allowed
// callers get the report, others of the school 403, other schools 404.
func TestAccessMatrix(t *testing.T) {
	w := newWorld(t)
	other := newFixture(t, w.pool, "Other School")
	otherAdmin := other.user("Other Admin", "admin")
	otherTeacher := other.user("Other Teacher", "teacher")
	svc := NewService(w.store, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	st := w.students
	callers := map[string]context.Context{
		"admin":         as(w.admin, w.school, quiz.RoleAdmin),
		"teacher":       as(w.teacher, w.school, quiz.RoleTeacher),
		"teacher2":      as(w.teacher2, w.school, quiz.RoleTeacher),
		"outsider":      as(w.outsider, w.school, quiz.RoleTeacher),
		"s1":            as(st["s1"], w.school, quiz.RoleStudent),
		"s2":            as(st["s2"], w.school, quiz.RoleStudent),
		"other admin":   as(otherAdmin, other.school, quiz.RoleAdmin),
		"other teacher": as(otherTeacher, other.school, quiz.RoleTeacher),
		"anonymous":     context.Background(),
	}
	// A subject the caller may not see is not found, in their school as in
	// another: no status tells an existing id from a random one.
	const ok, no, gone, anon = "ok", "not_found", "not_found", "unauthorized"
	type row struct {
		kind    Kind
		id      string
		allowed map[string]string // caller -> code; absent callers: not_found
	}
	// Other schools and anonymous callers are the same for every subject.
	everywhere := map[string]string{"other admin": gone, "other teacher": gone, "anonymous": anon}
	rows := []row{
		{KindPerformance, st["s1"], map[string]string{"admin": ok, "teacher": ok, "teacher2": ok, "s1": ok}},
		{KindPerformance, st["s9"], map[string]string{"admin": ok, "teacher2": ok}},
		{KindEngagement, w.c, map[string]string{"admin": ok, "teacher": ok}},
		{KindEngagement, w.c2, map[string]string{"admin": ok, "teacher2": ok}},
		{KindEffectiveness, w.quiz, map[string]string{"admin": ok, "teacher": ok}},
		{KindSession, w.s1, map[string]string{"admin": ok, "teacher": ok}},
		{KindSession, w.s3, map[string]string{"admin": ok, "teacher2": ok}},
	}
	for _, r := range rows {
		for name, ctx := range callers {
			want, listed := r.allowed[name]
			if !listed {
				want = no
			}
			if c, ok := everywhere[name]; ok {
				want = c
			}
			body, err := svc.Report(ctx, Query{Kind: r.kind, SubjectID: r.id, Limit: DefaultLimit})
			if got := codeOf(err); got != want {
				t.Errorf("%s %s as %s: %s, want %s", r.kind, r.id, name, got, want)
				continue
			}
			if err == nil && !bytes.Contains(body, []byte(r.id)) {
				t.Errorf("%s as %s: the answer does not name its subject: %s", r.kind, name, body)
			}
			if err != nil && body != nil {
				t.Errorf("%s as %s: refused with data", r.kind, name)
			}
			// The CSV download is guarded the same way.
			opened := false
			err = svc.ExportCSV(ctx, Query{Kind: r.kind, SubjectID: r.id}, func(string) io.Writer { opened = true; return io.Discard })
			if got := codeOf(err); got != want || (err != nil && opened) {
				t.Errorf("%s csv %s as %s: %s (opened %v), want %s", r.kind, r.id, name, got, opened, want)
			}
		}
	}
	// Ids that name nothing, or something of another kind, are not found.
	for _, tc := range []struct {
		kind Kind
		id   string
	}{
		{KindPerformance, w.teacher}, {KindPerformance, uuid.NewString()}, {KindPerformance, "not-an-id"},
		{KindEngagement, w.quiz}, {KindEffectiveness, w.c}, {KindSession, uuid.NewString()},
	} {
		_, err := svc.Report(callers["admin"], Query{Kind: tc.kind, SubjectID: tc.id, Limit: DefaultLimit})
		if got := codeOf(err); got != gone {
			t.Errorf("%s %s: %s, want not_found", tc.kind, tc.id, got)
		}
	}
	// A teacher sees a student only within the classrooms they teach.
	body, err := svc.Report(callers["teacher2"], Query{Kind: KindPerformance, SubjectID: st["s1"], Limit: DefaultLimit})
	if err != nil {
		t.Fatal(err)
	}
	var perf Performance
	if err := json.Unmarshal(body, &perf); err != nil {
		t.Fatal(err)
	}
	if perf.Answered != 0 || len(perf.Sessions) != 0 {
		t.Errorf("teacher2 sees s1's sessions outside C2: %s", body)
	}
}

func TestCacheServesRepeatsAndFollowsRefreshes(t *testing.T) {
	w := newWorld(t)
	rdb := testenv.Redis(t)
	reg := prometheus.NewRegistry()
	cache := NewCache(rdb, time.Minute, reg)
	svc := NewService(w.store, cache, slog.New(slog.NewTextHandler(io.Discard, nil)))
	refresher := NewRefresher(w.pool, cache, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)), RefresherConfig{})
	s1 := w.students["s1"]
	admin := as(w.admin, w.school, quiz.RoleAdmin)
	q := Query{Kind: KindPerformance, SubjectID: s1, Limit: DefaultLimit}
	lookups := func(result string) float64 {
		return testutil.ToFloat64(cache.lookups.WithLabelValues(result))
	}
	get := func(ctx context.Context) Performance {
		t.Helper()
		body, err := svc.Report(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var p Performance
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := get(admin)
	eqInt(t, "misses after the first pull", lookups("miss"), 1)
	// The truth changes and the view is refreshed behind the cache's back:
	// the repeat is served from Redis, unchanged.
	w.exec(`UPDATE answers SET points = points + 1 WHERE student_id = $1 AND correct IS NOT NULL`, s1)
	if err := refresher.Refresh(context.Background(), ViewStudentSessions); err != nil {
		t.Fatal(err)
	}
	again := get(admin)
	eqInt(t, "hits", lookups("hit"), 1)
	eqInt(t, "points served from the cache", again.Points, first.Points)

	// Another caller with another scope never gets the admin's answer.
	bounded := get(as(w.teacher2, w.school, quiz.RoleTeacher))
	eqInt(t, "teacher2's points", bounded.Points, 0)
	eqInt(t, "misses after teacher2", lookups("miss"), 2)

	// The refresher's invalidation makes the next pull fresh.
	if err := cache.Invalidate(context.Background()); err != nil {
		t.Fatal(err)
	}
	fresh := get(admin)
	eqInt(t, "points after invalidation", fresh.Points, first.Points+5)
	eqInt(t, "misses after invalidation", lookups("miss"), 3)
}

func TestCSVQuotingAndStreaming(t *testing.T) {
	w := newWorld(t)
	nasty := "He said \"1,5\"\nthen left; ok?"
	w.exec(`UPDATE questions SET text = $1 WHERE id = $2`, nasty, w.q[0].ID)
	w.exec(`UPDATE quiz_versions SET title = $1 WHERE quiz_id = $2`, `Fractions, "part 1"`, w.quiz)
	svc := NewService(w.store, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	admin := as(w.admin, w.school, quiz.RoleAdmin)

	export := func(kind Kind, id string) ([][]string, string, string) {
		t.Helper()
		var buf bytes.Buffer
		var name string
		err := svc.ExportCSV(admin, Query{Kind: kind, SubjectID: id, Limit: 1}, func(filename string) io.Writer {
			name = filename
			return &buf
		})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
		if err != nil {
			t.Fatalf("not RFC 4180 CSV: %v\n%s", err, buf.String())
		}
		return recs, buf.String(), name
	}

	recs, raw, name := export(KindEffectiveness, w.quiz)
	eqInt(t, "filename", name, "quiz-"+w.quiz+"-effectiveness.csv")
	if strings.Join(recs[0], ",") != strings.Join(questionCSVHeader(), ",") {
		t.Errorf("header = %v", recs[0])
	}
	// One row per question, all of them (the download is not paged).
	eqInt(t, "rows", len(recs), 1+5)
	eqInt(t, "question text round trip", recs[1][3], nasty)
	if !strings.Contains(raw, `"He said ""1,5""`) {
		t.Errorf("the text is not quoted as RFC 4180 wants:\n%s", raw)
	}
	eqInt(t, "p_correct", recs[1][6], "0.5555555555555556")
	eqInt(t, "top wrong", recs[1][11], "c")
	// The texts a teacher reads beside the ids.
	eqInt(t, "top wrong text", recs[1][12], "option c")
	if !strings.HasPrefix(recs[1][10], "option a: ") || !strings.Contains(recs[1][10], "; option c: ") {
		t.Errorf("distribution_by_option = %q", recs[1][10])
	}
	eqInt(t, "poll p_correct is empty", recs[3][6], "")

	recs, _, _ = export(KindPerformance, w.students["s1"])
	eqInt(t, "performance rows", len(recs), 1+2)
	eqInt(t, "student id", recs[1][0], w.students["s1"])
	if recs[1][1] == "" {
		t.Error("no student name beside the id")
	}
	eqInt(t, "quiz title round trip", recs[1][3], `Fractions, "part 1"`)
	eqInt(t, "started_at", recs[1][4], "2026-09-17T10:00:00.000Z")

	// A title that a spreadsheet would run comes out as text.
	w.exec(`UPDATE quiz_versions SET title = $1 WHERE quiz_id = $2`, `=HYPERLINK("http://evil.example")`, w.quiz)
	recs, _, _ = export(KindPerformance, w.students["s1"])
	eqInt(t, "formula neutralised", recs[1][3], `'=HYPERLINK("http://evil.example")`)

	recs, _, _ = export(KindEngagement, w.c)
	eqInt(t, "engagement rows", len(recs), 1+2)
	eqInt(t, "participation_rate", recs[2][4], "0.75")

	recs, _, _ = export(KindSession, w.s1)
	eqInt(t, "session rows", len(recs), 1+5)

	// Nothing in range: the header alone.
	var buf bytes.Buffer
	err := svc.ExportCSV(admin, Query{Kind: KindEngagement, SubjectID: w.c, From: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
		func(string) io.Writer { return &buf })
	if err != nil {
		t.Fatal(err)
	}
	eqInt(t, "empty export", buf.String(), strings.Join(engagementCSVHeader(), ",")+"\n")
}

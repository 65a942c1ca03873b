package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/ratelimit"
	"github.com/quizcast/quizcast/internal/reports"
	"github.com/quizcast/quizcast/internal/testenv"
)

// fakeReports is a hand-written stand-in for the report service: these
// tests cover the handlers' own logic (parameters, content negotiation,
// headers, errors); the service is tested against PostgreSQL and Redis in
// internal/reports.
type fakeReports struct {
	got  reports.Query
	body []byte
	err  error
	csv  string
}

func (f *fakeReports) Report(_ context.Context, q reports.Query) ([]byte, error) {
	f.got = q
	return f.body, f.err
}

func (f *fakeReports) ExportCSV(_ context.Context, q reports.Query, open func(string) io.Writer) error {
	f.got = q
	if f.err != nil {
		return f.err
	}
	_, err := io.WriteString(open(reports.CSVFilename(q.Kind, q.SubjectID)), f.csv)
	return err
}

func TestReportHandlers(t *testing.T) {
	fake := &fakeReports{}
	// The routes sit behind the real authentication (tokens checked
	// against Redis); the service behind them is the fake.
	rdb := testenv.Redis(t)
	tokens, err := auth.NewTokens([]byte(strings.Repeat("r", 32)), time.Minute, rdb)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := tokens.Issue(auth.Identity{UserID: uuid.NewString(), SchoolID: uuid.NewString(), LoginID: uuid.NewString(), Role: quiz.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{}, Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry(), Reports: fake,
		Tokens: tokens, Limiter: ratelimit.New(rdb, ratelimit.Limits{LoginPerIP: 10, LoginFailuresPerAccount: 10, APIPerUser: 10000})})
	if err != nil {
		t.Fatal(err)
	}
	do := func(path, accept string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec
	}
	const id = "0b6d3d1c-8a36-4a5c-9a3f-6f1f8f0e2d11"

	fake.body = []byte(`{"as_of":"2026-11-21T10:05:23.123Z"}`)
	rec := do("/api/v1/reports/students/"+id+"/performance?from=2026-09-01T00:00:00Z&limit=10", "")
	if rec.Code != http.StatusOK || rec.Body.String() != string(fake.body) || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("json: %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
	if fake.got.Kind != reports.KindPerformance || fake.got.SubjectID != id || fake.got.Limit != 10 || fake.got.From.IsZero() || fake.got.CSV {
		t.Errorf("query = %+v", fake.got)
	}

	for path, kind := range map[string]reports.Kind{
		"/api/v1/reports/classrooms/" + id + "/engagement": reports.KindEngagement,
		"/api/v1/reports/quizzes/" + id + "/effectiveness": reports.KindEffectiveness,
		"/api/v1/reports/sessions/" + id:                   reports.KindSession,
	} {
		if rec := do(path, ""); rec.Code != http.StatusOK || fake.got.Kind != kind || fake.got.Limit != reports.DefaultLimit {
			t.Errorf("%s: %d, query %+v", path, rec.Code, fake.got)
		}
	}

	// Invalid parameters: 422 naming them.
	for q, field := range map[string]string{
		"limit=0": "limit", "limit=201": "limit", "limit=x": "limit", "from=yesterday": "from",
		"from=2026-10-01T00:00:00Z&to=2026-09-01T00:00:00Z": "to", "cursor=zzz": "cursor", "format=xml": "format",
	} {
		rec := do("/api/v1/reports/sessions/"+id+"?"+q, "")
		var body ErrorBody
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusUnprocessableEntity || body.Error.Fields[field] == "" {
			t.Errorf("%s: %d %s", q, rec.Code, rec.Body.String())
		}
	}

	// CSV by parameter or by Accept header.
	fake.csv = "question_id,text\nq1,\"a, b\"\n"
	for _, tc := range []struct{ query, accept string }{{"?format=csv", ""}, {"", "text/csv"}, {"", "text/csv, application/json;q=0.5"}} {
		rec := do("/api/v1/reports/quizzes/"+id+"/effectiveness"+tc.query, tc.accept)
		if rec.Code != http.StatusOK || rec.Body.String() != fake.csv ||
			rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" ||
			rec.Header().Get("Content-Disposition") != `attachment; filename="quiz-`+id+`-effectiveness.csv"` {
			t.Errorf("csv %+v: %d %v %q", tc, rec.Code, rec.Header(), rec.Body.String())
		}
	}
	if rec := do("/api/v1/reports/quizzes/"+id+"/effectiveness", "application/json, text/csv"); rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("an Accept preferring JSON got %q", rec.Header().Get("Content-Type"))
	}

	// Errors keep the contract's shape, for JSON and CSV alike.
	fake.err = quiz.ErrNotFound
	for _, q := range []string{"", "?format=csv"} {
		rec := do("/api/v1/reports/sessions/"+id+q, "")
		var body ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusNotFound || body.Error.Code != quiz.CodeNotFound {
			t.Errorf("error%s: %d %s", q, rec.Code, rec.Body.String())
		}
	}
}

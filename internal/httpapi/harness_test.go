package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/admin"
	"github.com/quizcast/quizcast/internal/apicheck"
	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/authoring"
	"github.com/quizcast/quizcast/internal/health"
	"github.com/quizcast/quizcast/internal/httpapi"
	"github.com/quizcast/quizcast/internal/metrics"
	"github.com/quizcast/quizcast/internal/policy"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/ratelimit"
	"github.com/quizcast/quizcast/internal/testenv"
	"github.com/quizcast/quizcast/internal/webapp"
	"github.com/quizcast/quizcast/web"
)

const testSecret = "test-secret-0123456789abcdef0123456789abcdef"

// generous limits: tests that do not test rate limiting never meet them.
var generous = ratelimit.Limits{LoginPerIP: 10000, LoginFailuresPerAccount: 1000, APIPerUser: 100000}

// env is one database and Redis shared by any number of server nodes, as in
// production. Requests carry a per-env client address (X-Forwarded-For from
// the trusted loopback proxy), so per-IP limits do not leak between tests.
type env struct {
	t      *testing.T
	pool   *pgxpool.Pool
	rdb    *redis.Client
	store  *postgres.Store
	limits ratelimit.Limits
	ip     string
}

func newEnv(t *testing.T, limits ratelimit.Limits) *env {
	t.Helper()
	pool, _ := testenv.Database(t)
	rdb := testenv.Redis(t)
	ip := fmt.Sprintf("10.%d.%d.%d", rand.IntN(256), rand.IntN(256), rand.IntN(256))
	return &env{t: t, pool: pool, rdb: rdb, store: postgres.NewStore(pool), limits: limits, ip: ip}
}

// node is one server instance.
type node struct {
	*httptest.Server
	engine *gin.Engine
	tokens *auth.Tokens
	env    *env
}

// node builds a new server instance over the env's database and Redis.
func (e *env) node() *node { return e.newNode(false, slog.New(slog.DiscardHandler)) }

// closedNode is a node with REGISTRATION=closed.
func (e *env) closedNode() *node { return e.newNode(true, slog.New(slog.DiscardHandler)) }

func (e *env) newNode(registrationClosed bool, log *slog.Logger) *node {
	e.t.Helper()
	tokens, err := auth.NewTokens([]byte(testSecret), 15*time.Minute, e.rdb)
	if err != nil {
		e.t.Fatal(err)
	}
	limiter := ratelimit.New(e.rdb, e.limits)
	hasher := auth.NewHasher(auth.HasherConfig{})
	accounts, err := auth.NewService(e.store, tokens, limiter, hasher, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	resets := auth.NewResets(e.store, tokens, limiter, e.store)
	adminSvc := admin.New(admin.Config{Store: e.store, Policy: policy.New(e.store), Tokens: tokens, Resets: resets,
		Redis: e.rdb, Log: log})
	engine, err := httpapi.New(httpapi.Config{TrustedProxies: []string{"127.0.0.1"}}, httpapi.Deps{
		Admin:              adminSvc,
		Resets:             resets,
		RegistrationClosed: registrationClosed,
		Log:                log,
		Registry:           metrics.NewRegistry(),
		Health:             health.New(map[string]health.Check{}),
		Tokens:             tokens,
		Limiter:            limiter,
		Accounts:           accounts,
		Authoring:          authoring.New(e.store, policy.New(e.store), hasher, noSockets{}),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	srv := httptest.NewServer(apicheck.Handler(e.t, engine))
	e.t.Cleanup(srv.Close)
	return &node{Server: srv, engine: engine, tokens: tokens, env: e}
}

// reply is a response read in full.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// errorBody is the contract's error shape.
type errorBody struct {
	Error struct {
		Code      string            `json:"code"`
		Message   string            `json:"message"`
		Fields    map[string]string `json:"fields"`
		RequestID string            `json:"request_id"`
	} `json:"error"`
}

func (r reply) err(t *testing.T) errorBody {
	t.Helper()
	var e errorBody
	r.decode(t, &e)
	if e.Error.Code == "" || e.Error.RequestID == "" {
		t.Fatalf("not the contract's error shape: %s", r.Body)
	}
	return e
}

// do sends a request; body is sent as is when a string, else as JSON.
func (n *node) do(t *testing.T, method, path, token string, body any) reply {
	t.Helper()
	return n.doFrom(t, n.env.ip, method, path, token, body)
}

// doFrom sends a request as from the client address ip.
func (n *node) doFrom(t *testing.T, ip, method, path, token string, body any) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	contentType := ""
	if rd != nil {
		contentType = "application/json"
	}
	return n.doRawFrom(t, ip, method, path, token, contentType, rd)
}

// doRaw sends body with the given content type (none when empty).
func (n *node) doRaw(t *testing.T, method, path, token, contentType string, body io.Reader) reply {
	t.Helper()
	return n.doRawFrom(t, n.env.ip, method, path, token, contentType, body)
}

// doRawFrom is doRaw as from the client address ip.
func (n *node) doRawFrom(t *testing.T, ip, method, path, token, contentType string, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequest(method, n.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("X-Forwarded-For", ip)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{Status: res.StatusCode, Header: res.Header, Body: data}
}

// want checks the status of r, showing the body when it differs.
func want(t *testing.T, r reply, status int) reply {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	return r
}

type userJSON struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Role     string `json:"role"`
	SchoolID string `json:"school_id"`
}

type tokenJSON struct {
	AccessToken  string   `json:"access_token"`
	RefreshToken string   `json:"refresh_token"`
	TokenType    string   `json:"token_type"`
	ExpiresIn    int      `json:"expires_in"`
	User         userJSON `json:"user"`
}

const password = "correct horse battery"

// email returns a unique address.
func email(name string) string { return name + "-" + testenv.RandomID() + "@example.org" }

// register creates a school with its admin and returns the admin.
func (n *node) register(t *testing.T, school string) (userJSON, string) {
	t.Helper()
	addr := email("admin")
	r := want(t, n.do(t, "POST", "/api/v1/auth/register", "", map[string]string{
		"name": "Admin of " + school, "email": addr, "password": password, "school_name": school,
	}), http.StatusCreated)
	var out struct {
		User userJSON `json:"user"`
	}
	r.decode(t, &out)
	return out.User, addr
}

func (n *node) login(t *testing.T, addr string) tokenJSON {
	t.Helper()
	r := want(t, n.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": addr, "password": password}), http.StatusOK)
	var out tokenJSON
	r.decode(t, &out)
	return out
}

// school is a school set up for access tests: an admin, two teachers, a
// classroom of the first teacher with one student, and a quiz of the first
// teacher.
type school struct {
	admin, teacher, other, student tokenJSON
	classroom, quiz                string
}

func (n *node) school(t *testing.T, name string) school {
	t.Helper()
	e := n.env
	ctx := t.Context()
	_, admin, err := e.store.CreateSchool(ctx, name, quiz.User{Name: "Admin of " + name, Email: email("admin"), Role: quiz.RoleAdmin}, passwordHash(t))
	if err != nil {
		t.Fatal(err)
	}
	var s school
	s.admin = n.session(t, admin)
	s.teacher = n.session(t, n.user(t, admin.SchoolID, quiz.RoleTeacher, "Teacher"))
	s.other = n.session(t, n.user(t, admin.SchoolID, quiz.RoleTeacher, "Other"))
	student := n.user(t, admin.SchoolID, quiz.RoleStudent, "Stu Dent")
	s.student = n.session(t, student)
	var c struct {
		ID string `json:"id"`
	}
	want(t, n.do(t, "POST", "/api/v1/classrooms", s.teacher.AccessToken, map[string]string{"name": "7B", "subject": "Maths"}), http.StatusCreated).decode(t, &c)
	s.classroom = c.ID
	want(t, n.do(t, "POST", "/api/v1/classrooms/"+c.ID+"/students", s.teacher.AccessToken, map[string]any{
		"students": []map[string]string{{"name": "Stu Dent", "email": student.Email}},
	}), http.StatusCreated)
	want(t, n.do(t, "POST", "/api/v1/quizzes", s.teacher.AccessToken, sampleQuiz()), http.StatusCreated).decode(t, &c)
	s.quiz = c.ID
	return s
}

// passwordHash is the hash of password, computed once: bcrypt is the
// slowest thing in these tests (about a second under -race).
var passwordHash = func() func(t *testing.T) string {
	var once sync.Once
	var hash string
	return func(t *testing.T) string {
		once.Do(func() {
			var err error
			if hash, err = auth.HashPassword(password); err != nil {
				panic(err)
			}
		})
		return hash
	}
}()

// user creates an account straight in the store, with password.
func (n *node) user(t *testing.T, schoolID string, role quiz.Role, name string) quiz.User {
	t.Helper()
	u, err := n.env.store.CreateUser(t.Context(), quiz.User{SchoolID: schoolID, Name: name, Email: email(string(role)), Role: role}, passwordHash(t))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// session logs u in without a password check: a login row and an access
// token as POST /auth/login makes them (that path is tested on its own).
func (n *node) session(t *testing.T, u quiz.User) tokenJSON {
	t.Helper()
	refresh := testenv.RandomID() + testenv.RandomID()
	loginID, err := n.env.store.CreateLogin(t.Context(), u, auth.HashToken(refresh), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	access, _, err := n.tokens.Issue(auth.Identity{UserID: u.ID, SchoolID: u.SchoolID, LoginID: loginID, Role: u.Role})
	if err != nil {
		t.Fatal(err)
	}
	return tokenJSON{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", ExpiresIn: 900,
		User: userJSON{ID: u.ID, Name: u.Name, Email: u.Email, Role: string(u.Role), SchoolID: u.SchoolID}}
}

// sampleQuiz has one question of each kind.
func sampleQuiz() map[string]any {
	return map[string]any{
		"title":       "Fractions",
		"description": "Week 3",
		"questions": []map[string]any{
			{"text": "1/2 + 1/4?", "kind": "single", "options": opts("3/4", "2/6", "1"), "correct": []int{0}},
			{"text": "Which equal 1/2?", "kind": "multi", "options": opts("2/4", "3/6", "2/3"), "correct": []int{1, 0},
				"time_limit_s": 30, "points": 500},
			{"text": "1/3 > 1/4", "kind": "true_false", "options": opts("True", "False"), "correct": []int{0}},
			{"text": "Did you like it?", "kind": "poll", "options": opts("Yes", "No")},
		},
	}
}

func opts(texts ...string) []map[string]string {
	out := make([]map[string]string, len(texts))
	for i, t := range texts {
		out[i] = map[string]string{"text": t}
	}
	return out
}

func decodeJSON(res *http.Response, v any) error { return json.NewDecoder(res.Body).Decode(v) }

// routesOf lists the routes of an engine built with no services.
func routesOf(t *testing.T) gin.RoutesInfo {
	t.Helper()
	engine, err := httpapi.New(httpapi.Config{}, httpapi.Deps{
		Log: slog.New(slog.DiscardHandler), Registry: metrics.NewRegistry(), Health: health.New(nil),
		Web: webapp.New(web.App()),
	})
	if err != nil {
		t.Fatal(err)
	}
	return engine.Routes()
}

// noSockets is the harness's remover: it serves REST only, so an
// unenrolled student has no socket to close.
type noSockets struct{}

func (noSockets) Removed(context.Context, []string, string) {}

// Package e2e drives the reference web client in a real Chromium (Debian's
// /usr/bin/chromium, through chromedp) against two real server nodes over
// PostgreSQL, Redis and RabbitMQ: a whole quiz through the pages only, a
// network cut and a reload mid-question, and an axe-core scan of every
// screen. It is a module of its own so that chromedp stays out of the
// server's dependencies.
package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/quizcast/quizcast/internal/client"
	"github.com/quizcast/quizcast/internal/node"
	"github.com/quizcast/quizcast/internal/rabbitmq/rabbitmqtest"
	"github.com/quizcast/quizcast/internal/testenv"
	"github.com/quizcast/quizcast/internal/teststack"
)

// chromiumPath finds Debian's chromium; under CI=true its absence fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium (%s) is missing: under CI=true the browser tests must run (scripts/services.sh install)", p)
		}
		t.Skipf("chromium (%s) is missing", p)
	}
	return p
}

// outDir is where screenshots and downloads go (QUIZCAST_E2E_OUT, default
// e2e/out).
func outDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("QUIZCAST_E2E_OUT")
	if dir == "" {
		dir = "out"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// axeSource is axe-core from web/node_modules (npm ci in web/).
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../web/node_modules/axe-core/axe.min.js")
	if err != nil {
		t.Fatalf("axe-core is not installed (run npm ci in web/, as scripts/test.sh does): %v", err)
	}
	return string(b)
}

// browserCtx starts one headless Chromium for the test.
func browserCtx(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// page is one browser tab with its own storage (a browser context).
type page struct {
	t    *testing.T
	name string
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func newPage(t *testing.T, bctx context.Context, name string, w, h int64, own bool) *page {
	t.Helper()
	p := &page{t: t, name: name}
	opts := []chromedp.ContextOption{chromedp.WithListener(func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			p.fail("exception: " + e.ExceptionDetails.Text + " " + exceptionText(e.ExceptionDetails))
		case *log.EventEntryAdded:
			if strings.Contains(e.Entry.Text, "Content Security Policy") {
				p.fail("CSP: " + e.Entry.Text)
			}
		}
	})}
	if own {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(bctx, opts...)
	t.Cleanup(cancel)
	p.ctx = ctx
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	return p
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}

func (p *page) fail(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, msg)
}

// problems are the exceptions and CSP violations the page reported.
func (p *page) problems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.errs)
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

func tid(id string) chromedp.CSS { return chromedp.CSS(fmt.Sprintf("[data-testid=%q]", id)) }

func (p *page) click(sel chromedp.CSS) {
	p.t.Helper()
	p.waitJS(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && !e.disabled; })()`, string(sel)), "enabled "+string(sel))
	p.do(chromedp.Click(sel))
}

func (p *page) eval(expr string, out any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		p.t.Fatalf("%s: eval %s: %v", p.name, expr, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			p.t.Fatalf("%s: eval %s: %s: %v", p.name, expr, raw, err)
		}
	}
}

// waitJS polls a boolean expression (Runtime.evaluate, so the page's CSP,
// which forbids eval, does not get in the way).
func (p *page) waitJS(expr, what string) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var ok bool
		ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
		cancel()
		if err == nil && json.Unmarshal(raw, &ok) == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var text string
			p.eval(`document.getElementById('main') ? document.getElementById('main').innerText.slice(0, 800) : ''`, &text)
			p.t.Fatalf("%s: waiting for %s: timed out (err %v); page shows:\n%s", p.name, what, err, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *page) text(id string) string {
	p.t.Helper()
	var s string
	p.eval(fmt.Sprintf(`(document.querySelector('[data-testid=%q]') || {}).textContent || ''`, id), &s)
	return strings.TrimSpace(s)
}

// waitText waits until the testid's text satisfies pred.
func (p *page) waitText(id, want string) {
	p.t.Helper()
	p.waitJS(fmt.Sprintf(`((document.querySelector('[data-testid=%q]') || {}).textContent || '').trim() === %q`, id, want), id+" = "+want)
}

func (p *page) waitPrefix(id, want string) {
	p.t.Helper()
	p.waitJS(fmt.Sprintf(`((document.querySelector('[data-testid=%q]') || {}).textContent || '').trim().startsWith(%q)`, id, want), id+" starts with "+want)
}

func (p *page) login(base, email, password string) {
	p.t.Helper()
	p.do(chromedp.Navigate(base + "/"))
	p.waitJS(`!!document.querySelector('[data-testid="login-email"]')`, "login form")
	p.do(chromedp.SendKeys(tid("login-email"), email), chromedp.SendKeys(tid("login-password"), password))
	p.click(tid("login-submit"))
	p.waitJS(`!document.querySelector('[data-testid="login-email"]') && !!document.querySelector('[data-testid="logout"]')`, "logged in")
}

// answer clicks the options (and answer-submit for multi) and waits for
// the server's decision.
func (p *page) answer(kind string, optionIDs ...string) {
	p.t.Helper()
	for _, id := range optionIDs {
		option := fmt.Sprintf(`[data-testid="answer-option"][data-option-id=%q]`, id)
		p.click(chromedp.CSS(option))
		if kind == "multi" {
			// The page re-renders its options on every pick: submit only
			// once this one shows as picked.
			p.waitJS(fmt.Sprintf(`!!document.querySelector(%q)`, option+`[aria-pressed="true"]`), "picked "+id)
		}
	}
	if kind == "multi" {
		p.click(tid("answer-submit"))
	}
	p.waitText("answer-status", "accepted")
}

func (p *page) screenshot(path string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// offline cuts (or restores) this tab's network, as DevTools' "Offline".
func (p *page) offline(off bool) {
	p.t.Helper()
	conds := []*network.Conditions{}
	if off {
		conds = append(conds, &network.Conditions{Offline: true, DownloadThroughput: -1, UploadThroughput: -1})
	}
	if _, err := chromedp.Call(p.ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{MatchedNetworkConditions: conds, EmulateOfflineServiceWorker: new(off)}); err != nil {
		p.t.Fatalf("%s: emulate network: %v", p.name, err)
	}
	if _, err := chromedp.Call(p.ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: off, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
		p.t.Fatalf("%s: override network state: %v", p.name, err)
	}
}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// scan runs axe-core on the current screen and fails on serious or
// critical violations.
func (p *page) scan(axe, screen string) {
	p.t.Helper()
	var loaded bool
	p.eval(`typeof window.axe !== 'undefined'`, &loaded)
	if !loaded {
		p.eval(axe+"\n;true", nil)
	}
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
		.filter(v => v.impact === 'serious' || v.impact === 'critical')
		.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: axe on %s: %v", p.name, screen, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal(raw, &vs); err != nil {
		p.t.Fatalf("axe result: %v", err)
	}
	for _, v := range vs {
		p.t.Errorf("axe on %s (%s): %s %s: %s at %v", screen, p.name, v.Impact, v.ID, v.Help, v.Nodes)
	}
}

// visit opens a screen of the app by its route and waits for its heading.
func (p *page) visit(hash, heading string) {
	p.t.Helper()
	p.eval(fmt.Sprintf(`location.hash = %q; true`, hash), nil)
	p.waitJS(fmt.Sprintf(`(() => { const h = document.querySelector('main h1'); return !!h && h.textContent.includes(%q); })()`, heading), "screen "+hash)
	time.Sleep(300 * time.Millisecond) // let the screen's own requests land
}

// schoolFor registers a school through the API with a classroom of three
// students and the five-question quiz of all four kinds.
type school struct {
	teacherEmail string
	classroomID  string
	quiz         client.Quiz
	students     []client.User
}

func setup(t *testing.T, ctx context.Context, base string) school {
	t.Helper()
	id := testenv.RandomID()
	c := client.New(base)
	c.HTTP.Timeout = 3 * time.Minute
	s := school{teacherEmail: "teacher-" + id + "@school.example.org"}
	if _, err := c.Register(ctx, "Ms Teacher", s.teacherEmail, teststack.Password, "School "+id); err != nil {
		t.Fatal(err)
	}
	login, err := c.Login(ctx, s.teacherEmail, teststack.Password)
	if err != nil {
		t.Fatal(err)
	}
	tc := c.With(login.AccessToken)
	cl, err := tc.CreateClassroom(ctx, "Class 7B")
	if err != nil {
		t.Fatal(err)
	}
	s.classroomID = cl.ID
	var list []client.NewStudent
	for i, name := range []string{"Ada", "Grace", "Linus"} {
		list = append(list, client.NewStudent{Name: name, Email: fmt.Sprintf("s%d-%s@school.example.org", i, id), Password: teststack.Password})
	}
	if s.students, err = tc.Enrol(ctx, cl.ID, list); err != nil {
		t.Fatal(err)
	}
	q := teststack.FiveQuestions()
	for i := range q.Questions {
		q.Questions[i].TimeLimitS = 120 // the teacher closes each question; the scan must not race a deadline
	}
	if s.quiz, err = tc.CreateQuiz(ctx, q); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWholeQuizInTheBrowser: one teacher page on node A and three student
// pages over nodes A and B run the five questions through the UI only;
// one student's network is cut mid-question, another reloads
// mid-question; then the session report and its CSV; every screen is
// scanned with axe-core.
func TestWholeQuizInTheBrowser(t *testing.T) {
	bctx := browserCtx(t)
	axe := axeSource(t)
	out := outDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	topo := rabbitmqtest.Topology(t, testenv.RabbitMQURL(t))
	cl := teststack.Start(t, 2, node.Options{Topology: topo})
	teststack.StartWorker(t, cl, topo, 200*time.Millisecond)
	a, b := cl.URL(0), cl.URL(1)
	sc := setup(t, ctx, a)
	opt := func(qi, k int) string { return sc.quiz.Questions[qi].Options[k].ID }

	teacher := newPage(t, bctx, "teacher", 1280, 720, false)
	downloads := filepath.Join(out, "downloads")
	if err := os.MkdirAll(downloads, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.CallBrowser(teacher.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads, EventsEnabled: new(true),
	}); err != nil {
		t.Fatal(err)
	}
	teacher.do(chromedp.Navigate(a + "/"))
	teacher.waitJS(`!!document.querySelector('[data-testid="login-email"]')`, "login form")
	teacher.scan(axe, "login")
	teacher.visit("#/register", "Register a school")
	teacher.scan(axe, "register")
	teacher.login(a, sc.teacherEmail, teststack.Password)

	// Create the session from the classroom and the quiz.
	teacher.waitJS(`document.querySelectorAll('[data-testid="classroom-select"] option').length > 0 && document.querySelectorAll('[data-testid="quiz-select"] option').length > 0`, "selects")
	teacher.scan(axe, "run a quiz")
	teacher.do(chromedp.SetValue(tid("classroom-select"), sc.classroomID), chromedp.SetValue(tid("quiz-select"), sc.quiz.ID))
	teacher.click(tid("session-create"))
	teacher.waitJS(`location.hash.startsWith('#/session/')`, "session screen")
	teacher.waitText("connection-status", "connected")
	var sessionID string
	teacher.eval(`location.hash.slice('#/session/'.length)`, &sessionID)

	// Students log in on A, B, B and join from their list of live sessions.
	bases := []string{a, b, b}
	students := make([]*page, 3)
	for i, u := range sc.students {
		p := newPage(t, bctx, "student "+u.Name, 768, 1024, true)
		p.login(bases[i], u.Email, teststack.Password)
		join := fmt.Sprintf(`[data-testid="live-session-join"][data-session-id=%q]`, sessionID)
		p.waitJS(fmt.Sprintf(`!!document.querySelector(%q)`, join), "live session listed")
		if i == 0 {
			p.scan(axe, "live sessions")
		}
		p.click(chromedp.CSS(join))
		p.waitText("connection-status", "connected")
		students[i] = p
	}
	ada, grace, linus := students[0], students[1], students[2]
	teacher.waitText("lobby-count", "3")
	teacher.waitJS(`(() => { const t = document.querySelector('ul.joined').textContent; return ['Ada', 'Grace', 'Linus'].every(n => t.includes(n)); })()`, "the names of who joined")
	teacher.scan(axe, "lobby")
	teacher.click(tid("session-start"))

	next := func(qi int) {
		t.Helper()
		teacher.click(tid("session-next"))
		text := sc.quiz.Questions[qi].Text
		teacher.waitText("question-text", text)
		for _, s := range students {
			s.waitText("question-text", text)
		}
	}
	closeAndCheck := func(qi int, results map[*page]string) {
		t.Helper()
		teacher.click(tid("session-close"))
		for s, want := range results {
			s.waitPrefix("result", want)
		}
		teacher.waitJS(`document.querySelectorAll('[data-testid="leaderboard-row"]').length === 3`, "leaderboard of three")
	}
	wantBars := func(qi int, counts map[int]int) {
		t.Helper()
		for k := range sc.quiz.Questions[qi].Options {
			teacher.waitJS(fmt.Sprintf(`(() => { const b = document.querySelector('[data-testid="distribution"] [data-testid="distribution-bar"][data-option-id=%q]'); return !!b && b.textContent.includes(%q); })()`,
				opt(qi, k), fmt.Sprint(counts[k])), fmt.Sprintf("bar q%d option %d = %d", qi, k, counts[k]))
		}
	}

	// Q0 single (correct: option 1).
	next(0)
	teacher.waitJS(`/^\d+$/.test(document.querySelector('[data-testid="countdown"]').textContent) && Number(document.querySelector('[data-testid="countdown"]').textContent) > 100`, "countdown")
	ada.answer("single", opt(0, 1))
	grace.answer("single", opt(0, 0))
	linus.answer("single", opt(0, 1))
	teacher.waitText("progress-answered", "3")
	wantBars(0, map[int]int{0: 1, 1: 2, 2: 0})
	// A second, different answer is impossible: the options are locked.
	var disabled bool
	ada.eval(`[...document.querySelectorAll('[data-testid="answer-option"]')].every(b => b.disabled)`, &disabled)
	if !disabled {
		t.Error("the options stay clickable after an accepted answer")
	}
	closeAndCheck(0, map[*page]string{ada: "correct", grace: "incorrect", linus: "correct"})
	var top []string
	teacher.eval(`[...document.querySelectorAll('[data-testid="leaderboard-row"]')].map(r => r.textContent)`, &top)
	// Ada and Linus scored by speed, Grace nothing: she is third with 0.
	if len(top) != 3 || !strings.HasPrefix(top[0], "1. ") || !strings.HasPrefix(top[2], "3. Grace 0") {
		t.Errorf("leaderboard after q0 = %q", top)
	}

	// Q1 multi (correct: options 0 and 2).
	next(1)
	ada.answer("multi", opt(1, 0), opt(1, 2))
	grace.answer("multi", opt(1, 0), opt(1, 1))
	linus.answer("multi", opt(1, 2))
	teacher.waitText("progress-answered", "3")
	wantBars(1, map[int]int{0: 2, 1: 1, 2: 2, 3: 0})
	// The countdown runs from the server's deadline.
	c1 := teacher.text("countdown")
	time.Sleep(2100 * time.Millisecond)
	if c2 := teacher.text("countdown"); c2 >= c1 || c2 == "" {
		t.Errorf("countdown went from %q to %q in 2 s", c1, c2)
	}
	// Mid-question, with the leaderboard of the first question beside it.
	teacher.screenshot(filepath.Join(out, "teacher-question.png"))
	ada.screenshot(filepath.Join(out, "student-answer.png"))
	closeAndCheck(1, map[*page]string{ada: "correct", grace: "incorrect", linus: "incorrect"})

	// Q2 true/false; Grace's network is cut for a few seconds first.
	next(2)
	grace.offline(true)
	grace.waitText("connection-status", "reconnecting")
	ada.answer("true_false", opt(2, 0))
	linus.answer("true_false", opt(2, 1))
	time.Sleep(3 * time.Second)
	grace.offline(false)
	grace.waitText("connection-status", "connected")
	grace.waitText("question-text", sc.quiz.Questions[2].Text)
	grace.answer("true_false", opt(2, 0))
	teacher.waitText("progress-answered", "3")
	closeAndCheck(2, map[*page]string{ada: "correct", grace: "correct", linus: "incorrect"})

	// Q3 poll; Linus reloads after answering.
	next(3)
	ada.answer("poll", opt(3, 0))
	grace.answer("poll", opt(3, 1))
	linus.answer("poll", opt(3, 0))
	linus.do(chromedp.Reload())
	linus.waitText("connection-status", "connected")
	linus.waitText("question-text", sc.quiz.Questions[3].Text)
	linus.waitText("answer-status", "accepted")
	var pressed []string
	linus.eval(`[...document.querySelectorAll('[data-testid="answer-option"][aria-pressed="true"]')].map(b => b.dataset.optionId)`, &pressed)
	if !slices.Equal(pressed, []string{opt(3, 0)}) {
		t.Errorf("after the reload the chosen option is %v, want %v", pressed, opt(3, 0))
	}
	teacher.waitText("progress-answered", "3")
	teacher.scan(axe, "live question (teacher)")
	ada.scan(axe, "live question (student)")
	closeAndCheck(3, map[*page]string{ada: "poll", grace: "poll", linus: "poll"})

	// Q4 single (correct: option 0); Linus does not answer; the teacher ends.
	next(4)
	ada.answer("single", opt(4, 0))
	grace.answer("single", opt(4, 1))
	teacher.waitText("progress-answered", "2")
	teacher.click(tid("session-end"))
	ada.waitPrefix("result", "correct")
	grace.waitPrefix("result", "incorrect")
	linus.waitText("answer-status", "closed")

	// The session report and its CSV: one row per question whose answers
	// and distribution are the ones given above.
	teacher.click(tid("report-link"))
	teacher.waitJS(`(document.querySelector('main h1') || {}).textContent?.startsWith('Session report')`, "session report")
	want := map[int]map[string]int{
		0: {opt(0, 0): 1, opt(0, 1): 2},
		1: {opt(1, 0): 2, opt(1, 1): 1, opt(1, 2): 2},
		2: {opt(2, 0): 2, opt(2, 1): 1},
		3: {opt(3, 0): 2, opt(3, 1): 1},
		4: {opt(4, 0): 1, opt(4, 1): 1},
	}
	wantAttempts := map[int]string{0: "3", 1: "3", 2: "3", 4: "2"}
	file := filepath.Join(downloads, "session-"+sessionID+".csv")
	var rows [][]string
	var mismatch string
	for try := 0; ; try++ {
		_ = os.Remove(file)
		teacher.click(tid("csv-download"))
		rows = waitCSV(t, file)
		if mismatch = checkCSV(rows, sc.quiz, want, wantAttempts); mismatch == "" {
			break
		}
		if try == 30 {
			t.Fatalf("session CSV never matched the answers: %s\n%v", mismatch, rows)
		}
		time.Sleep(time.Second) // the report views refresh behind the worker
		teacher.visit("#/report/session/"+sessionID, "Session report")
	}
	teacher.scan(axe, "session report")

	// Every other screen, for the accessibility scan.
	for _, s := range []struct{ hash, heading string }{
		{"#/live", "Run a quiz"},
		{"#/classrooms", "Classrooms"},
		{"#/classrooms/" + sc.classroomID, "Classroom"},
		{"#/quizzes", "Quizzes"},
		{"#/quizzes/new", "New quiz"},
		{"#/quizzes/" + sc.quiz.ID, "Edit"},
		{"#/reports", "Reports"},
		{"#/report/classroom/" + sc.classroomID, "Engagement"},
		{"#/report/quiz/" + sc.quiz.ID, "Effectiveness"},
		{"#/report/student/" + sc.students[0].ID, "Performance"},
		{"#/admin/users", "Users"},
		{"#/admin/audit", "Audit log"},
	} {
		teacher.visit(s.hash, s.heading)
		teacher.scan(axe, s.hash)
	}
	ada.visit("#/me", "Performance")
	ada.scan(axe, "my results")

	authoringThroughThePages(t, ctx, teacher, a, sc.teacherEmail)

	// Once loaded, the client starts without its server (service worker):
	// node A, Ada's, is stopped and her page reloaded.
	ada.waitJS(`!!navigator.serviceWorker.controller`, "the service worker in control")
	cl.Nodes[0].Stop()
	ada.eval(`window.beforeReload = true`, nil)
	ada.do(chromedp.Reload())
	ada.waitJS(`window.beforeReload === undefined && !!document.querySelector('main h1') && !!document.querySelector('[data-testid="logout"]')`, "the app shell without the server")

	for _, p := range append([]*page{teacher}, students...) {
		for _, msg := range p.problems() {
			t.Errorf("%s: %s", p.name, msg)
		}
	}
}

// waitCSV waits for a finished download.
func waitCSV(t *testing.T, file string) [][]string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(file); err == nil && len(b) > 0 {
			rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
			if err == nil {
				return rows
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no download at %s", file)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkCSV compares the per-question rows with the answers given; "" when
// they match.
func checkCSV(rows [][]string, q client.Quiz, dist map[int]map[string]int, attempts map[int]string) string {
	if len(rows) != len(q.Questions)+1 {
		return fmt.Sprintf("%d rows, want a header and %d", len(rows), len(q.Questions))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, name := range []string{"question_id", "attempts", "distribution"} {
		if _, ok := col[name]; !ok {
			return "no column " + name
		}
	}
	for i, qq := range q.Questions {
		var row []string
		for _, r := range rows[1:] {
			if r[col["question_id"]] == qq.ID {
				row = r
			}
		}
		if row == nil {
			return "no row for question " + fmt.Sprint(i)
		}
		if w, ok := attempts[i]; ok && row[col["attempts"]] != w {
			return fmt.Sprintf("question %d: attempts %s, want %s", i, row[col["attempts"]], w)
		}
		var got map[string]int
		if err := json.Unmarshal([]byte(row[col["distribution"]]), &got); err != nil {
			return fmt.Sprintf("question %d: distribution %q: %v", i, row[col["distribution"]], err)
		}
		for k, v := range got {
			if v == 0 {
				delete(got, k)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(dist[i]) {
			return fmt.Sprintf("question %d: distribution %v, want %v", i, got, dist[i])
		}
	}
	return ""
}

// authoringThroughThePages creates a classroom, its roster (one by one and
// from a pasted CSV) and a quiz through the teacher's screens, then checks
// what the API holds.
func authoringThroughThePages(t *testing.T, ctx context.Context, teacher *page, base, email string) {
	t.Helper()
	login, err := client.New(base).Login(ctx, email, teststack.Password)
	if err != nil {
		t.Fatal(err)
	}
	api := client.New(base).With(login.AccessToken)
	id := testenv.RandomID()

	teacher.visit("#/classrooms", "Classrooms")
	teacher.do(chromedp.SendKeys(chromedp.CSS(`form[name="new-classroom"] input[name="name"]`), "Class 8C"))
	teacher.click(chromedp.CSS(`form[name="new-classroom"] button[type="submit"]`))
	teacher.waitJS(`(document.querySelector('main h1') || {}).textContent === 'Classroom Class 8C'`, "the new classroom")
	var classroomID string
	teacher.eval(`location.hash.slice('#/classrooms/'.length)`, &classroomID)
	teacher.do(
		chromedp.SendKeys(chromedp.CSS(`input[name="student-name"]`), "Marie"),
		chromedp.SendKeys(chromedp.CSS(`input[name="student-email"]`), "marie-"+id+"@school.example.org"),
		chromedp.SendKeys(chromedp.CSS(`input[name="student-password"]`), teststack.Password),
	)
	teacher.click(chromedp.CSS(`form[name="add-student"] button[type="submit"]`))
	teacher.waitJS(`document.querySelector('main table') !== null && document.querySelector('main table').textContent.includes('Marie')`, "Marie on the roster")
	csvText := "name,email,password\n\"Curie, Pierre\",pierre-" + id + "@school.example.org," + teststack.Password + "\nIrène,irene-" + id + "@school.example.org," + teststack.Password + "\n"
	teacher.do(chromedp.SendKeys(chromedp.CSS(`textarea[name="roster-csv"]`), csvText))
	teacher.click(chromedp.CSS(`button[name="roster-import"]`))
	teacher.waitJS(`['Marie', 'Curie, Pierre', 'Irène'].every(n => (document.querySelector('main table') || {textContent: ''}).textContent.includes(n))`, "the imported roster")
	var roster struct {
		Items []client.User `json:"items"`
	}
	if _, err := api.Do(ctx, "GET", "/api/v1/classrooms/"+classroomID+"/students", nil, &roster); err != nil {
		t.Fatal(err)
	}
	if len(roster.Items) != 3 {
		t.Errorf("roster after the pages: %d students, want 3", len(roster.Items))
	}

	// A quiz of two questions; the second becomes true/false and moves up.
	teacher.visit("#/quizzes/new", "New quiz")
	teacher.do(
		chromedp.SendKeys(chromedp.CSS(`input[name="title"]`), "Made in the browser"),
		chromedp.SendKeys(chromedp.CSS(`textarea[name="q0-text"]`), "Which is even?"),
		chromedp.SendKeys(chromedp.CSS(`input[name="q0-o0"]`), "1"),
		chromedp.SendKeys(chromedp.CSS(`input[name="q0-o1"]`), "2"),
	)
	teacher.click(chromedp.CSS(`input[name="correct-0"][value="1"]`))
	teacher.click(chromedp.CSS(`form[name="quiz"] > .row button.secondary`)) // Add question
	teacher.waitJS(`!!document.querySelector('textarea[name="q1-text"]')`, "a second question")
	teacher.do(chromedp.SendKeys(chromedp.CSS(`textarea[name="q1-text"]`), "Water is wet"))
	teacher.eval(`(() => { const s = document.querySelector('select[name="q1-kind"]'); s.value = 'true_false'; s.dispatchEvent(new Event('change')); return true; })()`, nil)
	teacher.waitJS(`document.querySelector('input[name="q1-o0"]').value === 'True'`, "true/false options")
	teacher.click(chromedp.CSS(`button[aria-label="Move up question 2"]`))
	teacher.waitJS(`document.querySelector('textarea[name="q0-text"]').value === 'Water is wet'`, "the moved question")
	teacher.click(chromedp.CSS(`form[name="quiz"] button[type="submit"]`))
	teacher.waitJS(`/^#\/quizzes\/[0-9a-f-]{36}$/.test(location.hash)`, "the saved quiz")
	var quizID string
	teacher.eval(`location.hash.slice('#/quizzes/'.length)`, &quizID)
	var got client.Quiz
	if _, err := api.Do(ctx, "GET", "/api/v1/quizzes/"+quizID, nil, &got); err != nil {
		t.Fatal(err)
	}
	if got.Title != "Made in the browser" || len(got.Questions) != 2 ||
		got.Questions[0].Kind != "true_false" || got.Questions[0].Text != "Water is wet" || !slices.Equal(got.Questions[0].Correct, []int{0}) ||
		got.Questions[1].Kind != "single" || !slices.Equal(got.Questions[1].Correct, []int{1}) || got.Questions[1].Options[1].Text != "2" {
		t.Errorf("the quiz saved from the editor: %+v", got)
	}
}

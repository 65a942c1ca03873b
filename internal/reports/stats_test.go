package reports

import (
	"context"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quizcast/quizcast/internal/quiz"
)

// world is a small school whose every figure was computed by hand (see the
// comments at the assertions).
//
// Quiz "Fractions" (owner T): Q0 single a,b,c,d correct a; Q1 multi a,b,c
// correct a,b; Q2 poll x,y; Q3 single a,b correct a; Q4 multi a,b,c correct
// a,b. Classroom C (teacher T) enrols s1..s8; classroom C2 (teacher T2)
// enrols s9 and s1.
//
// S1 (C, 2026-09-10 10:00, all five opened):
//
//	     Q0        Q1          Q2     Q3       Q4         score
//	s1   a  900    a,b 800     x      a  500   b    0     2200
//	s2   a  700    a,b 600     y      b    0   a,b 400    1700
//	s3   a 1000    a,b 900     x      a  600   b    0     2500
//	s4   c    0    a     0     x      a  300   a    0      300
//	s5   c    0    a,c   0     y      -        -             0
//	s6   a  300    a     0     -      -        -           300
//
// S2 (C, 2026-09-17 10:00, only Q0 opened): s1 a 800, s7 b 0.
// S3 (C2, T2, 2026-09-18 10:00, only Q0 opened): s9 d 0.
type world struct {
	*fixture
	admin, teacher, teacher2, outsider string
	students                           map[string]string
	c, c2                              string
	quiz                               string
	s1, s2, s3                         string
	q                                  []fxQuestion
	store                              *Store
	refresher                          *Refresher
}

var (
	dayS1 = time.Date(2026, 9, 10, 10, 0, 0, 0, time.UTC)
	dayS2 = time.Date(2026, 9, 17, 10, 0, 0, 0, time.UTC)
	dayS3 = time.Date(2026, 9, 18, 10, 0, 0, 0, time.UTC)
)

func newWorld(t *testing.T) *world {
	t.Helper()
	pool := newDB(t)
	w := &world{fixture: newFixture(t, pool, "Hill School"), students: map[string]string{}}
	w.admin = w.user("Admin", "admin")
	w.teacher = w.user("Teacher", "teacher")
	w.teacher2 = w.user("Teacher Two", "teacher")
	w.outsider = w.user("Teacher Three", "teacher")
	names := map[string]string{"s1": "Eve", "s2": "Finn", "s3": "Gus", "s4": "Hana", "s5": "Ivo", "s6": "Bea", "s7": "Ivy", "s8": "Jon", "s9": "Kai"}
	for _, k := range []string{"s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"} {
		w.students[k] = w.user(names[k], "student")
	}
	st := w.students
	w.c = w.classroom("Maths 7A", w.teacher)
	w.c2 = w.classroom("Maths 7B", w.teacher2)
	w.enrol(w.c, st["s1"], st["s2"], st["s3"], st["s4"], st["s5"], st["s6"], st["s7"], st["s8"])
	w.enrol(w.c2, st["s9"], st["s1"])
	w.quiz = w.fixture.quiz(w.teacher, "Fractions", []fxQuestion{
		{Kind: "single", Options: []string{"a", "b", "c", "d"}, Correct: []string{"a"}, Points: 1000},
		{Kind: "multi", Options: []string{"a", "b", "c"}, Correct: []string{"a", "b"}, Points: 1000},
		{Kind: "poll", Options: []string{"x", "y"}, Points: 0},
		{Kind: "single", Options: []string{"a", "b"}, Correct: []string{"a"}, Points: 1000},
		{Kind: "multi", Options: []string{"a", "b", "c"}, Correct: []string{"a", "b"}, Points: 1000},
	})
	w.q = w.quizzes[w.quiz]

	w.s1 = w.session(w.c, w.quiz, w.teacher, dayS1, 0, 1, 2, 3, 4)
	type ans struct {
		s       string
		q       int
		choices []string
		points  int
		ms      int
	}
	for _, a := range []ans{
		{"s1", 0, []string{"a"}, 900, 1000}, {"s1", 1, []string{"a", "b"}, 800, 2000}, {"s1", 2, []string{"x"}, 0, 1500}, {"s1", 3, []string{"a"}, 500, 3000}, {"s1", 4, []string{"b"}, 0, 2500},
		{"s2", 0, []string{"a"}, 700, 3000}, {"s2", 1, []string{"a", "b"}, 600, 4000}, {"s2", 2, []string{"y"}, 0, 1000}, {"s2", 3, []string{"b"}, 0, 2000}, {"s2", 4, []string{"a", "b"}, 400, 5000},
		{"s3", 0, []string{"a"}, 1000, 500}, {"s3", 1, []string{"a", "b"}, 900, 1000}, {"s3", 2, []string{"x"}, 0, 800}, {"s3", 3, []string{"a"}, 600, 1200}, {"s3", 4, []string{"b"}, 0, 900},
		{"s4", 0, []string{"c"}, 0, 4000}, {"s4", 1, []string{"a"}, 0, 3000}, {"s4", 2, []string{"x"}, 0, 2000}, {"s4", 3, []string{"a"}, 300, 4500}, {"s4", 4, []string{"a"}, 0, 3500},
		{"s5", 0, []string{"c"}, 0, 5000}, {"s5", 1, []string{"a", "c"}, 0, 6000}, {"s5", 2, []string{"y"}, 0, 2500},
		{"s6", 0, []string{"a"}, 300, 2500}, {"s6", 1, []string{"a"}, 0, 2000},
	} {
		w.answer(w.s1, st[a.s], a.q, a.choices, a.points, a.ms)
	}
	w.s2 = w.session(w.c, w.quiz, w.teacher, dayS2, 0)
	w.answer(w.s2, st["s1"], 0, []string{"a"}, 800, 1000)
	w.answer(w.s2, st["s7"], 0, []string{"b"}, 0, 2000)
	w.s3 = w.session(w.c2, w.quiz, w.teacher2, dayS3, 0)
	w.answer(w.s3, st["s9"], 0, []string{"d"}, 0, 1000)

	w.store = NewStore(pool)
	w.refresher = NewRefresher(pool, nil, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)), RefresherConfig{})
	refreshAll(t, w.refresher)
	return w
}

func near(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = null, want %.6f", what, want)
		return
	}
	if math.Abs(*got-want) > 1e-9 {
		t.Errorf("%s = %.9f, want %.9f", what, *got, want)
	}
}

func isNull[T any](t *testing.T, what string, got *T) {
	t.Helper()
	if got != nil {
		t.Errorf("%s = %v, want null", what, *got)
	}
}

func eqInt[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func eqPtr[T comparable](t *testing.T, what string, got *T, want T) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = null, want %v", what, want)
	} else if *got != want {
		t.Errorf("%s = %v, want %v", what, *got, want)
	}
}

func eqDist(t *testing.T, what string, got map[string]int64, want map[string]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
		return
	}
	for k, v := range want {
		if n, ok := got[k]; !ok || n != v {
			t.Errorf("%s = %v, want %v", what, got, want)
			return
		}
	}
}

func (w *world) scope(subject string) Scope {
	return Scope{SchoolID: w.school, SubjectID: subject}
}

func TestItemStatisticsOfOneSession(t *testing.T) {
	w := newWorld(t)
	info := SessionInfo{ID: w.s1}
	rep, err := w.store.Session(context.Background(), w.scope(w.s1), info, Query{Kind: KindSession})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Questions) != 5 {
		t.Fatalf("questions = %d, want 5", len(rep.Questions))
	}
	q := rep.Questions
	for i := range q {
		eqInt(t, "question order", q[i].QuestionID, w.q[i].ID)
		eqInt(t, "index", q[i].Index, i)
	}

	// Q0: x = correct? and y = score on the rest of S1 (session score
	// minus the points on Q0):
	//   s1 1 2200-900=1300, s2 1 1700-700=1000, s3 1 2500-1000=1500,
	//   s4 0 300, s5 0 0, s6 1 300-300=0.
	// Point-biserial r = (M1 − M0) / s · √(p q) with the population s:
	//   M1 = (1300+1000+1500+0)/4 = 950, M0 = (300+0)/2 = 150,
	//   mean = 4100/6, Σy² = 5 030 000, s² = 5 030 000/6 − (4100/6)² = 371 388.89,
	//   s = 609.4168, p = 4/6, q = 2/6:
	//   r = 800 / 609.4168 × √(8/36) = 0.618827.
	wantR := 800 / math.Sqrt(5030000.0/6-math.Pow(4100.0/6, 2)) * math.Sqrt(8.0/36)
	if math.Abs(wantR-0.618827) > 1e-6 {
		t.Fatalf("the hand computation is off: %f", wantR)
	}
	eqInt(t, "Q0 attempts", q[0].Attempts, 6)
	near(t, "Q0 p_correct", q[0].PCorrect, 4.0/6)
	near(t, "Q0 discrimination", q[0].Discrimination, wantR)
	eqDist(t, "Q0 distribution", q[0].Distribution, map[string]int64{"a": 4, "b": 0, "c": 2, "d": 0})
	eqPtr(t, "Q0 top wrong", q[0].TopWrongOptionID, "c")
	// (1000+3000+500+4000+5000+2500)/6 = 2666.67 → 2667
	eqPtr(t, "Q0 avg_response_ms", q[0].AvgResponseMS, 2667)

	// Q1: rests 1400, 1100, 1600 (correct) and 300, 0, 300 (wrong):
	//   M1 = 4100/3, M0 = 600/3 = 200, Σy² = 5 910 000, mean = 4700/6,
	//   s = √(5 910 000/6 − (4700/6)²) = 609.4168, p = q = 1/2:
	//   r = 1166.67 / 609.4168 × 0.5 = 0.957199.
	wantR1 := (4100.0/3 - 200) / math.Sqrt(5910000.0/6-math.Pow(4700.0/6, 2)) * 0.5
	near(t, "Q1 discrimination", q[1].Discrimination, wantR1)
	near(t, "Q1 p_correct", q[1].PCorrect, 0.5)
	eqDist(t, "Q1 distribution", q[1].Distribution, map[string]int64{"a": 6, "b": 3, "c": 1})
	// Wrong answers: [a], [a,c], [a]: a is picked 3 times but is in the
	// correct set, so the top wrong option is c.
	eqPtr(t, "Q1 top wrong", q[1].TopWrongOptionID, "c")

	// Q2 is a poll: counted and distributed, no item statistics.
	eqInt(t, "Q2 attempts", q[2].Attempts, 5)
	isNull(t, "Q2 p_correct", q[2].PCorrect)
	isNull(t, "Q2 discrimination", q[2].Discrimination)
	isNull(t, "Q2 top wrong", q[2].TopWrongOptionID)
	eqDist(t, "Q2 distribution", q[2].Distribution, map[string]int64{"x": 3, "y": 2})
	eqPtr(t, "Q2 avg_response_ms", q[2].AvgResponseMS, 1560)

	// Q3: 4 attempts: discrimination is null under 5.
	eqInt(t, "Q3 attempts", q[3].Attempts, 4)
	near(t, "Q3 p_correct", q[3].PCorrect, 0.75)
	isNull(t, "Q3 discrimination", q[3].Discrimination)
	eqPtr(t, "Q3 top wrong", q[3].TopWrongOptionID, "b")

	// Q4: wrong answers [b], [b], [a] pick only options of the correct set.
	near(t, "Q4 p_correct", q[4].PCorrect, 0.25)
	isNull(t, "Q4 top wrong", q[4].TopWrongOptionID)
	eqDist(t, "Q4 distribution", q[4].Distribution, map[string]int64{"a": 2, "b": 3, "c": 0})

	// Participants: students who answered at least once.
	eqInt(t, "participants", rep.Participants, 6)
	// Leaderboard: ties share a rank and are ordered by name (Bea < Hana).
	want := []LeaderEntry{
		{w.students["s3"], "Gus", 2500, 1}, {w.students["s1"], "Eve", 2200, 2}, {w.students["s2"], "Finn", 1700, 3},
		{w.students["s6"], "Bea", 300, 4}, {w.students["s4"], "Hana", 300, 4}, {w.students["s5"], "Ivo", 0, 6},
	}
	if len(rep.Leaderboard) != len(want) {
		t.Fatalf("leaderboard = %+v", rep.Leaderboard)
	}
	for i := range want {
		eqInt(t, "leaderboard line", rep.Leaderboard[i], want[i])
	}
}

func TestEffectivenessPoolsSessions(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rep, err := w.store.Effectiveness(ctx, w.scope(w.quiz), QuizRef{ID: w.quiz}, Query{Kind: KindEffectiveness})
	if err != nil {
		t.Fatal(err)
	}
	eqInt(t, "sessions", rep.Sessions, 3)
	q0 := rep.Questions[0]
	// Q0 over S1, S2, S3: the six pairs of S1 plus (1, 0) and (0, 0) from S2
	// (only Q0 was asked: the rest of the quiz scored nothing) and (0, 0)
	// from S3: x = 1,1,1,0,0,1,1,0,0; y = 1300,1000,1500,300,0,0,0,0,0.
	//   n = 9, p = 5/9, M1 = 3800/5 = 760, M0 = 300/4 = 75,
	//   mean = 4100/9, Σy² = 5 030 000, s = √(5 030 000/9 − (4100/9)²):
	//   r = 685 / s × √(20/81) = 0.574233.
	s := math.Sqrt(5030000.0/9 - math.Pow(4100.0/9, 2))
	wantR := 685 / s * math.Sqrt(20.0/81)
	if math.Abs(wantR-0.5742330) > 1e-6 {
		t.Fatalf("the hand computation is off: %f", wantR)
	}
	eqInt(t, "Q0 attempts", q0.Attempts, 9)
	near(t, "Q0 p_correct", q0.PCorrect, 5.0/9)
	near(t, "Q0 discrimination", q0.Discrimination, wantR)
	eqDist(t, "Q0 distribution", q0.Distribution, map[string]int64{"a": 5, "b": 1, "c": 2, "d": 1})
	eqPtr(t, "Q0 top wrong", q0.TopWrongOptionID, "c")

	// The from/to filter on the session's start: S1 alone.
	rep, err = w.store.Effectiveness(ctx, w.scope(w.quiz), QuizRef{ID: w.quiz}, Query{Kind: KindEffectiveness, To: dayS2})
	if err != nil {
		t.Fatal(err)
	}
	eqInt(t, "sessions before S2", rep.Sessions, 1)
	eqInt(t, "Q0 attempts before S2", rep.Questions[0].Attempts, 6)

	// Paging: two questions a page, in order, then the rest.
	var got []string
	q := Query{Kind: KindEffectiveness, Limit: 2}
	for range 5 {
		rep, err = w.store.Effectiveness(ctx, w.scope(w.quiz), QuizRef{ID: w.quiz}, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, qs := range rep.Questions {
			got = append(got, qs.QuestionID)
		}
		if rep.NextCursor == "" {
			break
		}
		q.Cursor = rep.NextCursor
	}
	if len(got) != 5 {
		t.Fatalf("paged questions = %d, want 5", len(got))
	}
	for i := range got {
		eqInt(t, "paged question", got[i], w.q[i].ID)
	}
}

func TestPerformance(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	s1 := w.students["s1"]
	rep, err := w.store.Performance(ctx, w.scope(s1), Person{ID: s1}, Query{Kind: KindPerformance})
	if err != nil {
		t.Fatal(err)
	}
	// s1: S1 Q0 ✓, Q1 ✓, Q2 poll (left out), Q3 ✓, Q4 ✗; S2 Q0 ✓.
	eqInt(t, "answered", rep.Answered, 5)
	eqInt(t, "correct", rep.Correct, 4)
	near(t, "accuracy", rep.Accuracy, 0.8)
	eqInt(t, "points", rep.Points, 3000)
	// (1000+2000+3000+2500 + 1000)/5, the poll's 1500 left out.
	eqPtr(t, "avg_response_ms", rep.AvgResponseMS, 1900)
	want := []PerformanceSession{
		{SessionID: w.s2, QuizTitle: "Fractions", StartedAt: quiz.Time(dayS2), Answered: 1, Correct: 1, Score: 800, Rank: 1},
		{SessionID: w.s1, QuizTitle: "Fractions", StartedAt: quiz.Time(dayS1), Answered: 4, Correct: 3, Score: 2200, Rank: 2},
	}
	if len(rep.Sessions) != 2 {
		t.Fatalf("sessions = %+v", rep.Sessions)
	}
	for i := range want {
		got := rep.Sessions[i]
		got.StartedAt = quiz.Time(time.Time(got.StartedAt).UTC())
		if got.SessionID != want[i].SessionID || got.Answered != want[i].Answered || got.Correct != want[i].Correct ||
			got.Score != want[i].Score || got.Rank != want[i].Rank || got.QuizTitle != want[i].QuizTitle ||
			!time.Time(got.StartedAt).Equal(time.Time(want[i].StartedAt)) {
			t.Errorf("session %d = %+v, want %+v", i, got, want[i])
		}
	}
	if len(rep.ByDay) != 2 || rep.ByDay[0] != (DayCount{"2026-09-10", 4, 3}) || rep.ByDay[1] != (DayCount{"2026-09-17", 1, 1}) {
		t.Errorf("by_day = %+v", rep.ByDay)
	}

	// A teacher sees the student's sessions in the classrooms they teach
	// only: T2 teaches C2, where s1 answered nothing.
	bounded := w.scope(s1)
	bounded.TeacherID = w.teacher2
	rep, err = w.store.Performance(ctx, bounded, Person{ID: s1}, Query{Kind: KindPerformance})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Answered != 0 || len(rep.Sessions) != 0 || rep.Accuracy != nil || rep.AvgResponseMS != nil {
		t.Errorf("T2's view of s1 = %+v, want nothing", rep)
	}

	// Paging one session at a time, newest first.
	rep, err = w.store.Performance(ctx, w.scope(s1), Person{ID: s1}, Query{Kind: KindPerformance, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sessions) != 1 || rep.Sessions[0].SessionID != w.s2 || rep.NextCursor == "" {
		t.Fatalf("page 1 = %+v", rep)
	}
	rep, err = w.store.Performance(ctx, w.scope(s1), Person{ID: s1}, Query{Kind: KindPerformance, Limit: 1, Cursor: rep.NextCursor})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sessions) != 1 || rep.Sessions[0].SessionID != w.s1 || rep.NextCursor != "" {
		t.Fatalf("page 2 = %+v", rep)
	}
	// Totals cover the whole range, whatever the page.
	eqInt(t, "answered on page 2", rep.Answered, 5)
}

func TestEngagement(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rep, err := w.store.Engagement(ctx, w.scope(w.c), Classroom{ID: w.c}, Query{Kind: KindEngagement})
	if err != nil {
		t.Fatal(err)
	}
	eqInt(t, "enrolled", rep.Enrolled, 8)
	// Distinct students who answered in S1 or S2: s1..s7 → 7/8.
	near(t, "participation_rate", rep.ParticipationRate, 7.0/8)
	// Completers over participants, pooled: S1 (s1..s4 of 6) + S2 (2 of 2).
	near(t, "completion_rate", rep.CompletionRate, 6.0/8)
	if len(rep.Sessions) != 2 || rep.Sessions[0].SessionID != w.s2 || rep.Sessions[1].SessionID != w.s1 {
		t.Fatalf("sessions = %+v", rep.Sessions)
	}
	e1 := rep.Sessions[1]
	eqInt(t, "S1 participants", e1.Participants, 6)
	near(t, "S1 participation_rate", e1.ParticipationRate, 6.0/8)
	near(t, "S1 completion_rate", e1.CompletionRate, 4.0/6)
	// Every answer counts here, polls included: 64 400 ms / 25 = 2576.
	eqPtr(t, "S1 avg_response_ms", e1.AvgResponseMS, 2576)
	e2 := rep.Sessions[0]
	near(t, "S2 participation_rate", e2.ParticipationRate, 2.0/8)
	near(t, "S2 completion_rate", e2.CompletionRate, 1)
	eqPtr(t, "S2 avg_response_ms", e2.AvgResponseMS, 1500)

	// from = S2's start: S2 alone.
	rep, err = w.store.Engagement(ctx, w.scope(w.c), Classroom{ID: w.c}, Query{Kind: KindEngagement, From: dayS2})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "participation_rate from S2", rep.ParticipationRate, 2.0/8)
	near(t, "completion_rate from S2", rep.CompletionRate, 1)
	eqInt(t, "sessions from S2", len(rep.Sessions), 1)

	// s6 leaves the classroom: 7 enrolled, but s6 was enrolled when
	// answering S1, so S1 stays 6 of 8 and the rates stay within 0..1.
	w.exec(`DELETE FROM enrolments WHERE classroom_id = $1 AND student_id = $2`, w.c, w.students["s6"])
	rep, err = w.store.Engagement(ctx, w.scope(w.c), Classroom{ID: w.c}, Query{Kind: KindEngagement})
	if err != nil {
		t.Fatal(err)
	}
	eqInt(t, "enrolled after removal", rep.Enrolled, 7)
	near(t, "participation_rate after removal", rep.ParticipationRate, 7.0/8)
	near(t, "S1 participation_rate after removal", rep.Sessions[1].ParticipationRate, 6.0/8)
}

func TestAsOfFollowsRefreshes(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	var recorded time.Time
	if err := w.pool.QueryRow(ctx, `SELECT refreshed_at FROM view_refreshes WHERE view_name = $1`, ViewStudentSessions).Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	rep, err := w.store.Performance(ctx, w.scope(w.students["s1"]), Person{}, Query{Kind: KindPerformance})
	if err != nil {
		t.Fatal(err)
	}
	if !time.Time(rep.AsOf).Equal(recorded) {
		t.Errorf("as_of = %v, want the recorded refresh %v", time.Time(rep.AsOf), recorded)
	}
	// A new answer is invisible until the next refresh, which moves as_of.
	w.answer(w.s2, w.students["s2"], 0, []string{"a"}, 500, 700)
	rep2, _ := w.store.Performance(ctx, w.scope(w.students["s2"]), Person{}, Query{Kind: KindPerformance})
	eqInt(t, "s2 answered before refresh", rep2.Answered, 4)
	if err := w.refresher.Refresh(ctx, ViewStudentSessions); err != nil {
		t.Fatal(err)
	}
	rep2, _ = w.store.Performance(ctx, w.scope(w.students["s2"]), Person{}, Query{Kind: KindPerformance})
	eqInt(t, "s2 answered after refresh", rep2.Answered, 5)
	if !time.Time(rep2.AsOf).After(recorded) {
		t.Errorf("as_of %v did not move past %v", time.Time(rep2.AsOf), recorded)
	}
}

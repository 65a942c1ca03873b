package realtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quizcast/quizcast/internal/client"
	"github.com/quizcast/quizcast/internal/node"
	"github.com/quizcast/quizcast/internal/teststack"
)

type questionOpened struct {
	Question struct {
		ID      string          `json:"id"`
		Index   int             `json:"index"`
		Kind    string          `json:"kind"`
		Options []client.Option `json:"options"`
		Correct json.RawMessage `json:"correct"`
	} `json:"question"`
}

type questionClosed struct {
	QuestionID   string         `json:"question_id"`
	Correct      []string       `json:"correct"`
	Distribution map[string]int `json:"distribution"`
	Answered     int            `json:"answered"`
	Participants int            `json:"participants"`
}

type leaderboard struct {
	Top []struct {
		UserID string `json:"user_id"`
		Name   string `json:"name"`
		Score  int    `json:"score"`
		Rank   int    `json:"rank"`
	} `json:"top"`
}

type result struct {
	QuestionID string `json:"question_id"`
	Correct    *bool  `json:"correct"`
	Points     int    `json:"points"`
	Score      int    `json:"score"`
	Rank       int    `json:"rank"`
}

// choose is student i's answer to question q: mostly right, some wrong.
func choose(i int, q client.Question) []int {
	switch {
	case q.Kind == "poll":
		return []int{i % len(q.Options)}
	case i%3 == 0: // wrong: the first option not in the correct set
		for o := range q.Options {
			if !slices.Contains(q.Correct, o) {
				return []int{o}
			}
		}
	}
	return q.Correct
}

// TestLiveQuizAcrossTwoNodes runs a 5-question quiz of all four kinds with
// the teacher on node A and 30 students split over A and B.
func TestLiveQuizAcrossTwoNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cl := teststack.Start(t, 2, node.Options{})
	sc := teststack.NewSchool(t, ctx, cl.URL(0), 30, teststack.FiveQuestions())
	sess, err := sc.Teacher.CreateSession(ctx, sc.Quiz.ID, sc.Classroom.ID)
	if err != nil {
		t.Fatal(err)
	}
	teacher := teststack.Dial(t, ctx, cl.URL(0), sc.Teacher.Token, sess.ID, client.DialOptions{})
	if w := teststack.Expect(t, ctx, teacher, "welcome"); !strings.Contains(string(w.Data), `"role":"teacher"`) {
		t.Fatalf("teacher welcome: %s", w.Data)
	}
	socks := make([]*client.Socket, len(sc.Students))
	for i, st := range sc.Students {
		socks[i] = teststack.Dial(t, ctx, cl.URL(i%2), st.Token, sess.ID, client.DialOptions{})
		teststack.Expect(t, ctx, socks[i], "welcome")
	}
	// The teacher sees every student join.
	joined := map[string]bool{}
	for len(joined) < len(sc.Students) {
		var p struct {
			Joined []struct {
				UserID string `json:"user_id"`
			} `json:"joined"`
		}
		f := teststack.Expect(t, ctx, teacher, "participants")
		if err := json.Unmarshal(f.Data, &p); err != nil {
			t.Fatal(err)
		}
		for _, j := range p.Joined {
			joined[j.UserID] = true
		}
	}

	if err := teacher.Send(ctx, "start", "s1", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	// Each student collects what it received, checked at the end.
	type seen struct {
		seqs    []int64
		types   []string
		results []result
		last    leaderboard
	}
	got := make([]seen, len(socks))
	for qi, q := range sc.Quiz.Questions {
		// Alternate WebSocket and REST commands: one operation either way.
		if qi%2 == 0 {
			if err := teacher.Send(ctx, "next", "n", map[string]any{}); err != nil {
				t.Fatal(err)
			}
		} else if _, err := sc.Teacher.Command(ctx, sess.ID, "next"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(socks))
		for i, s := range socks {
			wg.Go(func() {
				for {
					f, err := s.Next(ctx)
					if err != nil {
						errs <- err
						return
					}
					if f.Seq > 0 {
						got[i].seqs = append(got[i].seqs, f.Seq)
						got[i].types = append(got[i].types, f.Type)
					}
					if f.Type != "question.opened" {
						continue
					}
					var qo questionOpened
					_ = json.Unmarshal(f.Data, &qo)
					if qo.Question.Correct != nil {
						errs <- errorf("question.opened leaked the correct answer: %s", f.Data)
						return
					}
					var ids []string
					for _, o := range choose(i, q) {
						ids = append(ids, q.Options[o].ID)
					}
					if err := s.Send(ctx, "answer", "a1", map[string]any{"question_id": q.ID, "choices": ids}); err != nil {
						errs <- err
						return
					}
					acc, err := s.Expect(ctx, "answer.accepted")
					if err != nil {
						errs <- err
						return
					}
					if acc.ID != "a1" {
						errs <- errorf("answer.accepted does not echo the id: %+v", acc)
					}
					return
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// The teacher saw the progress, then closes the question.
		teststack.Expect(t, ctx, teacher, "answer.progress")
		if qi%2 == 0 {
			if _, err := sc.Teacher.Command(ctx, sess.ID, "close"); err != nil {
				t.Fatal(err)
			}
		} else if err := teacher.Send(ctx, "close", "c", map[string]any{}); err != nil {
			t.Fatal(err)
		}
		closed := teststack.Expect(t, ctx, teacher, "question.closed")
		var qc questionClosed
		_ = json.Unmarshal(closed.Data, &qc)
		if qc.Answered != len(socks) || qc.Participants != len(socks) {
			t.Fatalf("question %d closed with %d answered of %d participants, want 30/30", qi, qc.Answered, qc.Participants)
		}
		for i, s := range socks {
			for {
				f, err := s.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if f.Seq > 0 {
					got[i].seqs = append(got[i].seqs, f.Seq)
					got[i].types = append(got[i].types, f.Type)
				}
				if f.Type == "leaderboard" {
					_ = json.Unmarshal(f.Data, &got[i].last)
				}
				if f.Type == "result" {
					var r result
					_ = json.Unmarshal(f.Data, &r)
					got[i].results = append(got[i].results, r)
					break
				}
			}
		}
	}
	if _, err := sc.Teacher.Command(ctx, sess.ID, "end"); err != nil {
		t.Fatal(err)
	}
	for i, s := range socks {
		for {
			f, err := s.Next(ctx)
			if err != nil {
				if s.CloseStatus() != 1000 {
					t.Fatalf("student %d: socket closed with %v, want 1000 after session.ended", i, s.CloseStatus())
				}
				break
			}
			if f.Seq > 0 {
				got[i].seqs = append(got[i].seqs, f.Seq)
				got[i].types = append(got[i].types, f.Type)
			}
		}
	}

	// Every student received every broadcast, in seq order, without a gap:
	// started, then per question opened/closed/leaderboard, then ended.
	want := 1 + 3*len(sc.Quiz.Questions) + 1
	for i := range got {
		if len(got[i].seqs) != want {
			t.Fatalf("student %d got %d broadcasts %v, want %d", i, len(got[i].seqs), got[i].types, want)
		}
		for j, seq := range got[i].seqs {
			if seq != int64(j+1) {
				t.Fatalf("student %d: broadcast %d has seq %d: %v", i, j, seq, got[i].seqs)
			}
		}
		if got[i].types[0] != "session.started" || got[i].types[want-1] != "session.ended" {
			t.Fatalf("student %d: order %v", i, got[i].types)
		}
	}

	// Every answer is in PostgreSQL once, with the server's correctness and
	// points, and the leaderboard agrees with the answers table.
	rows, err := cl.Pool.Query(ctx, `SELECT a.student_id, a.question_idx, a.correct, a.points, a.response_ms, q.points, q.time_limit_s, q.kind
		FROM answers a JOIN questions q ON q.id = a.question_id WHERE a.session_id = $1`, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	byStudent := map[string]int{}
	count := map[[2]any]int{}
	index := map[string]int{}
	for i, st := range sc.Students {
		index[st.ID] = i
	}
	for rows.Next() {
		var sid, kind string
		var idx, points, ms, qpoints, limit int
		var correct *bool
		if err := rows.Scan(&sid, &idx, &correct, &points, &ms, &qpoints, &limit, &kind); err != nil {
			t.Fatal(err)
		}
		count[[2]any{sid, idx}]++
		q := sc.Quiz.Questions[idx]
		i := index[sid]
		wantCorrect := kind != "poll" && slices.Equal(choose(i, q), q.Correct)
		if kind == "poll" {
			if correct != nil || points != 0 {
				t.Fatalf("poll answer scored: %v %d", correct, points)
			}
			continue
		}
		if correct == nil || *correct != wantCorrect {
			t.Fatalf("student %d question %d: correct=%v, want %v", i, idx, correct, wantCorrect)
		}
		wantPoints := 0
		if wantCorrect {
			wantPoints = int(math.Round(float64(qpoints) * (1 - 0.5*math.Min(float64(ms)/float64(limit*1000), 1))))
		}
		if points != wantPoints {
			t.Fatalf("student %d question %d: %d points, want %d (response %d ms)", i, idx, points, wantPoints, ms)
		}
		byStudent[sid] += points
	}
	if len(count) != len(sc.Students)*len(sc.Quiz.Questions) {
		t.Fatalf("%d (student, question) answers stored, want %d", len(count), len(sc.Students)*len(sc.Quiz.Questions))
	}
	for k, n := range count {
		if n != 1 {
			t.Fatalf("answer %v stored %d times", k, n)
		}
	}
	type standing struct {
		id, name string
		score    int
	}
	var all []standing
	for _, st := range sc.Students {
		all = append(all, standing{st.ID, st.Name, byStudent[st.ID]})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].score != all[j].score {
			return all[i].score > all[j].score
		}
		return all[i].name < all[j].name
	})
	lb := got[0].last
	if len(lb.Top) != 10 {
		t.Fatalf("leaderboard has %d entries, want 10", len(lb.Top))
	}
	for i, e := range lb.Top {
		if e.UserID != all[i].id || e.Score != all[i].score {
			t.Fatalf("leaderboard[%d] = %+v, want %+v", i, e, all[i])
		}
		if i > 0 && e.Score == lb.Top[i-1].Score && e.Rank != lb.Top[i-1].Rank {
			t.Fatalf("tie without shared rank: %+v", lb.Top)
		}
	}
	for i, st := range sc.Students {
		rs := got[i].results
		if len(rs) != len(sc.Quiz.Questions) {
			t.Fatalf("student %d got %d results", i, len(rs))
		}
		if final := rs[len(rs)-1].Score; final != byStudent[st.ID] {
			t.Fatalf("student %d final result score %d, answers table says %d", i, final, byStudent[st.ID])
		}
		if rs[3].Correct != nil {
			t.Fatalf("poll result has correct=%v, want null", *rs[3].Correct)
		}
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/client"
)

// RunResult is what `loadgen run` measured.
type RunResult struct {
	Scenario        string         `json:"scenario"`
	Nodes           []string       `json:"nodes"`
	Classrooms      int            `json:"classrooms"`
	StudentsPerRoom int            `json:"students_per_room"`
	Questions       int            `json:"questions"`
	AnswerFrom      int            `json:"answer_from"`
	IntervalMs      int64          `json:"interval_ms"`
	ThinkMs         [2]int64       `json:"think_ms"`
	Connect         ConnectStats   `json:"connect"`
	SocketsPerNode  map[string]int `json:"sockets_per_node"`
	RSSKiB          []RSSSample    `json:"rss_kib,omitempty"`
	FanoutIdle      FanoutStats    `json:"fanout_idle"`
	FanoutAnswering FanoutStats    `json:"fanout_answering"`
	Answers         AnswerStats    `json:"answers"`
	Events          EventStats     `json:"events"`
	TeacherErrors   int64          `json:"teacher_errors"`
	FirstError      string         `json:"first_error,omitempty"`
	Seconds         float64        `json:"seconds"`
}

// ConnectStats is how fast sockets were opened (handshake to welcome).
type ConnectStats struct {
	Sockets   int     `json:"sockets"`
	Failed    int     `json:"failed"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	Handshake Dist    `json:"handshake"`
}

// RSSSample is a node's resident memory before and after the sockets.
type RSSSample struct {
	Node   string `json:"node"`
	PID    int    `json:"pid"`
	Before int64  `json:"before"`
	After  int64  `json:"after"`
}

// FanoutStats is teacher command → students' receipt of question.opened.
type FanoutStats struct {
	Questions  int   `json:"questions"`
	Expected   int64 `json:"expected"`
	Delivered  int64 `json:"delivered"`
	Each       Dist  `json:"each_student"`
	LastOfRoom Dist  `json:"last_of_room"`
	// Incomplete counts (room, question) pairs where some student never
	// got the question (so the room has no "last student" figure).
	Incomplete int `json:"incomplete_rooms"`
}

// AnswerStats is the answers and their durability check.
type AnswerStats struct {
	Sent          int64            `json:"sent"`
	Acked         int64            `json:"acked"`
	Rejected      map[string]int64 `json:"rejected,omitempty"`
	Unanswered    int64            `json:"unanswered"`
	Ack           Dist             `json:"ack"`
	DurablePerSec float64          `json:"durable_per_sec"`
	PeakPerSec    int64            `json:"peak_per_sec"`
	StoredAcked   int64            `json:"stored_acked"`
	StoredTotal   int64            `json:"stored_total"`
	Duplicates    int64            `json:"duplicates"`
}

// EventStats is the lag of the run's own events through the pipeline.
type EventStats struct {
	Events     int64   `json:"events"`
	OutboxLeft int64   `json:"outbox_left"`
	LagP50Ms   float64 `json:"lag_p50_ms"`
	LagP99Ms   float64 `json:"lag_p99_ms"`
	LagMaxMs   float64 `json:"lag_max_ms"`
	PerSecond  float64 `json:"per_second"`
}

type room struct {
	seeded  SeededClassroom
	session string
	node    string
	teacher *client.Socket
	sent    []atomic.Int64    // per question: when the teacher sent next (unix ns)
	recv    [][]time.Duration // [question][student]: question.opened latency, 0 if never
}

type student struct {
	room  *room
	i     int
	sock  *client.Socket
	sent  []atomic.Int64 // per question: when the answer was sent (unix ns)
	ack   []time.Duration
	ackAt []int64
	ids   []string
	rej   map[string]int64
}

func runCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	pf := addPlayFlags(fs)
	questions := fs.Int("questions", 20, "questions each teacher opens")
	answerFrom := fs.Int("answer-from", 5, "students answer questions from this index on (the first ones measure fan-out in a quiet room)")
	interval := fs.Duration("interval", time.Second, "time between two questions")
	thinkMin := fs.Duration("think-min", 50*time.Millisecond, "shortest think time")
	thinkMax := fs.Duration("think-max", 700*time.Millisecond, "longest think time")
	fs.String("timeout", "6m", "give up after")
	_ = fs.Parse(args)
	ctx, cancel := bounded(ctx, fs)
	defer cancel()

	ps, err := pf.resolve()
	if err != nil {
		return err
	}
	nodes, pids, seeded, classrooms, students := ps.nodes, ps.pids, ps.seeded, ps.classrooms, ps.students
	if *questions < 1 || *questions > len(seeded.Classrooms[0].Questions) || *questions > 100 {
		return fmt.Errorf("-questions: 1..%d seeded", len(seeded.Classrooms[0].Questions))
	}
	if *thinkMax < *thinkMin || *interval <= 0 {
		return errors.New("-think-max ≥ -think-min, -interval > 0")
	}
	pool, err := openDB(ctx, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	res := &RunResult{Scenario: "run", Nodes: nodes, Classrooms: classrooms, StudentsPerRoom: students,
		Questions: *questions, AnswerFrom: *answerFrom, IntervalMs: interval.Milliseconds(),
		ThinkMs: [2]int64{thinkMin.Milliseconds(), thinkMax.Milliseconds()}}
	started := time.Now()

	m, seededRooms, sessions, err := ps.open(ctx)
	if err != nil {
		return err
	}
	teacherNode := ps.teacherNode
	rooms := make([]*room, len(seededRooms))
	var studs []*student
	for i, sr := range seededRooms {
		r := &room{seeded: sr, session: sessions[i], node: teacherNode(i),
			sent: make([]atomic.Int64, *questions), recv: make([][]time.Duration, *questions)}
		for q := range r.recv {
			r.recv[q] = make([]time.Duration, students)
		}
		rooms[i] = r
		for j := range students {
			studs = append(studs, &student{room: r, i: j, sent: make([]atomic.Int64, *questions),
				ack: make([]time.Duration, *questions), ackAt: make([]int64, *questions), rej: map[string]int64{}})
		}
	}
	before := sampleRSS(nodes, pids)

	// Open every socket: the teachers, then the students, each room split
	// over the nodes so every broadcast crosses Redis to reach all of it.
	var firstErr atomic.Value
	fl, err := connectRooms(ctx, m, nodes, seededRooms, sessions, students, *pf.dia, 64, 64, teacherNode, &firstErr)
	if err != nil {
		return err
	}
	res.Connect, res.SocketsPerNode = fl.connect, fl.perNode
	for i, r := range rooms {
		r.teacher = fl.teachers[i]
	}
	for k, st := range studs {
		st.sock = fl.students[k/students][st.i]
	}
	time.Sleep(2 * time.Second) // let joins and presence settle before the clock starts
	res.RSSKiB = sampleAfter(before)
	fmt.Printf("run: %d sockets open in %.1fs (%d failed); playing %d questions every %s\n",
		res.Connect.Sockets, res.Connect.Seconds, res.Connect.Failed, *questions, *interval)

	// Students listen and answer; teachers drive.
	var wg sync.WaitGroup
	for _, st := range studs {
		if st.sock == nil {
			continue
		}
		wg.Go(func() { st.listen(ctx, *answerFrom, *thinkMin, *thinkMax) })
	}
	var teacherErrs atomic.Int64
	base := time.Now().Add(200 * time.Millisecond)
	grace := *thinkMax + 3*time.Second
	var twg sync.WaitGroup
	for i, r := range rooms {
		if r.teacher == nil {
			continue
		}
		twg.Go(func() { r.listenTeacher(ctx, &teacherErrs, &firstErr) })
		twg.Go(func() {
			offset := time.Duration(int64(*interval) * int64(i) / int64(len(rooms)))
			r.drive(ctx, base.Add(offset), *interval, *questions, grace, &teacherErrs, &firstErr)
		})
	}
	twg.Wait()
	waitOrTimeout(&wg, 15*time.Second)
	for _, st := range studs {
		if st.sock != nil {
			st.sock.Close()
		}
	}
	res.TeacherErrors = teacherErrs.Load()
	if v := firstErr.Load(); v != nil {
		res.FirstError = v.(string)
	}

	res.FanoutIdle = fanout(rooms, 0, min(*answerFrom, *questions), students)
	res.FanoutAnswering = fanout(rooms, min(*answerFrom, *questions), *questions, students)
	res.Answers = answers(studs, *answerFrom, *questions)
	if err := checkAnswers(ctx, pool, studs, sessions, &res.Answers); err != nil {
		return err
	}
	res.Events, err = eventLag(ctx, pool, sessions)
	if err != nil {
		return err
	}
	res.Seconds = time.Since(started).Seconds()
	printRun(res)
	return writeJSON(*pf.out, res)
}

func parsePIDs(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("-pids: %w", err)
		}
		out = append(out, n)
	}
	return out, nil
}

func sampleRSS(nodes []string, pids []int) []RSSSample {
	var out []RSSSample
	for i, pid := range pids {
		s := RSSSample{PID: pid}
		if i < len(nodes) {
			s.Node = nodes[i]
		}
		s.Before, _ = rssKiB(pid)
		out = append(out, s)
	}
	return out
}

func sampleAfter(s []RSSSample) []RSSSample {
	for i := range s {
		s[i].After, _ = rssKiB(s[i].PID)
	}
	return s
}

func waitOrTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// drive runs the teacher's side: start, a question every interval, end.
func (r *room) drive(ctx context.Context, at time.Time, interval time.Duration, questions int, grace time.Duration, errs *atomic.Int64, first *atomic.Value) {
	send := func(typ, id string) {
		if err := r.teacher.Send(ctx, typ, id, struct{}{}); err != nil {
			errs.Add(1)
			first.CompareAndSwap(nil, "teacher "+typ+": "+err.Error())
		}
	}
	if !sleepUntil(ctx, at) {
		return
	}
	send("start", "start")
	for q := range questions {
		if !sleepUntil(ctx, at.Add(time.Duration(q+1)*interval)) {
			return
		}
		r.sent[q].Store(time.Now().UnixNano())
		send("next", "next-"+strconv.Itoa(q))
	}
	if !sleepUntil(ctx, at.Add(time.Duration(questions)*interval+grace)) {
		return
	}
	send("end", "end")
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-time.After(time.Until(t)):
		return true
	case <-ctx.Done():
		return false
	}
}

// listenTeacher drains the teacher's socket, counting error replies.
func (r *room) listenTeacher(ctx context.Context, errs *atomic.Int64, first *atomic.Value) {
	for {
		f, err := r.teacher.Next(ctx)
		if err != nil {
			return
		}
		switch f.Type {
		case "error":
			errs.Add(1)
			first.CompareAndSwap(nil, "teacher got error: "+string(f.Data))
		case "session.ended":
			return
		}
	}
}

type openedData struct {
	Question struct {
		ID      string `json:"id"`
		Index   int    `json:"index"`
		Options []struct {
			ID string `json:"id"`
		} `json:"options"`
	} `json:"question"`
}

// listen is a student: record when each question arrives, answer it after
// a think time, record the acknowledgement.
func (st *student) listen(ctx context.Context, answerFrom int, thinkMin, thinkMax time.Duration) {
	n := len(st.sent)
	for {
		f, err := st.sock.Next(ctx)
		if err != nil {
			return
		}
		switch f.Type {
		case "question.opened":
			var d openedData
			if json.Unmarshal(f.Data, &d) != nil || d.Question.Index >= n || len(d.Question.Options) == 0 {
				continue
			}
			q := d.Question.Index
			if t0 := st.room.sent[q].Load(); t0 != 0 {
				st.room.recv[q][st.i] = max(f.At.Sub(time.Unix(0, t0)), time.Nanosecond)
			}
			if q < answerFrom {
				continue
			}
			think := thinkMin + time.Duration(rand.Int64N(int64(thinkMax-thinkMin)+1))
			qid, opt := d.Question.ID, d.Question.Options[rand.IntN(len(d.Question.Options))].ID
			time.AfterFunc(think, func() {
				st.sent[q].Store(time.Now().UnixNano())
				_ = st.sock.Send(ctx, "answer", "a-"+strconv.Itoa(q), map[string]any{"question_id": qid, "choices": []string{opt}})
			})
		case "answer.accepted":
			q, ok := answerIndex(f.ID, n)
			if !ok {
				continue
			}
			if t0 := st.sent[q].Load(); t0 != 0 {
				st.ack[q] = max(f.At.Sub(time.Unix(0, t0)), time.Nanosecond)
				st.ackAt[q] = f.At.UnixNano()
			}
			var a struct {
				AnswerID string `json:"answer_id"`
			}
			if json.Unmarshal(f.Data, &a) == nil && a.AnswerID != "" {
				st.ids = append(st.ids, a.AnswerID)
			}
		case "answer.rejected":
			var a struct {
				Code string `json:"code"`
			}
			_ = json.Unmarshal(f.Data, &a)
			st.rej[a.Code]++
		case "error":
			st.rej["error"]++
		case "session.ended":
			return
		}
	}
}

func answerIndex(id string, n int) (int, bool) {
	s, ok := strings.CutPrefix(id, "a-")
	if !ok {
		return 0, false
	}
	q, err := strconv.Atoi(s)
	return q, err == nil && q >= 0 && q < n
}

// fanout summarizes questions [from, to).
func fanout(rooms []*room, from, to, students int) FanoutStats {
	fs := FanoutStats{Questions: to - from}
	var each, last []time.Duration
	for _, r := range rooms {
		for q := from; q < to; q++ {
			if r.sent[q].Load() == 0 {
				continue
			}
			fs.Expected += int64(students)
			var worst time.Duration
			complete := true
			for _, d := range r.recv[q] {
				if d == 0 {
					complete = false
					continue
				}
				fs.Delivered++
				each = append(each, d)
				worst = max(worst, d)
			}
			if complete {
				last = append(last, worst)
			} else {
				fs.Incomplete++
			}
		}
	}
	fs.Each, fs.LastOfRoom = dist(each), dist(last)
	return fs
}

func answers(studs []*student, from, to int) AnswerStats {
	as := AnswerStats{Rejected: map[string]int64{}}
	var acks []time.Duration
	var first, last int64
	perSec := map[int64]int64{}
	for _, st := range studs {
		for k, v := range st.rej {
			as.Rejected[k] += v
		}
		for q := from; q < to; q++ {
			t0 := st.sent[q].Load()
			if t0 == 0 {
				if st.room.sent[q].Load() != 0 && st.sock != nil {
					as.Unanswered++
				}
				continue
			}
			as.Sent++
			if first == 0 || t0 < first {
				first = t0
			}
			if st.ack[q] == 0 {
				continue
			}
			as.Acked++
			acks = append(acks, st.ack[q])
			last = max(last, st.ackAt[q])
			perSec[st.ackAt[q]/int64(time.Second)]++
		}
	}
	as.Ack = dist(acks)
	if last > first {
		as.DurablePerSec = float64(as.Acked) / time.Duration(last-first).Seconds()
	}
	for _, n := range perSec {
		as.PeakPerSec = max(as.PeakPerSec, n)
	}
	return as
}

// checkAnswers compares what was acknowledged with what PostgreSQL holds.
func checkAnswers(ctx context.Context, pool *pgxpool.Pool, studs []*student, sessions []string, as *AnswerStats) error {
	var ids []string
	for _, st := range studs {
		ids = append(ids, st.ids...)
	}
	err := pool.QueryRow(ctx, `SELECT count(*) FROM answers WHERE id = ANY($1::uuid[])`, ids).Scan(&as.StoredAcked)
	if err != nil {
		return fmt.Errorf("check answers: %w", err)
	}
	err = pool.QueryRow(ctx, `SELECT count(*), count(*) - count(DISTINCT (session_id, question_id, student_id))
		FROM answers WHERE session_id = ANY($1::uuid[])`, sessions).Scan(&as.StoredTotal, &as.Duplicates)
	if err != nil {
		return fmt.Errorf("check answers: %w", err)
	}
	return nil
}

// eventLag waits for the outbox to drain, then measures in SQL the lag of
// the run's events from occurrence to storage.
func eventLag(ctx context.Context, pool *pgxpool.Pool, sessions []string) (EventStats, error) {
	var es EventStats
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&es.OutboxLeft); err != nil {
			return es, err
		}
		if es.OutboxLeft == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(time.Second) // the worker's last batch
	return es, lagSQL(ctx, pool, `session_id = ANY($1::uuid[])`, []any{sessions}, &es)
}

// lagSQL fills es from the events matching where.
func lagSQL(ctx context.Context, pool *pgxpool.Pool, where string, args []any, es *EventStats) error {
	var p50, p99, mx, span *float64
	err := pool.QueryRow(ctx, `SELECT count(*),
			percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - occurred_at)) * 1000,
			percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - occurred_at)) * 1000,
			max(extract(epoch FROM stored_at - occurred_at)) * 1000,
			extract(epoch FROM max(stored_at) - min(occurred_at))
		FROM events WHERE `+where, args...).Scan(&es.Events, &p50, &p99, &mx, &span)
	if err != nil {
		return fmt.Errorf("event lag: %w", err)
	}
	if p50 != nil {
		es.LagP50Ms, es.LagP99Ms, es.LagMaxMs = *p50, *p99, *mx
	}
	if span != nil && *span > 0 {
		es.PerSecond = float64(es.Events) / *span
	}
	return nil
}

func printRun(r *RunResult) {
	fmt.Printf("sockets %d (%v), connect %.0f/s, teacher errors %d\n", r.Connect.Sockets, r.SocketsPerNode, r.Connect.PerSecond, r.TeacherErrors)
	for _, f := range []struct {
		name string
		s    FanoutStats
	}{{"fan-out (quiet)", r.FanoutIdle}, {"fan-out (answering)", r.FanoutAnswering}} {
		fmt.Printf("%s: delivered %d/%d; each p50 %.1f p99 %.1f max %.1f ms; last of room p50 %.1f p99 %.1f max %.1f ms\n",
			f.name, f.s.Delivered, f.s.Expected, f.s.Each.P50, f.s.Each.P99, f.s.Each.Max, f.s.LastOfRoom.P50, f.s.LastOfRoom.P99, f.s.LastOfRoom.Max)
	}
	a := r.Answers
	fmt.Printf("answers: sent %d acked %d rejected %v; ack p50 %.1f p99 %.1f ms; %.0f/s (peak %d/s); stored %d of acked, %d total, %d duplicates\n",
		a.Sent, a.Acked, a.Rejected, a.Ack.P50, a.Ack.P99, a.DurablePerSec, a.PeakPerSec, a.StoredAcked, a.StoredTotal, a.Duplicates)
	fmt.Printf("events of the run: %d, lag p50 %.0f p99 %.0f ms\n", r.Events.Events, r.Events.LagP50Ms, r.Events.LagP99Ms)
	if r.FirstError != "" {
		fmt.Println("first error:", r.FirstError)
	}
}

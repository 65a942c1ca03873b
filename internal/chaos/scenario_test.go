package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// result is one row of the table.
type result struct {
	name                                     string
	acked, stored, lost, dupAnswers          int
	eventsLost, eventsDup, missed, cmdFailed int
	reconnects, snapshots                    int
	recovery                                 float64 // -1: not measured
	closeLate                                float64 // worst closed_at − deadline, seconds
	// closeAfterFault is the worst closed_at − max(deadline, end of the
	// fault): how long a question stayed open once the fault was over.
	closeAfterFault float64
	// Judged by time, against what the clients and the teacher saw on the
	// machine's clock (never stepped): answers refused as closed before
	// their question could be due, questions whose close reached a client
	// before they could be due, and stored instants (received_at,
	// opened_at, closed_at) outside the window they were observed in by
	// more than stampSlack.
	lateWrong, closedEarly, stampWrong int
}

// stampSlack is how far a stored instant may lie outside the window a
// client saw it happen in: the node's clock is anchored on PostgreSQL's to
// within half a round trip; a step of a wall clock is tens of seconds.
const stampSlack = time.Second

var (
	resultsMu sync.Mutex
	results   []result
)

// full is true under make chaos (CHAOS=full): every scenario, full length.
func full() bool { return os.Getenv("CHAOS") == "full" }

// scenario runs a live session, calls fault two seconds into the second
// question (fault returns when the fault has ended), and counts.
func scenario(t *testing.T, name string, st setup, fault func(s *stack, pg, rd *proxy)) result {
	s, pg, rd := newStack(t, st)
	se := startSession(t, s)
	se.teacherNode = st.teacherNode
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var recovery float64 = -1
	var faultStart, faultEnd time.Time
	var faultWG sync.WaitGroup
	// A failing scenario (t.Fatal) still waits for its fault to end
	// before the cleanups stop the stack under it.
	defer faultWG.Wait()
	state := func() string {
		var st string
		_ = s.pool.QueryRow(ctx, `SELECT state FROM sessions WHERE id = $1`, se.id).Scan(&st)
		return st
	}
	opened := func() int {
		var n int
		_ = s.pool.QueryRow(ctx, `SELECT count(*) FROM session_questions WHERE session_id = $1`, se.id).Scan(&n)
		return n
	}
	if err := se.command(ctx, "start", func() bool { return state() != "lobby" }); err != nil {
		t.Fatal(err)
	}
	for q := range nQuestions {
		se.nextSent[q] = time.Now()
		if err := se.command(ctx, "next", func() bool { return opened() > q }); err != nil {
			t.Fatal(err)
		}
		se.nextDone[q] = time.Now()
		if q == 1 {
			faultWG.Go(func() {
				time.Sleep(2 * time.Second)
				faultStart = time.Now()
				fault(s, pg, rd)
				end := time.Now()
				faultEnd = end
				for ctx.Err() == nil && time.Since(end) < 2*time.Minute {
					allReady := true
					for _, p := range s.nodes {
						if s.alive(p) && !s.ready(p) {
							allReady = false
						}
					}
					// Full service: every node up is ready, every student
					// connected, and what the outbox held at the end of
					// the fault has reached RabbitMQ.
					var drained bool
					_ = s.pool.QueryRow(ctx, `SELECT coalesce(min(created_at) > $1, true) FROM outbox`, end).Scan(&drained)
					if allReady && drained && se.connectedCount() == nStudents {
						recovery = time.Since(end).Seconds()
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			})
		}
		// The question closes at its deadline (any node's sweeper).
		deadline := time.Now().Add(3 * time.Minute)
		for {
			var closed bool
			_ = s.pool.QueryRow(ctx, `SELECT closed_at IS NOT NULL FROM session_questions WHERE session_id = $1 AND idx = $2`, se.id, q).Scan(&closed)
			if closed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("question %d never closed", q)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The next questions were opened during the fault when it lasted; the
	// session ends once it is over.
	faultWG.Wait()
	if err := se.command(ctx, "end", func() bool { return state() == "ended" }); err != nil {
		t.Fatal(err)
	}
	// Students see session.ended (or reconnect into the ended session).
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if se.countStudents(func(st *student) bool { return st.ended }) == nStudents {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	se.cancel()
	se.wg.Wait()
	// The pipeline settles: the outbox empty and the events stable.
	var last int = -1
	for end := time.Now().Add(2 * time.Minute); time.Now().Before(end); {
		var outbox, evs int
		_ = s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM events WHERE session_id = $1)`, se.id).Scan(&outbox, &evs)
		if outbox == 0 && evs == last {
			break
		}
		last = evs
		time.Sleep(time.Second)
	}
	// Commands never half-apply: every seq bumped has its broadcast row.
	var seq, rows int64
	if err := s.pool.QueryRow(ctx, `SELECT s.seq, (SELECT count(*) FROM session_broadcasts b WHERE b.session_id = s.id)
		FROM sessions s WHERE s.id = $1`, se.id).Scan(&seq, &rows); err != nil || seq != rows {
		t.Errorf("session seq %d but %d broadcasts recorded (%v)", seq, rows, err)
	}
	r := count(t, ctx, se, faultEnd)
	r.name, r.recovery = name, recovery
	t.Logf("fault from %s for %.1fs; questions closed at most %.2fs after their deadline, %.2fs after the fault ended",
		faultStart.UTC().Format("15:04:05.000"), faultEnd.Sub(faultStart).Seconds(), r.closeLate, r.closeAfterFault)
	resultsMu.Lock()
	results = append(results, r)
	resultsMu.Unlock()
	t.Logf("%s", header()+"\n"+r.row())
	if r.lost+r.dupAnswers+r.eventsLost+r.eventsDup+r.missed+r.lateWrong+r.closedEarly+r.stampWrong > 0 {
		t.Errorf("%s lost, doubled or misjudged something: %+v", name, r)
	}
	if r.acked == 0 {
		t.Errorf("%s: no answer was acknowledged", name)
	}
	return r
}

// count reads what happened from PostgreSQL and the clients' logs.
func count(t *testing.T, ctx context.Context, se *session, faultEnd time.Time) result {
	db := se.s.pool
	var r result
	r.cmdFailed = int(se.commandFailures.Load())
	var ids []string
	var seq int64
	if err := db.QueryRow(ctx, `SELECT seq FROM sessions WHERE id = $1`, se.id).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	for _, st := range se.students {
		st.mu.Lock()
		for _, id := range st.acked {
			ids = append(ids, id)
		}
		r.reconnects += max(0, st.welcomes-1)
		r.snapshots += st.snapshots
		for n := st.covered + 1; n <= seq; n++ {
			if !st.seen[n] {
				r.missed++
			}
		}
		st.mu.Unlock()
	}
	r.acked = len(ids)
	q := func(dst *int, sql string, args ...any) {
		if err := db.QueryRow(ctx, sql, args...).Scan(dst); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	q(&r.stored, `SELECT count(*) FROM answers WHERE session_id = $1`, se.id)
	if err := db.QueryRow(ctx, `SELECT coalesce(max(extract(epoch FROM closed_at - deadline)), 0)::float8
		FROM session_questions WHERE session_id = $1`, se.id).Scan(&r.closeLate); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `SELECT coalesce(max(extract(epoch FROM closed_at - greatest(deadline, $2))), 0)::float8
		FROM session_questions WHERE session_id = $1`, se.id, faultEnd).Scan(&r.closeAfterFault); err != nil {
		t.Fatal(err)
	}
	r.closeAfterFault = max(r.closeAfterFault, 0)
	judgeTimes(t, ctx, se, &r)
	q(&r.lost, `SELECT count(*) FROM unnest($2::uuid[]) a(id)
		WHERE NOT EXISTS (SELECT 1 FROM answers WHERE session_id = $1 AND id = a.id)`, se.id, ids)
	q(&r.dupAnswers, `SELECT count(*) - count(DISTINCT (question_id, student_id)) FROM answers WHERE session_id = $1`, se.id)
	// Every stored answer and every opened question has its event, and the
	// session's start and end theirs.
	q(&r.eventsLost, `SELECT
		(SELECT count(*) FROM answers a WHERE a.session_id = $1 AND NOT EXISTS (SELECT 1 FROM events e
			WHERE e.session_id = $1 AND e.name = 'answer_submitted' AND e.user_id = a.student_id AND e.data->>'question_id' = a.question_id::text))
		+ (SELECT count(*) FROM session_questions sq WHERE sq.session_id = $1 AND NOT EXISTS (SELECT 1 FROM events e
			WHERE e.session_id = $1 AND e.name = 'question_displayed' AND e.data->>'question_id' = sq.question_id::text))
		+ (SELECT count(*) FROM session_questions sq WHERE sq.session_id = $1 AND NOT EXISTS (SELECT 1 FROM events e
			WHERE e.session_id = $1 AND e.name = 'question_closed' AND e.data->>'question_id' = sq.question_id::text))
		+ (SELECT count(*) FROM unnest(ARRAY['session_started', 'session_ended']) n(name) WHERE NOT EXISTS (SELECT 1 FROM events e
			WHERE e.session_id = $1 AND e.name = n.name))`, se.id)
	q(&r.eventsDup, `SELECT count(*) - count(DISTINCT (name, coalesce(user_id::text, ''), coalesce(data->>'question_id', '')))
		FROM events WHERE session_id = $1
		AND name IN ('answer_submitted', 'question_displayed', 'question_closed', 'session_started', 'session_ended')`, se.id)
	return r
}

// judgeTimes counts what was judged wrongly by time (result.lateWrong,
// closedEarly, stampWrong): every bound is what the test itself saw, on
// the machine's clock, which PostgreSQL shares and no scenario steps. A
// question cannot be due before the first send of its next command plus
// its time limit.
func judgeTimes(t *testing.T, ctx context.Context, se *session, r *result) {
	db := se.s.pool
	type question struct {
		idx                      int
		opened, deadline, closed time.Time
	}
	questions := map[string]question{}
	rows, err := db.Query(ctx, `SELECT question_id::text, idx, opened_at, deadline, coalesce(closed_at, 'infinity')
		FROM session_questions WHERE session_id = $1`, se.id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var q question
		if err := rows.Scan(&id, &q.idx, &q.opened, &q.deadline, &q.closed); err != nil {
			t.Fatal(err)
		}
		questions[id] = q
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	received := map[string]time.Time{}
	rows, err = db.Query(ctx, `SELECT id::text, received_at FROM answers WHERE session_id = $1`, se.id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			t.Fatal(err)
		}
		received[id] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	outside := func(at, from, to time.Time) bool {
		return at.Before(from.Add(-stampSlack)) || at.After(to.Add(stampSlack))
	}
	firstClosed := map[string]time.Time{}
	for _, st := range se.students {
		st.mu.Lock()
		for q, at := range st.refusedAt {
			if due := se.nextSent[questions[q].idx].Add(timeLimitS * time.Second); at.Before(due) {
				r.lateWrong++
			}
		}
		for q, at := range st.closedAt {
			if f, ok := firstClosed[q]; !ok || at.Before(f) {
				firstClosed[q] = at
			}
		}
		for q, id := range st.acked {
			if at, ok := received[id]; ok && outside(at, st.sentAt[q], st.ackedAt[q]) {
				r.stampWrong++
			}
		}
		st.mu.Unlock()
	}
	for id, q := range questions {
		due := se.nextSent[q.idx].Add(timeLimitS * time.Second)
		if outside(q.opened, se.nextSent[q.idx], se.nextDone[q.idx]) {
			r.stampWrong++
		}
		if f, ok := firstClosed[id]; ok {
			if f.Before(due) {
				r.closedEarly++
			}
			if outside(q.closed, due, f) {
				r.stampWrong++
			}
		}
	}
}

func header() string {
	return fmt.Sprintf("%-34s %6s %6s %5s %5s %7s %6s %7s %5s %7s %5s %7s %9s %5s %6s %6s", "scenario", "acked", "stored", "lost", "dup",
		"ev.lost", "ev.dup", "missed", "cmd!", "reconn", "snap", "close+", "recovery", "late!", "early!", "stamp!")
}

func (r result) row() string {
	rec := "n/a"
	if r.recovery >= 0 {
		rec = fmt.Sprintf("%.1fs", r.recovery)
	}
	return fmt.Sprintf("%-34s %6d %6d %5d %5d %7d %6d %7d %5d %7d %5d %6.1fs %9s %5d %6d %6d", r.name, r.acked, r.stored, r.lost, r.dupAnswers,
		r.eventsLost, r.eventsDup, r.missed, r.cmdFailed, r.reconnects, r.snapshots, r.closeLate, rec, r.lateWrong, r.closedEarly, r.stampWrong)
}

// table is every scenario run so far, one row each.
func table() string {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(results) == 0 {
		return ""
	}
	lines := []string{header()}
	for _, r := range results {
		lines = append(lines, r.row())
	}
	return strings.Join(lines, "\n")
}

func outage(short, long time.Duration) time.Duration {
	if full() {
		return long
	}
	return short
}

// 1. A node SIGKILL'd mid-question: its students move to the other node and
// resume; the question still closes at its deadline.
func TestS1NodeKilled(t *testing.T) {
	r := scenario(t, "1 node SIGKILL", setup{}, func(s *stack, _, _ *proxy) {
		s.kill(s.nodes[1], syscall.SIGKILL)
	})
	if r.reconnects < nStudents/2 {
		t.Errorf("only %d reconnections: the killed node's students did not move", r.reconnects)
	}
}

// 4. RabbitMQ stopped (30 s; 8 s in the short form): answering and commands
// never fail; the outbox drains afterwards.
func TestS4RabbitMQDown(t *testing.T) {
	d := outage(8*time.Second, 30*time.Second)
	scenario(t, fmt.Sprintf("4 RabbitMQ down %s", d), setup{}, stopFor(t, "rabbit", d))
}

// stopFor is the fault of a service (pg, redis or rabbit, as services.sh
// names them) stopped for d, then started again with its data.
func stopFor(t *testing.T, service string, d time.Duration) func(*stack, *proxy, *proxy) {
	return func(s *stack, _, _ *proxy) {
		t0 := time.Now()
		services(t, "stop-"+service, s.dir)
		t1 := time.Now()
		time.Sleep(d)
		t2 := time.Now()
		services(t, "start-"+service, s.dir)
		t.Logf("%s: stopping took %.1fs, starting %.1fs (down %.1fs in all)", service, t1.Sub(t0).Seconds(),
			time.Since(t2).Seconds(), time.Since(t0).Seconds())
	}
}

func fullOnly(t *testing.T) {
	if !full() {
		t.Skip("full suite only (make chaos, CHAOS=full)")
	}
}

// 2. Rolling restart: both nodes SIGTERM'd (drain, 1001) and restarted one
// after the other.
func TestS2RollingRestart(t *testing.T) {
	fullOnly(t)
	scenario(t, "2 rolling restart (SIGTERM)", setup{}, func(s *stack, _, _ *proxy) {
		for _, p := range s.nodes {
			s.restart(p, syscall.SIGTERM, 0)
		}
	})
}

// 3a. Redis stopped for 10 s, then restarted with its data.
func TestS3aRedisDown(t *testing.T) {
	fullOnly(t)
	scenario(t, "3a Redis down 10s", setup{}, stopFor(t, "redis", 10*time.Second))
}

// 3b. Redis restarted empty (histories gone), then node B restarted so its
// students resume against the empty history: they get the snapshot where
// the history cannot cover their gap.
func TestS3bRedisEmpty(t *testing.T) {
	fullOnly(t)
	scenario(t, "3b Redis restarted empty", setup{}, func(s *stack, _, _ *proxy) {
		services(t, "stop-redis", s.dir)
		entries, _ := os.ReadDir(filepath.Join(s.dir, "redis"))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "appendonly") || strings.HasSuffix(e.Name(), ".rdb") {
				_ = os.RemoveAll(filepath.Join(s.dir, "redis", e.Name()))
			}
		}
		services(t, "start-redis", s.dir)
		s.restart(s.nodes[1], syscall.SIGKILL, 0)
	})
}

// 5. PostgreSQL stopped for 5 s: answers in flight are refused with a
// retryable error, never acknowledged and lost; no node restarts.
func TestS5PostgresDown(t *testing.T) {
	fullOnly(t)
	scenario(t, "5 PostgreSQL down 5s", setup{}, stopFor(t, "pg", 5*time.Second))
}

// 5b. PostgreSQL stopped for 5 s across the second question's deadline
// (from 6 s into it): the question closes within about a sweep of
// PostgreSQL answering again (the log's "after the fault ended").
func TestS5bPostgresDownAcrossDeadline(t *testing.T) {
	fullOnly(t)
	down := stopFor(t, "pg", 5*time.Second)
	scenario(t, "5b PostgreSQL down over a deadline", setup{}, func(s *stack, pg, rd *proxy) {
		time.Sleep(4 * time.Second)
		down(s, pg, rd)
	})
}

// 6. The event worker SIGKILL'd while it stores, then started again.
func TestS6WorkerKilled(t *testing.T) {
	fullOnly(t)
	scenario(t, "6 event worker SIGKILL", setup{}, func(s *stack, _, _ *proxy) {
		s.restart(s.worker, syscall.SIGKILL, 2*time.Second)
	})
}

// 7. Slow, lossy PostgreSQL then Redis: 50–200 ms per chunk and stalls.
func TestS7SlowDependencies(t *testing.T) {
	fullOnly(t)
	scenario(t, "7 slow PostgreSQL, then Redis", setup{proxied: true}, func(s *stack, pg, rd *proxy) {
		pg.slow.Store(true)
		time.Sleep(8 * time.Second)
		pg.slow.Store(false)
		rd.slow.Store(true)
		time.Sleep(8 * time.Second)
		rd.slow.Store(false)
	})
}

// 8. A clock step on one node: node B's wall clock (the stepped build,
// wallstep_test.go) jumps 60 s ahead two seconds into the second question,
// 60 s behind (a step of −120 s) eight seconds later, then back to the
// machine's time eight seconds after that, while answers flow through both
// nodes; the teacher's commands go to node B, so its clock stamps the
// openings and the closes it claims. Nothing may be judged by the step:
// late!, early! and stamp! count what was.
func TestS8ClockStep(t *testing.T) {
	fullOnly(t)
	scenario(t, "8 clock step ±60s on node B", setup{wallStep: true, teacherNode: 1}, func(s *stack, _, _ *proxy) {
		b := s.nodes[1]
		s.stepWall(b, 60*time.Second)
		time.Sleep(8 * time.Second)
		s.stepWall(b, -60*time.Second)
		time.Sleep(8 * time.Second)
		s.stepWall(b, 0)
	})
}

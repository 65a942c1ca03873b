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
}

var (
	resultsMu sync.Mutex
	results   []result
)

// full is true under make chaos (CHAOS=full): every scenario, full length.
func full() bool { return os.Getenv("CHAOS") == "full" }

// scenario runs a live session, calls fault two seconds into the second
// question (fault returns when the fault has ended), and counts.
func scenario(t *testing.T, name string, proxied bool, fault func(s *stack, pg, rd *proxy)) result {
	s, pg, rd := newStack(t, proxied)
	se := startSession(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var recovery float64 = -1
	var faultWG sync.WaitGroup
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
		if err := se.command(ctx, "next", func() bool { return opened() > q }); err != nil {
			t.Fatal(err)
		}
		if q == 1 {
			faultWG.Go(func() {
				time.Sleep(2 * time.Second)
				fault(s, pg, rd)
				end := time.Now()
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
	r := count(t, ctx, se)
	r.name, r.recovery = name, recovery
	resultsMu.Lock()
	results = append(results, r)
	resultsMu.Unlock()
	t.Logf("%s", header()+"\n"+r.row())
	if r.lost+r.dupAnswers+r.eventsLost+r.eventsDup+r.missed > 0 {
		t.Errorf("%s lost or doubled something: %+v", name, r)
	}
	if r.acked == 0 {
		t.Errorf("%s: no answer was acknowledged", name)
	}
	return r
}

// count reads what happened from PostgreSQL and the clients' logs.
func count(t *testing.T, ctx context.Context, se *session) result {
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

func header() string {
	return fmt.Sprintf("%-34s %6s %6s %5s %5s %7s %6s %7s %5s %7s %5s %7s %9s", "scenario", "acked", "stored", "lost", "dup",
		"ev.lost", "ev.dup", "missed", "cmd!", "reconn", "snap", "close+", "recovery")
}

func (r result) row() string {
	rec := "n/a"
	if r.recovery >= 0 {
		rec = fmt.Sprintf("%.1fs", r.recovery)
	}
	return fmt.Sprintf("%-34s %6d %6d %5d %5d %7d %6d %7d %5d %7d %5d %6.1fs %9s", r.name, r.acked, r.stored, r.lost, r.dupAnswers,
		r.eventsLost, r.eventsDup, r.missed, r.cmdFailed, r.reconnects, r.snapshots, r.closeLate, rec)
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
	r := scenario(t, "1 node SIGKILL", false, func(s *stack, _, _ *proxy) {
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
	scenario(t, fmt.Sprintf("4 RabbitMQ down %s", d), false, stopFor(t, "rabbit", d))
}

// stopFor is the fault of a service (pg, redis or rabbit, as services.sh
// names them) stopped for d, then started again with its data.
func stopFor(t *testing.T, service string, d time.Duration) func(*stack, *proxy, *proxy) {
	return func(s *stack, _, _ *proxy) {
		services(t, "stop-"+service, s.dir)
		time.Sleep(d)
		services(t, "start-"+service, s.dir)
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
	scenario(t, "2 rolling restart (SIGTERM)", false, func(s *stack, _, _ *proxy) {
		for _, p := range s.nodes {
			s.restart(p, syscall.SIGTERM, 0)
		}
	})
}

// 3a. Redis stopped for 10 s, then restarted with its data.
func TestS3aRedisDown(t *testing.T) {
	fullOnly(t)
	scenario(t, "3a Redis down 10s", false, stopFor(t, "redis", 10*time.Second))
}

// 3b. Redis restarted empty (histories gone), then node B restarted so its
// students resume against the empty history: they get the snapshot where
// the history cannot cover their gap.
func TestS3bRedisEmpty(t *testing.T) {
	fullOnly(t)
	scenario(t, "3b Redis restarted empty", false, func(s *stack, _, _ *proxy) {
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
	scenario(t, "5 PostgreSQL down 5s", false, stopFor(t, "pg", 5*time.Second))
}

// 6. The event worker SIGKILL'd while it stores, then started again.
func TestS6WorkerKilled(t *testing.T) {
	fullOnly(t)
	scenario(t, "6 event worker SIGKILL", false, func(s *stack, _, _ *proxy) {
		s.restart(s.worker, syscall.SIGKILL, 2*time.Second)
	})
}

// 7. Slow, lossy PostgreSQL then Redis: 50–200 ms per chunk and stalls.
func TestS7SlowDependencies(t *testing.T) {
	fullOnly(t)
	scenario(t, "7 slow PostgreSQL, then Redis", true, func(s *stack, pg, rd *proxy) {
		pg.slow.Store(true)
		time.Sleep(8 * time.Second)
		pg.slow.Store(false)
		rd.slow.Store(true)
		time.Sleep(8 * time.Second)
		rd.slow.Store(false)
	})
}

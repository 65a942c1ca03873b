package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/quiz"
)

// PipelineResult is events through outbox → relay → RabbitMQ → worker →
// events, offered at a fixed rate.
type PipelineResult struct {
	Scenario     string     `json:"scenario"`
	Rate         int        `json:"offered_rate"`
	Seconds      float64    `json:"offered_seconds"`
	Inserted     int64      `json:"inserted"`
	InsertedRate float64    `json:"inserted_per_sec"`
	Stored       EventStats `json:"stored"`
	DrainSeconds float64    `json:"drain_seconds"`
	Complete     bool       `json:"complete"`
	// CPUUsPerEvent is each measured process's CPU (utime+stime) from the
	// first write to the last event stored, in µs per event: the -cpu
	// processes, "postgresql" (the whole cluster) and "loadgen" (this
	// process, the writer).
	CPUUsPerEvent map[string]float64 `json:"cpu_us_per_event,omitempty"`
	LoadAverage   float64            `json:"load_average"`
}

const insertOutboxBenchSQL = `INSERT INTO outbox (school_id, event_id, name, payload, created_at)
SELECT $1, e.id, 'answer_submitted', e.payload, e.at
FROM unnest($2::uuid[], $3::jsonb[], $4::timestamptz[]) AS e(id, payload, at)`

func pipelineCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pipeline", flag.ExitOnError)
	creds := fs.String("creds", "credentials.json", "credentials file written by seed (for a school id)")
	rate := fs.Int("rate", 20000, "events per second written to the outbox")
	duration := fs.Duration("duration", 10*time.Second, "how long to write")
	wait := fs.Duration("wait", 90*time.Second, "longest wait for the events to be stored")
	out := fs.String("json", "", "write the result as JSON to this file")
	pgProf := fs.String("pg-profile", "", "write where PostgreSQL's CPU went over the pass (process kinds, pg_stat_statements) to this file")
	cpuFlag := fs.String("cpu", "", "processes whose CPU per event to report, as name=pid,name=pid (e.g. server=…,worker=…,rabbitmq=…)")
	fs.String("timeout", "5m", "give up after")
	_ = fs.Parse(args)
	procs, err := namedPIDs(*cpuFlag)
	if err != nil {
		return err
	}
	ctx, cancel := bounded(ctx, fs)
	defer cancel()
	if *rate < 1 || *rate > 200000 || *duration <= 0 || *duration > 2*time.Minute {
		return fmt.Errorf("pipeline: -rate 1..200000, -duration ≤ 2m")
	}
	seeded, err := loadSeeded(*creds)
	if err != nil {
		return err
	}
	school := seeded.Schools[0]
	pool, err := openDB(ctx, 6)
	if err != nil {
		return err
	}
	defer pool.Close()

	postmaster, err := postmasterPID(ctx, pool)
	if err != nil {
		return err
	}
	cpu0, err := pipelineCPU(procs, postmaster)
	if err != nil {
		return err
	}
	var prof *pgProfile
	if *pgProf != "" {
		prof = startPGProfile(ctx, pool, postmaster)
	}

	run := uuid.NewString()
	res := &PipelineResult{Scenario: "pipeline", Rate: *rate}
	start := time.Now()
	// Writers claim what is due at the offered rate and insert it in one
	// statement (the way business transactions add outbox rows, batched).
	var mu sync.Mutex
	var claimed int64
	total := int64(float64(*rate) * duration.Seconds())
	claim := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		due := min(int64(float64(*rate)*time.Since(start).Seconds()), total) - claimed
		n := min(due, 2000)
		if n > 0 {
			claimed += n
		}
		return n
	}
	var wg sync.WaitGroup
	var insErr error
	var errOnce sync.Once
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := claim()
				if n <= 0 {
					mu.Lock()
					finished := claimed >= total
					mu.Unlock()
					if finished {
						return
					}
					time.Sleep(2 * time.Millisecond)
					continue
				}
				if err := insertEvents(ctx, pool, school, run, int(n)); err != nil {
					errOnce.Do(func() { insErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if insErr != nil {
		return insErr
	}
	res.Seconds = time.Since(start).Seconds()
	res.Inserted = claimed
	res.InsertedRate = float64(claimed) / res.Seconds

	where := `school_id = $1 AND name = 'answer_submitted' AND occurred_at >= $2 AND data->>'bench_run' = $3`
	wargs := []any{school, start.Add(-time.Second), run}
	deadline := time.Now().Add(*wait)
	var n int64
	for time.Now().Before(deadline) {
		// While the outbox holds rows the run cannot be complete; asking
		// that is an index probe, where counting the run's events scans
		// them all (4 times a second, it took the pipeline's PostgreSQL
		// ≈ 10 % of its CPU).
		var waiting bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox)`).Scan(&waiting); err != nil {
			return err
		}
		if waiting {
			time.Sleep(250 * time.Millisecond)
			continue
		}
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE `+where, wargs...).Scan(&n); err != nil {
			return err
		}
		if n >= res.Inserted {
			res.Complete = true
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	res.DrainSeconds = time.Since(start).Seconds() - res.Seconds
	if cpu1, err := pipelineCPU(procs, postmaster); err == nil && res.Inserted > 0 {
		res.CPUUsPerEvent = map[string]float64{}
		for name, d := range cpu1 {
			res.CPUUsPerEvent[name] = float64((d - cpu0[name]).Microseconds()) / float64(res.Inserted)
		}
	}
	res.LoadAverage = loadAverage()
	if prof != nil {
		if err := prof.write(ctx, *pgProf, fmt.Sprintf("pipeline, %d events at %d/s", res.Inserted, *rate), 20); err != nil {
			return err
		}
	}
	if err := lagSQL(ctx, pool, where, wargs, &res.Stored); err != nil {
		return err
	}
	fmt.Printf("pipeline: offered %d/s for %.1fs (inserted %d = %.0f/s); stored %d (%.0f/s), lag p50 %.0f p99 %.0f max %.0f ms; complete %v\n",
		*rate, res.Seconds, res.Inserted, res.InsertedRate, res.Stored.Events, res.Stored.PerSecond,
		res.Stored.LagP50Ms, res.Stored.LagP99Ms, res.Stored.LagMaxMs, res.Complete)
	if len(res.CPUUsPerEvent) > 0 {
		names := make([]string, 0, len(res.CPUUsPerEvent))
		for name := range res.CPUUsPerEvent {
			names = append(names, name)
		}
		sort.Strings(names)
		var total float64
		fmt.Print("pipeline: CPU per event")
		for _, name := range names {
			fmt.Printf(", %s %.1f µs", name, res.CPUUsPerEvent[name])
			total += res.CPUUsPerEvent[name]
		}
		fmt.Printf("; all %.1f µs; load average %.2f\n", total, res.LoadAverage)
	}
	return writeJSON(*out, res)
}

// namedPIDs parses name=pid,name=pid.
func namedPIDs(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		name, v, ok := strings.Cut(kv, "=")
		pid, err := strconv.Atoi(v)
		if !ok || name == "" || err != nil || pid <= 0 {
			return nil, fmt.Errorf("-cpu: %q is not name=pid", kv)
		}
		out[name] = pid
	}
	return out, nil
}

// pipelineCPU reads the CPU so far of procs, of the PostgreSQL cluster and
// of this process.
func pipelineCPU(procs map[string]int, postmaster int) (map[string]time.Duration, error) {
	out := map[string]time.Duration{"loadgen": selfCPU()}
	pg, err := postgresCPU(postmaster)
	if err != nil {
		return nil, err
	}
	out["postgresql"] = pg
	for name, pid := range procs {
		d, err := processCPU(pid)
		if err != nil {
			return nil, fmt.Errorf("-cpu %s: %w", name, err)
		}
		out[name] = d
	}
	return out, nil
}

// insertEvents adds n answer_submitted events of the run to the outbox,
// occurring now, in one statement.
func insertEvents(ctx context.Context, pool *pgxpool.Pool, school, run string, n int) error {
	ids, payloads, ats, err := eventPayloads(school, run, n)
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, insertOutboxBenchSQL, school, ids, payloads, ats); err != nil {
		return fmt.Errorf("insert outbox: %w", err)
	}
	return nil
}

// benchSessions are the sessions the pipeline's events belong to, as many
// as the fan-out scenario's classrooms: the outbox is partitioned by
// session, so events of one session only would use one relay.
var benchSessions = func() []string {
	s := make([]string, 334)
	for i := range s {
		s[i] = uuid.NewString()
	}
	return s
}()

func eventPayloads(school, run string, n int) (ids []string, payloads [][]byte, ats []time.Time, err error) {
	now := time.Now().UTC()
	for i := range n {
		ev := quiz.Event{EventID: uuid.NewString(), Name: quiz.EventAnswerSubmitted, OccurredAt: now, SchoolID: school,
			SessionID: benchSessions[rand.IntN(len(benchSessions))],
			App:       quiz.AppServer, Data: map[string]any{"bench_run": run, "n": i}}
		raw, err := json.Marshal(ev)
		if err != nil {
			return nil, nil, nil, err
		}
		ids, payloads, ats = append(ids, ev.EventID), append(payloads, raw), append(ats, now)
	}
	return ids, payloads, ats, nil
}

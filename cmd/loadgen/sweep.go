package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/client"
)

// The pace sweep: N classrooms × S students (+ one teacher each) connected
// once over the nodes, then for each pace one `next` per room every pace
// (rooms staggered uniformly over the pace), every student answering each
// question after a random think time, and one row of figures per pace.
// See docs/benchmarks.md, "Pace sweep", for what each column means.

// paceSpec is one row of the sweep: a `next` per room every Every, with or
// without answers.
type paceSpec struct {
	Every time.Duration
	Quiet bool // no answers: isolates what the commands cost
}

func (p paceSpec) String() string {
	if p.Quiet {
		return p.Every.String() + "/quiet"
	}
	return p.Every.String()
}

// parsePaces reads "10s/quiet,10s,5s,3s,1s".
func parsePaces(s string) ([]paceSpec, error) {
	var out []paceSpec
	for _, tok := range strings.Split(s, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		d, quiet := strings.CutSuffix(tok, "/quiet")
		every, err := time.ParseDuration(d)
		if err != nil {
			return nil, fmt.Errorf("-paces %q: %w", tok, err)
		}
		if every < 100*time.Millisecond {
			return nil, fmt.Errorf("-paces %q: at least 100ms", tok)
		}
		out = append(out, paceSpec{Every: every, Quiet: quiet})
	}
	if len(out) == 0 {
		return nil, errors.New("-paces: at least one pace")
	}
	return out, nil
}

// thinkRange is when a student answers after the question opens: up to
// 0.8 × pace, from min (1 s) — or from half of that bound when the pace is
// too short for min (1 s pace: 0.4 … 0.8 s).
func thinkRange(pace, minThink time.Duration) (lo, hi time.Duration) {
	hi = pace * 8 / 10
	return min(minThink, hi/2), hi
}

// PaceRow is the figures of one pace.
type PaceRow struct {
	Pace       string   `json:"pace"`
	PaceMs     int64    `json:"pace_ms"`
	Answering  bool     `json:"answering"`
	ThinkMs    [2]int64 `json:"think_ms"`
	WindowSecs float64  `json:"window_seconds"`
	// Commands: `next`s sent (retries included), admitted (no error
	// reply: each opened a question), refused with `unavailable`.
	Sent        int64 `json:"commands_sent"`
	Admitted    int64 `json:"commands_admitted"`
	Unavailable int64 `json:"refused_unavailable"`
	// RetryAfterMaxMs is the longest retry_after_ms of those refusals.
	RetryAfterMaxMs int64 `json:"retry_after_max_ms"`
	// OfferedPerSec is the commands offered: rooms ÷ pace.
	OfferedPerSec float64          `json:"offered_per_sec"`
	Errors        map[string]int64 `json:"teacher_errors"` // by code, unavailable excluded
	Dropped       int64            `json:"teacher_sockets_dropped"`
	// StudentsDropped: student sockets closed under the sweep in the pace.
	StudentsDropped int64 `json:"student_sockets_dropped"`
	// question.opened of admitted commands at the students.
	Expected  int64 `json:"expected"`
	Delivered int64 `json:"delivered"`
	// Broadcasts the students read during the pace with a seq not above
	// the one before (out of order or repeated), or skipping some.
	OutOfOrder int64 `json:"out_of_order"`
	SeqGaps    int64 `json:"seq_gaps"`
	Incomplete int   `json:"incomplete_rooms"`
	LastOfRoom Dist  `json:"last_of_room"`
	// Answers of the questions this pace opened.
	AnswersSent   int64            `json:"answers_sent"`
	Acked         int64            `json:"acked"`
	Rejected      map[string]int64 `json:"rejected,omitempty"`
	Ack           Dist             `json:"ack"`
	DurablePerSec float64          `json:"durable_per_sec"`
	Stored        int64            `json:"stored"`
	StoredAcked   int64            `json:"stored_acked"`
	// CPU over the window (pace ticks + drain), from /proc.
	NodeCPUSecs     float64 `json:"node_cpu_seconds"`
	PostgresCPUSecs float64 `json:"postgres_cpu_seconds"`
	LoadgenCPUSecs  float64 `json:"loadgen_cpu_seconds"`
	NodeUsPerSQ     float64 `json:"node_cpu_us_per_student_question"`
	PGMsPerCommand  float64 `json:"postgres_cpu_ms_per_command"`
	PGMsPerAnswer   float64 `json:"postgres_cpu_ms_per_answer"`
	// PGMsPerAnswerNet subtracts the commands at the first quiet row's
	// cost per command (0 without a quiet row).
	PGMsPerAnswerNet float64 `json:"postgres_cpu_ms_per_answer_net"`
	RSSPerSocketKiB  float64 `json:"rss_per_socket_kib"`
	// LoadAvg is the machine's 1-minute load average at the window's end
	// (the machine is shared: read the row against it).
	LoadAvg float64 `json:"load_avg_1m"`
	// Server is the nodes' own timing of `next` and of answers over the
	// window (-metrics); nil without it.
	Server *ServerLatency `json:"server,omitempty"`
	// DiskFlush is the disk's fdatasync of 8 KiB during the window
	// (-disk-probe); nil without it.
	DiskFlush *Dist `json:"disk_fdatasync,omitempty"`
	// LastOfRoomClear and AckClear are LastOfRoom and Ack over the
	// commands and answers that met no stall of the probe (a flush of
	// stallFlush or more, and the drain after it: span.reach): what the
	// live path gives while the disk is well. Nil without -disk-probe.
	LastOfRoomClear *Dist `json:"last_of_room_outside_stalls,omitempty"`
	AckClear        *Dist `json:"ack_outside_stalls,omitempty"`
}

// SweepResult is what `loadgen sweep` measured.
type SweepResult struct {
	Scenario         string         `json:"scenario"`
	Command          string         `json:"command"`
	Machine          [][2]string    `json:"machine"`
	Nodes            []string       `json:"nodes"`
	Classrooms       int            `json:"classrooms"`
	StudentsPerRoom  int            `json:"students_per_room"`
	QuestionsPerPace int            `json:"questions_per_pace"`
	Connect          ConnectStats   `json:"connect"`
	SocketsPerNode   map[string]int `json:"sockets_per_node"`
	RSSBeforeKiB     int64          `json:"rss_before_kib"`
	RSSIdleKiB       int64          `json:"rss_idle_kib"`
	RSSPerSocketKiB  float64        `json:"rss_per_socket_kib"`
	Rows             []PaceRow      `json:"rows"`
	Duplicates       int64          `json:"duplicates"`
	FirstError       string         `json:"first_error,omitempty"`
	Seconds          float64        `json:"seconds"`
}

// command is one teacher frame sent.
type command struct {
	id   string
	at   int64 // unix ns, just before the write
	pace int
}

type sweepRoom struct {
	seeded  SeededClassroom
	index   int
	session string
	node    string
	teacher *client.Socket
	started atomic.Bool
	dropped atomic.Bool
	// opened counts the question.opened the teacher read; changed is
	// signalled at each of them and at each error reply.
	opened  atomic.Int64
	changed chan struct{}
	// droppedIn is 1 + the pace during which the teacher's socket closed.
	droppedIn atomic.Int64
	// present[s]: student s's socket is open (expected to get broadcasts).
	present []bool
	// recv[q][s]: when student s read question.opened of question q (unix
	// ns, 0 if never).
	recv [][]atomic.Int64

	mu    sync.Mutex
	sends []command
	errs  map[string]string // command id → error code
}

type sweepStudent struct {
	room  *sweepRoom
	i     int
	sock  *client.Socket
	sent  []atomic.Int64 // per question: answer sent (unix ns)
	ackAt []atomic.Int64 // per question: answer.accepted read (unix ns)
	mu    sync.Mutex
	ids   map[int]string // question → answer_id
	rej   map[int]string // question → final rejection code
	// retried: question → `unavailable` refusals of its answer, each
	// re-sent (the same answer) after the retry_after_ms asked for.
	retried map[int]int
	// answers: question → the answer sent and not yet accepted or finally
	// rejected (for a re-send).
	answers map[int]map[string]any
}

// maxAnswerRetries bounds the re-sends of one answer refused `unavailable`.
const maxAnswerRetries = 3

func newSweepRoom(sr SeededClassroom, index int, session, node string, questions, students int) *sweepRoom {
	r := &sweepRoom{seeded: sr, index: index, session: session, node: node, recv: make([][]atomic.Int64, questions), errs: map[string]string{},
		present: make([]bool, students), changed: make(chan struct{}, 1)}
	for q := range r.recv {
		r.recv[q] = make([]atomic.Int64, students)
	}
	return r
}

func newSweepStudent(r *sweepRoom, i, questions int) *sweepStudent {
	return &sweepStudent{room: r, i: i, sent: make([]atomic.Int64, questions), ackAt: make([]atomic.Int64, questions),
		ids: map[int]string{}, rej: map[int]string{}, retried: map[int]int{},
		answers: map[int]map[string]any{}}
}

// sweep holds what the students read while a pace runs.
type sweep struct {
	answering atomic.Bool
	thinkLo   atomic.Int64
	thinkHi   atomic.Int64
	pace      atomic.Int64 // the pace running (for dropped teachers)
	closing   atomic.Bool  // the run is over: sockets close on purpose
	// By pace: broadcasts read out of order, gaps in seq (students), the
	// longest retry_after_ms of an `unavailable` refusal (teachers),
	// student sockets closed under the sweep.
	outOfOrder, gaps, retryMax, dropped []atomic.Int64
}

func newSweep(paces int) *sweep {
	return &sweep{outOfOrder: make([]atomic.Int64, paces), gaps: make([]atomic.Int64, paces),
		retryMax: make([]atomic.Int64, paces), dropped: make([]atomic.Int64, paces)}
}

// retryAfter keeps the longest retry_after_ms of the pace.
func (sw *sweep) retryAfter(ms int64) {
	m := &sw.retryMax[sw.pace.Load()]
	for {
		old := m.Load()
		if ms <= old || m.CompareAndSwap(old, ms) {
			return
		}
	}
}

// order checks a broadcast's seq against the last one a socket read and
// returns the new last.
func (sw *sweep) order(last, seq int64) int64 {
	if seq <= 0 {
		return last
	}
	p := sw.pace.Load()
	switch {
	case last == 0: // the first broadcast this socket read
	case seq <= last:
		sw.outOfOrder[p].Add(1)
		return last
	case seq > last+1:
		sw.gaps[p].Add(1)
	}
	return seq
}

func sweepCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sweep", flag.ExitOnError)
	pf := addPlayFlags(fs)
	pacesFlag := fs.String("paces", "10s/quiet,10s,5s,3s,1s", "paces, in order; /quiet: no answers")
	perPace := fs.Int("questions", 6, "questions each room opens per pace")
	maxTicks := fs.Int("max-ticks", 0, "ticks per pace at most, refused commands retried included (default 3 × -questions)")
	thinkMin := fs.Duration("think-min", time.Second, "shortest think time (the longest is 0.8 × pace)")
	grace := fs.Duration("grace", 3*time.Second, "after a pace's last tick and longest think time, wait this long for acks and broadcasts")
	mdOut := fs.String("md", "", "write the markdown table to this file")
	profDir := fs.String("pg-profile", "", "write each pace's PostgreSQL profile (CPU by process kind, top statements) into this directory")
	diskDir := fs.String("disk-probe", "", "a directory on PostgreSQL's file system: each pace also times an 8 KiB fdatasync there every 50 ms (the disk's flush, which every commit waits for)")
	history := fs.Int64("history", 0, "first seed this many answers of ended, rolled-up sessions of the last day, with their events (0: a fresh database)")
	metricsFlag := fs.String("metrics", "", "the nodes' METRICS_ADDR base URLs, comma-separated: each pace also reports the nodes' own command and answer times")
	fs.String("timeout", "30m", "give up after")
	_ = fs.Parse(args)
	ctx, cancel := bounded(ctx, fs)
	defer cancel()

	ps, err := pf.resolve()
	if err != nil {
		return err
	}
	nodes, pids, seeded, classrooms, students := ps.nodes, ps.pids, ps.seeded, ps.classrooms, ps.students
	if len(pids) == 0 {
		return errors.New("-pids: the node processes' PIDs are required (CPU and RSS)")
	}
	var metricsURLs []string
	if *metricsFlag != "" {
		metricsURLs = strings.Split(*metricsFlag, ",")
	}
	paces, err := parsePaces(*pacesFlag)
	if err != nil {
		return err
	}
	if *maxTicks <= 0 {
		*maxTicks = 3 * *perPace
	}
	nq := len(seeded.Classrooms[0].Questions)
	if *perPace < 1 || *perPace*len(paces) > nq {
		return fmt.Errorf("-questions × paces: 1..%d seeded questions", nq)
	}
	if *maxTicks < *perPace {
		return errors.New("-max-ticks ≥ -questions")
	}
	pool, err := openDB(ctx, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	postmaster, err := postmasterPID(ctx, pool)
	if err != nil {
		return err
	}
	if *history > 0 {
		t := time.Now()
		n, err := seedHistory(ctx, pool, seeded, *history, 10)
		if err != nil {
			return err
		}
		fmt.Printf("sweep: history of %d answers and their events in %d ended sessions, rolled up, in %.1fs\n", *history, n, time.Since(t).Seconds())
	}
	res := &SweepResult{Scenario: "sweep", Command: "loadgen sweep " + strings.Join(args, " "), Machine: machine(),
		Nodes: nodes, Classrooms: classrooms, StudentsPerRoom: students, QuestionsPerPace: *perPace}
	started := time.Now()

	m, seededRooms, sessions, err := ps.open(ctx)
	if err != nil {
		return err
	}
	teacherNode := ps.teacherNode
	rooms := make([]*sweepRoom, len(seededRooms))
	var studs []*sweepStudent
	for i, sr := range seededRooms {
		r := newSweepRoom(sr, i, sessions[i], teacherNode(i), nq, students)
		rooms[i] = r
		for j := range students {
			studs = append(studs, newSweepStudent(r, j, nq))
		}
	}
	for _, s := range sampleRSS(nodes, pids) {
		res.RSSBeforeKiB += s.Before
	}

	// Teachers, then students; a room's students alternate over the nodes
	// (and teachers too), so every broadcast crosses Redis.
	var firstErr atomic.Value
	fl, err := connectRooms(ctx, m, nodes, seededRooms, sessions, students, *pf.dia, 256, 64, teacherNode, &firstErr)
	if err != nil {
		return err
	}
	res.Connect, res.SocketsPerNode = fl.connect, fl.perNode
	for i, r := range rooms {
		r.teacher = fl.teachers[i]
	}
	for _, st := range studs {
		st.sock = fl.students[st.room.index][st.i]
		st.room.present[st.i] = st.sock != nil
	}
	time.Sleep(3 * time.Second) // joins and presence settle: the sockets are idle
	res.RSSIdleKiB = sumRSS(pids)
	sockets := res.Connect.Sockets
	if sockets > 0 {
		res.RSSPerSocketKiB = float64(res.RSSIdleKiB-res.RSSBeforeKiB) / float64(sockets)
	}
	fmt.Printf("sweep: %d sockets open in %.1fs (%d failed), idle RSS %.1f KiB/socket; paces %v, %d questions each\n",
		sockets, res.Connect.Seconds, res.Connect.Failed, res.RSSPerSocketKiB, paces, *perPace)

	sw := newSweep(len(paces))
	var listeners sync.WaitGroup
	for _, st := range studs {
		if st.sock != nil {
			listeners.Go(func() { st.listen(ctx, sw) })
		}
	}
	var teachers sync.WaitGroup
	for _, r := range rooms {
		if r.teacher != nil {
			teachers.Go(func() { r.listen(ctx, sw, &firstErr) })
		}
	}
	if n := startAll(ctx, rooms); n > 0 {
		fmt.Printf("sweep: %d sessions did not start\n", n)
	}

	type window struct {
		from, to          time.Time
		node, pg, loadgen time.Duration
		rssKiB            int64
		load              float64
		server            *ServerLatency
		disk              *Dist
	}
	windows := make([]window, len(paces))
	var stalls []span
	for p, spec := range paces {
		lo, hi := thinkRange(spec.Every, *thinkMin)
		sw.thinkLo.Store(int64(lo))
		sw.thinkHi.Store(int64(hi))
		sw.answering.Store(!spec.Quiet)
		sw.pace.Store(int64(p))
		w := &windows[p]
		w.from = time.Now()
		n0, err := nodesCPU(pids)
		if err != nil {
			return fmt.Errorf("node CPU: %w", err)
		}
		pg0, err := postgresCPU(postmaster)
		if err != nil {
			return fmt.Errorf("postgres CPU: %w", err)
		}
		l0, _ := processCPU(os.Getpid())
		var timings0 serverTimings
		if metricsURLs != nil {
			if timings0, err = scrapeTimings(metricsURLs); err != nil {
				return err
			}
		}
		var prof *pgProfile
		if *profDir != "" {
			prof = startPGProfile(ctx, pool, postmaster)
		}
		var disk *diskProbe
		if *diskDir != "" {
			disk = startDiskProbe(ctx, *diskDir, 50*time.Millisecond)
		}
		base := w.from.Add(100 * time.Millisecond)
		var drive sync.WaitGroup
		for i, r := range rooms {
			if r.teacher == nil {
				continue
			}
			offset := time.Duration(int64(spec.Every) * int64(i) / int64(len(rooms)))
			drive.Go(func() { r.drive(ctx, p, base.Add(offset), spec.Every, *perPace, *maxTicks) })
		}
		drive.Wait()
		if !sleepUntil(ctx, time.Now().Add(hi+*grace)) {
			return ctx.Err()
		}
		w.to = time.Now()
		if disk != nil {
			d, st, err := disk.stop()
			if err != nil {
				return fmt.Errorf("disk probe: %w", err)
			}
			w.disk, stalls = &d, append(stalls, st...)
		}
		n1, _ := nodesCPU(pids)
		pg1, _ := postgresCPU(postmaster)
		l1, _ := processCPU(os.Getpid())
		w.node, w.pg, w.loadgen = n1-n0, pg1-pg0, l1-l0
		w.rssKiB = sumRSS(pids)
		w.load = loadAverage()
		if metricsURLs != nil {
			timings1, err := scrapeTimings(metricsURLs)
			if err != nil {
				return err
			}
			w.server = timings1.since(timings0)
		}
		if prof != nil {
			name := strings.NewReplacer("/", "-").Replace(spec.String())
			if err := prof.write(ctx, filepath.Join(*profDir, fmt.Sprintf("pg-%d-%s.txt", p, name)), "pace "+spec.String(), 25); err != nil {
				fmt.Printf("sweep: PostgreSQL profile: %v\n", err)
			}
		}
		fmt.Printf("sweep: pace %s done in %.1fs; CPU: nodes %.1fs, PostgreSQL %.1fs, load generator %.1fs\n",
			spec, w.to.Sub(w.from).Seconds(), w.node.Seconds(), w.pg.Seconds(), w.loadgen.Seconds())
	}

	for _, r := range rooms {
		if r.teacher != nil && !r.dropped.Load() {
			_ = r.teacher.Send(ctx, "end", "end", struct{}{})
		}
	}
	waitOrTimeout(&teachers, 15*time.Second)
	waitOrTimeout(&listeners, 15*time.Second)
	sw.closing.Store(true)
	_ = parallel(ctx, len(studs)+len(rooms), 256, func(_ context.Context, k int) error {
		if k < len(studs) {
			if studs[k].sock != nil {
				studs[k].sock.Close()
			}
		} else if t := rooms[k-len(studs)].teacher; t != nil {
			t.Close()
		}
		return nil
	})

	var unstalled func(from, to int64) bool
	if *diskDir != "" {
		unstalled = func(from, to int64) bool { return !overlapsAny(stalls, from, to) }
	}
	rows := summarize(rooms, studs, paces, *thinkMin, unstalled)
	for p := range rows {
		rows[p].OutOfOrder, rows[p].SeqGaps = sw.outOfOrder[p].Load(), sw.gaps[p].Load()
		rows[p].RetryAfterMaxMs, rows[p].StudentsDropped = sw.retryMax[p].Load(), sw.dropped[p].Load()
	}
	stored, err := storedAnswers(ctx, pool, rooms, studs)
	if err != nil {
		return err
	}
	res.Duplicates = stored.duplicates
	var quietCost float64
	for p := range rows {
		r, w := &rows[p], windows[p]
		r.WindowSecs, r.LoadAvg, r.Server, r.DiskFlush = w.to.Sub(w.from).Seconds(), w.load, w.server, w.disk
		r.Stored, r.StoredAcked = stored.byPace[p], stored.ackedByPace[p]
		r.NodeCPUSecs, r.PostgresCPUSecs, r.LoadgenCPUSecs = w.node.Seconds(), w.pg.Seconds(), w.loadgen.Seconds()
		if r.Expected > 0 {
			r.NodeUsPerSQ = float64(w.node.Microseconds()) / float64(r.Expected)
		}
		if r.Admitted > 0 {
			r.PGMsPerCommand = ms(w.pg) / float64(r.Admitted)
		}
		if r.Acked > 0 {
			r.PGMsPerAnswer = ms(w.pg) / float64(r.Acked)
			if quietCost > 0 {
				r.PGMsPerAnswerNet = (ms(w.pg) - quietCost*float64(r.Admitted)) / float64(r.Acked)
			}
		}
		if !r.Answering && quietCost == 0 {
			quietCost = r.PGMsPerCommand
		}
		if sockets > 0 {
			r.RSSPerSocketKiB = float64(w.rssKiB-res.RSSBeforeKiB) / float64(sockets)
		}
	}
	res.Rows = rows
	if v := firstErr.Load(); v != nil {
		res.FirstError = v.(string)
	}
	res.Seconds = time.Since(started).Seconds()

	md := sweepMarkdown(res)
	fmt.Println()
	fmt.Print(md)
	if *mdOut != "" {
		if err := os.WriteFile(*mdOut, []byte(md), 0o644); err != nil {
			return err
		}
	}
	return writeJSON(*pf.out, res)
}

// postmasterPID finds this database's postmaster: the parent of the
// backend serving a connection (the database must be on this machine).
func postmasterPID(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var backend int
	if err := pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return 0, fmt.Errorf("postmaster: %w", err)
	}
	s, err := readStat(backend)
	if err != nil {
		return 0, fmt.Errorf("postmaster: backend %d not visible in /proc (is PostgreSQL on this machine?): %w", backend, err)
	}
	return s.PPID, nil
}

func sumRSS(pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		kib, _ := rssKiB(pid)
		sum += kib
	}
	return sum
}

// startAll sends `start` in every room and waits for its session.started,
// re-sending every 2 s while it is refused or unanswered; it returns how
// many rooms never started.
func startAll(ctx context.Context, rooms []*sweepRoom) int {
	var notStarted atomic.Int64
	_ = parallel(ctx, len(rooms), 64, func(ctx context.Context, i int) error {
		r := rooms[i]
		if r.teacher == nil {
			notStarted.Add(1)
			return nil
		}
		for try := range 15 {
			if try%4 == 0 {
				_ = r.teacher.Send(ctx, "start", "start-"+strconv.Itoa(try), struct{}{})
			}
			if !sleepUntil(ctx, time.Now().Add(500*time.Millisecond)) {
				return nil
			}
			if r.started.Load() {
				return nil
			}
		}
		notStarted.Add(1)
		return nil
	})
	return int(notStarted.Load())
}

// drive is one room's teacher during pace p: a `next` at each tick (at +
// k × every) until the teacher has seen `questions` of its questions
// opened, at most maxTicks ticks. A refused command is retried at the
// next tick; while every command needed is sent but some are not yet
// answered (no broadcast, no refusal), the teacher sends nothing and
// waits: a late refusal is then retried at the next tick.
func (r *sweepRoom) drive(ctx context.Context, p int, at time.Time, every time.Duration, questions, maxTicks int) {
	base := r.opened.Load()
	for t := 0; t < maxTicks && !r.dropped.Load(); {
		if int(r.opened.Load()-base) >= questions {
			return
		}
		tick := at.Add(time.Duration(t) * every)
		if r.admittedKnown(p) >= questions {
			select {
			case <-r.changed:
			case <-time.After(time.Until(tick)):
			case <-ctx.Done():
				return
			}
			if !time.Now().Before(tick) {
				t++ // this tick passed with nothing to send
			}
			continue
		}
		if !sleepUntil(ctx, tick) {
			return
		}
		t++
		r.mu.Lock()
		c := command{id: "n" + strconv.Itoa(len(r.sends)), at: time.Now().UnixNano(), pace: p}
		r.sends = append(r.sends, c)
		r.mu.Unlock()
		if err := r.teacher.Send(ctx, "next", c.id, struct{}{}); err != nil {
			r.mu.Lock()
			r.errs[c.id] = "send_failed"
			r.mu.Unlock()
		}
	}
}

func (r *sweepRoom) signal() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *sweepRoom) admittedKnown(p int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.sends {
		if c.pace == p && r.errs[c.id] == "" {
			n++
		}
	}
	return n
}

// listen drains the teacher's socket: error replies by command id, the
// session's start, and whether the socket was closed under it.
func (r *sweepRoom) listen(ctx context.Context, sw *sweep, first *atomic.Value) {
	for {
		f, err := r.teacher.Next(ctx)
		if err != nil {
			if ctx.Err() == nil && !sw.closing.Load() {
				r.droppedIn.Store(sw.pace.Load() + 1)
				r.dropped.Store(true)
				first.CompareAndSwap(nil, fmt.Sprintf("teacher socket closed during pace %d: %v", sw.pace.Load(), err))
			}
			return
		}
		switch f.Type {
		case "session.started":
			r.started.Store(true)
		case "question.opened":
			r.opened.Add(1)
			r.signal()
		case "session.ended":
			return
		case "error":
			code, retry := errorData(f.Data)
			if code != "unavailable" {
				first.CompareAndSwap(nil, "teacher got error: "+string(f.Data))
			}
			sw.retryAfter(retry)
			r.mu.Lock()
			r.errs[f.ID] = code
			r.mu.Unlock()
			r.signal()
		}
	}
}

// errorCode reads the code of an `error` frame's data ("unknown" if none).
func errorCode(data json.RawMessage) string {
	code, _ := errorData(data)
	return code
}

// errorData reads an `error` frame's code ("unknown" if none) and its
// retry_after_ms (0 if none: only `unavailable` carries it).
func errorData(data json.RawMessage) (string, int64) {
	var e struct {
		Code         string `json:"code"`
		RetryAfterMs int64  `json:"retry_after_ms"`
	}
	if json.Unmarshal(data, &e) != nil || e.Code == "" {
		return "unknown", 0
	}
	return e.Code, e.RetryAfterMs
}

// listen is a student: stamp each question.opened, answer a random option
// after a think time while the pace is answering, stamp the ack.
func (st *sweepStudent) listen(ctx context.Context, sw *sweep) {
	n := len(st.sent)
	var last int64
	for {
		f, err := st.sock.Next(ctx)
		if err != nil {
			if ctx.Err() == nil && !sw.closing.Load() {
				sw.dropped[sw.pace.Load()].Add(1)
			}
			return
		}
		last = sw.order(last, f.Seq)
		switch f.Type {
		case "question.opened":
			var d openedData
			if json.Unmarshal(f.Data, &d) != nil || d.Question.Index < 0 || d.Question.Index >= n || len(d.Question.Options) == 0 {
				continue
			}
			q := d.Question.Index
			st.room.recv[q][st.i].Store(f.At.UnixNano())
			if !sw.answering.Load() {
				continue
			}
			lo, hi := sw.thinkLo.Load(), sw.thinkHi.Load()
			think := time.Duration(lo + rand.Int64N(hi-lo+1))
			ans := map[string]any{"question_id": d.Question.ID, "choices": []string{d.Question.Options[rand.IntN(len(d.Question.Options))].ID}}
			st.mu.Lock()
			st.answers[q] = ans
			st.mu.Unlock()
			time.AfterFunc(think, func() {
				st.sent[q].Store(time.Now().UnixNano())
				_ = st.sock.Send(ctx, "answer", "a-"+strconv.Itoa(q), ans)
			})
		case "answer.accepted":
			q, ok := answerIndex(f.ID, n)
			if !ok {
				continue
			}
			st.ackAt[q].CompareAndSwap(0, f.At.UnixNano())
			var a struct {
				AnswerID string `json:"answer_id"`
			}
			st.mu.Lock()
			delete(st.answers, q)
			if json.Unmarshal(f.Data, &a) == nil && a.AnswerID != "" {
				st.ids[q] = a.AnswerID
			}
			st.mu.Unlock()
		case "answer.rejected", "error":
			q, ok := answerIndex(f.ID, n)
			if !ok {
				continue
			}
			code, retry := errorData(f.Data)
			st.mu.Lock()
			ans := st.answers[q]
			if code == "unavailable" && st.retried[q] < maxAnswerRetries && ans != nil {
				// As a client would: the same answer again after the
				// delay asked for (a re-sent answer is idempotent). Its
				// ack latency still counts from the first send.
				st.retried[q]++
				time.AfterFunc(time.Duration(retry)*time.Millisecond, func() {
					_ = st.sock.Send(ctx, "answer", "a-"+strconv.Itoa(q), ans)
				})
			} else {
				st.rej[q] = code
				delete(st.answers, q)
			}
			st.mu.Unlock()
		case "session.ended":
			return
		}
	}
}

// admitted resolves a room's commands: every `next` without an error reply
// opened the next question, in the order sent, so the k-th admitted one
// opened question k. It returns, per question index, the command.
func admitted(sends []command, errs map[string]string) []command {
	var out []command
	for _, c := range sends {
		if errs[c.id] == "" {
			out = append(out, c)
		}
	}
	return out
}

// summarize computes every row but the stored counts and CPU.
//
// unstalled (nil: no disk probe) tells whether the interval [from, to] (unix
// ns) met no disk stall; the commands and answers it keeps make
// LastOfRoomClear and AckClear.
func summarize(rooms []*sweepRoom, studs []*sweepStudent, paces []paceSpec, thinkMin time.Duration, unstalled func(from, to int64) bool) []PaceRow {
	rows := make([]PaceRow, len(paces))
	last := make([][]time.Duration, len(paces))
	acks := make([][]time.Duration, len(paces))
	lastClear := make([][]time.Duration, len(paces))
	acksClear := make([][]time.Duration, len(paces))
	firstSent := make([]int64, len(paces))
	lastAck := make([]int64, len(paces))
	for p, spec := range paces {
		lo, hi := thinkRange(spec.Every, thinkMin)
		rows[p] = PaceRow{Pace: spec.String(), PaceMs: spec.Every.Milliseconds(), Answering: !spec.Quiet,
			ThinkMs: [2]int64{lo.Milliseconds(), hi.Milliseconds()}, Errors: map[string]int64{}, Rejected: map[string]int64{}}
	}
	teachers := 0
	for _, r := range rooms {
		if r.teacher != nil {
			teachers++
		}
	}
	for p := range rows {
		rows[p].OfferedPerSec = float64(teachers) / paces[p].Every.Seconds()
	}
	byRoom := map[*sweepRoom][]command{}
	for _, r := range rooms {
		r.mu.Lock()
		for _, c := range r.sends {
			row := &rows[c.pace]
			row.Sent++
			switch code := r.errs[c.id]; code {
			case "":
			case "unavailable":
				row.Unavailable++
			default:
				row.Errors[code]++
			}
		}
		cmds := admitted(r.sends, r.errs)
		r.mu.Unlock()
		byRoom[r] = cmds
		if p := r.droppedIn.Load(); p > 0 {
			rows[p-1].Dropped++
		}
		for q, c := range cmds {
			if q >= len(r.recv) {
				break
			}
			row := &rows[c.pace]
			row.Admitted++
			var worst time.Duration
			complete := true
			for s := range r.recv[q] {
				if !r.present[s] {
					continue
				}
				row.Expected++
				t := r.recv[q][s].Load()
				if t == 0 {
					complete = false
					continue
				}
				row.Delivered++
				worst = max(worst, time.Duration(t-c.at))
			}
			if complete {
				d := max(worst, time.Nanosecond)
				last[c.pace] = append(last[c.pace], d)
				if unstalled != nil && unstalled(c.at, c.at+int64(d)) {
					lastClear[c.pace] = append(lastClear[c.pace], d)
				}
			} else {
				row.Incomplete++
			}
		}
	}
	for _, st := range studs {
		cmds := byRoom[st.room]
		st.mu.Lock()
		for q, c := range cmds {
			if q >= len(st.sent) {
				break
			}
			row := &rows[c.pace]
			if code, ok := st.rej[q]; ok {
				row.Rejected[code]++
			}
			if n := st.retried[q]; n > 0 {
				row.Rejected["unavailable, re-sent"] += int64(n)
			}
			t0 := st.sent[q].Load()
			if t0 == 0 {
				continue
			}
			row.AnswersSent++
			if firstSent[c.pace] == 0 || t0 < firstSent[c.pace] {
				firstSent[c.pace] = t0
			}
			t1 := st.ackAt[q].Load()
			if t1 == 0 {
				continue
			}
			row.Acked++
			d := max(time.Duration(t1-t0), time.Nanosecond)
			acks[c.pace] = append(acks[c.pace], d)
			if unstalled != nil && unstalled(t0, t1) {
				acksClear[c.pace] = append(acksClear[c.pace], d)
			}
			lastAck[c.pace] = max(lastAck[c.pace], t1)
		}
		st.mu.Unlock()
	}
	for p := range rows {
		rows[p].LastOfRoom = dist(last[p])
		rows[p].Ack = dist(acks[p])
		if unstalled != nil {
			l, a := dist(lastClear[p]), dist(acksClear[p])
			rows[p].LastOfRoomClear, rows[p].AckClear = &l, &a
		}
		if lastAck[p] > firstSent[p] && firstSent[p] > 0 {
			rows[p].DurablePerSec = float64(rows[p].Acked) / time.Duration(lastAck[p]-firstSent[p]).Seconds()
		}
	}
	return rows
}

type storedCounts struct {
	byPace, ackedByPace map[int]int64
	duplicates          int64
}

// storedAnswers counts in PostgreSQL the answers of the run's sessions by
// the pace that opened their question, and how many acknowledged answer
// ids are among them.
func storedAnswers(ctx context.Context, pool *pgxpool.Pool, rooms []*sweepRoom, studs []*sweepStudent) (storedCounts, error) {
	sc := storedCounts{byPace: map[int]int64{}, ackedByPace: map[int]int64{}}
	paceOf := map[string][]int{} // session → question index → pace
	var sessions []string
	for _, r := range rooms {
		r.mu.Lock()
		cmds := admitted(r.sends, r.errs)
		r.mu.Unlock()
		ps := make([]int, len(cmds))
		for q, c := range cmds {
			ps[q] = c.pace
		}
		paceOf[r.session] = ps
		sessions = append(sessions, r.session)
	}
	rows, err := pool.Query(ctx, `SELECT session_id::text, question_idx, count(*),
			count(*) - count(DISTINCT student_id) FROM answers
		WHERE session_id = ANY($1::uuid[]) GROUP BY 1, 2`, sessions)
	if err != nil {
		return sc, fmt.Errorf("stored answers: %w", err)
	}
	for rows.Next() {
		var sess string
		var q int
		var n, dup int64
		if err := rows.Scan(&sess, &q, &n, &dup); err != nil {
			rows.Close()
			return sc, fmt.Errorf("stored answers: %w", err)
		}
		sc.duplicates += dup
		if ps := paceOf[sess]; q < len(ps) {
			sc.byPace[ps[q]] += n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sc, fmt.Errorf("stored answers: %w", err)
	}
	var ids []string
	idPace := map[string]int{}
	for _, st := range studs {
		ps := paceOf[st.room.session]
		st.mu.Lock()
		for q, id := range st.ids {
			if q < len(ps) {
				ids = append(ids, id)
				idPace[id] = ps[q]
			}
		}
		st.mu.Unlock()
	}
	found, err := pool.Query(ctx, `SELECT id::text FROM answers WHERE id = ANY($1::uuid[])`, ids)
	if err != nil {
		return sc, fmt.Errorf("acked answers: %w", err)
	}
	defer found.Close()
	for found.Next() {
		var id string
		if err := found.Scan(&id); err != nil {
			return sc, fmt.Errorf("acked answers: %w", err)
		}
		sc.ackedByPace[idPace[id]]++
	}
	return sc, found.Err()
}

// sweepColumns are the markdown table's header.
var sweepColumns = []string{"pace (answers)", "commands admitted / refused `unavailable`", "delivered / expected",
	"command → last student p50 / p99 / max", "ack p50 / p99", "durable answers/s", "acked = stored",
	"teacher errors", "sockets dropped: teachers / students", "node CPU µs / (student × question)",
	"PG CPU ms / command", "PG CPU ms / answer (net)", "RSS KiB / socket", "in the nodes: `next` p50 / p99; answer p50 / p99",
	"disk fdatasync p50 / p99 / max; outside its stalls: command → last student p99, ack p99"}

// markdownRow is one pace as a row of docs/benchmarks.md's table.
func markdownRow(r PaceRow) string {
	pace := fmt.Sprintf("%s; %.0f `next`/s", r.Pace, r.OfferedPerSec)
	if r.Answering {
		pace = fmt.Sprintf("%s (think %.1f–%.1f s); %.0f `next`/s", r.Pace, float64(r.ThinkMs[0])/1000, float64(r.ThinkMs[1])/1000, r.OfferedPerSec)
	}
	refused := strconv.FormatInt(r.Unavailable, 10)
	if r.RetryAfterMaxMs > 0 {
		refused += fmt.Sprintf(" (retry after ≤ %d ms)", r.RetryAfterMaxMs)
	}
	dash := func(ok bool, s string) string {
		if !ok {
			return "—"
		}
		return s
	}
	delivered := "—"
	if r.Expected > 0 {
		delivered = fmt.Sprintf("%d / %d (%.1f %%)", r.Delivered, r.Expected, 100*float64(r.Delivered)/float64(r.Expected))
	}
	if r.OutOfOrder > 0 || r.SeqGaps > 0 {
		delivered += fmt.Sprintf("; %d out of order, %d seq gaps", r.OutOfOrder, r.SeqGaps)
	} else if r.Expected > 0 {
		delivered += ", in order"
	}
	ackStored := dash(r.Answering, fmt.Sprintf("%d acked, %d stored, %d of the acked found", r.Acked, r.Stored, r.StoredAcked))
	if r.Answering && r.Acked == r.StoredAcked && r.Stored >= r.Acked {
		ackStored = fmt.Sprintf("%d = %d ✓", r.Acked, r.Stored)
	}
	ack := dash(r.Answering && r.Ack.N > 0, fmt.Sprintf("%s / %s ms", num(r.Ack.P50), num(r.Ack.P99)))
	if len(r.Rejected) > 0 {
		ack += "; rejected " + codes(r.Rejected)
	}
	net := ""
	if r.PGMsPerAnswerNet != 0 {
		net = fmt.Sprintf(" (%.2f)", r.PGMsPerAnswerNet)
	}
	cells := []string{
		pace,
		fmt.Sprintf("%d / %s", r.Admitted, refused),
		delivered,
		dash(r.LastOfRoom.N > 0, fmt.Sprintf("%s / %s / %s ms", num(r.LastOfRoom.P50), num(r.LastOfRoom.P99), num(r.LastOfRoom.Max))) + incomplete(r.Incomplete),
		ack,
		dash(r.Answering, fmt.Sprintf("%.0f", r.DurablePerSec)),
		ackStored,
		dash(len(r.Errors) > 0, codes(r.Errors)),
		fmt.Sprintf("%d / %d", r.Dropped, r.StudentsDropped),
		dash(r.Expected > 0, fmt.Sprintf("%.0f", r.NodeUsPerSQ)),
		dash(r.Admitted > 0, fmt.Sprintf("%.2f", r.PGMsPerCommand)),
		dash(r.Acked > 0, fmt.Sprintf("%.2f%s", r.PGMsPerAnswer, net)),
		fmt.Sprintf("%.1f", r.RSSPerSocketKiB),
		"—",
		"—",
	}
	if d := r.DiskFlush; d != nil && d.N > 0 {
		cells[len(cells)-1] = fmt.Sprintf("%s / %s / %s ms", num(d.P50), num(d.P99), num(d.Max))
		if l := r.LastOfRoomClear; l != nil && r.LastOfRoom.N > 0 {
			cells[len(cells)-1] += fmt.Sprintf("; outside stalls: %s ms (%d of %d)", num(l.P99), l.N, r.LastOfRoom.N)
			if a := r.AckClear; a != nil && r.Answering && r.Ack.N > 0 {
				cells[len(cells)-1] += fmt.Sprintf(", ack %s ms (%d of %d)", num(a.P99), a.N, r.Ack.N)
			}
		}
	}
	if sv := r.Server; sv != nil {
		cells[len(cells)-2] = fmt.Sprintf("%s / %s ms; %s", num(sv.NextP50), num(sv.NextP99),
			dash(r.Answering, fmt.Sprintf("%s / %s ms", num(sv.AnswerP50), num(sv.AnswerP99))))
	}
	return "| " + strings.Join(cells, " | ") + " |"
}

func incomplete(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d rooms incomplete)", n)
}

// num prints a latency in ms: one decimal below 100, none above.
func num(v float64) string {
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// codes prints counts by code in a stable order: "conflict 2, internal 1".
func codes(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// sweepMarkdown is the whole table with the machine and the command.
func sweepMarkdown(res *SweepResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Pace sweep: %d rooms × %d students + teachers = %d sockets over %d nodes (%d failed), %d questions per pace; %s\n\n",
		res.Classrooms, res.StudentsPerRoom, res.Connect.Sockets, len(res.Nodes), res.Connect.Failed, res.QuestionsPerPace, res.Command)
	for _, kv := range res.Machine {
		fmt.Fprintf(&b, "%s: %s; ", kv[0], kv[1])
	}
	fmt.Fprintf(&b, "idle RSS %.1f KiB/socket; %d duplicate answers; 1-minute load average at the end of each pace:", res.RSSPerSocketKiB, res.Duplicates)
	for _, r := range res.Rows {
		fmt.Fprintf(&b, " %.1f", r.LoadAvg)
	}
	b.WriteString("\n\n")
	b.WriteString("| " + strings.Join(sweepColumns, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", len(sweepColumns)) + "\n")
	for _, r := range res.Rows {
		b.WriteString(markdownRow(r) + "\n")
	}
	if res.FirstError != "" {
		fmt.Fprintf(&b, "\nfirst error: %s\n", trim(res.FirstError, 200))
	}
	return b.String()
}

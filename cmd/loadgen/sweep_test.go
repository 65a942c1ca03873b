package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/quizcast/quizcast/internal/client"
)

func TestParsePaces(t *testing.T) {
	got, err := parsePaces("10s/quiet, 10s,5s,,1500ms")
	if err != nil {
		t.Fatal(err)
	}
	want := []paceSpec{{10 * time.Second, true}, {10 * time.Second, false}, {5 * time.Second, false}, {1500 * time.Millisecond, false}}
	if len(got) != len(want) {
		t.Fatalf("parsePaces = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pace %d = %v, want %v", i, got[i], want[i])
		}
	}
	if got[0].String() != "10s/quiet" || got[3].String() != "1.5s" {
		t.Fatalf("String: %q %q", got[0], got[3])
	}
	for _, bad := range []string{"", ",", "ten", "5s/loud", "50ms"} {
		if _, err := parsePaces(bad); err == nil {
			t.Errorf("parsePaces(%q) accepted", bad)
		}
	}
}

func TestThinkRange(t *testing.T) {
	for _, tc := range []struct {
		pace, lo, hi time.Duration
	}{
		{10 * time.Second, time.Second, 8 * time.Second},
		{5 * time.Second, time.Second, 4 * time.Second},
		{3 * time.Second, time.Second, 2400 * time.Millisecond},
		// Too short for a 1 s minimum: half of the longest.
		{time.Second, 400 * time.Millisecond, 800 * time.Millisecond},
	} {
		lo, hi := thinkRange(tc.pace, time.Second)
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("thinkRange(%s) = %s…%s, want %s…%s", tc.pace, lo, hi, tc.lo, tc.hi)
		}
	}
}

func TestParseStat(t *testing.T) {
	// A command name with a space and a parenthesis, as /proc prints it.
	line := "4242 (postgres: a) b) S 17 4242 4242 0 -1 4194560 911 0 0 0 123 45 6 7 20 0 1 0 99 1000 50 18446744073709551615\n"
	s, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if s != (procStat{PPID: 17, UTime: 123, STime: 45, CUTime: 6, CSTime: 7}) {
		t.Fatalf("parseStat = %+v", s)
	}
	for _, bad := range []string{"", "1 (x) S 1 2 3", "1 (x) S p 1 1 0 -1 0 0 0 0 0 1 2 3 4"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
}

func TestClusterCPUCountsChildrenAndReaped(t *testing.T) {
	stats := map[int]procStat{
		10: {PPID: 1, UTime: 5, STime: 5, CUTime: 100, CSTime: 20}, // postmaster, reaped children
		11: {PPID: 10, UTime: 30, STime: 10},                       // backend
		12: {PPID: 10, UTime: 1, STime: 1, CUTime: 999},            // a child's own children are not the cluster's
		13: {PPID: 1, UTime: 1000},                                 // another cluster's postmaster
		14: {PPID: 13, UTime: 1000},                                // and its backend
	}
	got, err := clusterCPU(10, stats)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Duration(5+5+100+20+30+10+1+1) * clockTick; got != want {
		t.Fatalf("clusterCPU = %s, want %s", got, want)
	}
	if _, err := clusterCPU(99, stats); err == nil {
		t.Fatal("clusterCPU of a missing postmaster succeeded")
	}
}

func TestKindTimesAddUpToTheCluster(t *testing.T) {
	stats := map[int]procStat{
		10: {PPID: 1, UTime: 5, STime: 5, CUTime: 100, CSTime: 20}, // postmaster, reaped children
		11: {PPID: 10, UTime: 30, STime: 10},                       // the server's backend
		12: {PPID: 10, UTime: 7},                                   // another server backend
		15: {PPID: 10, UTime: 4, STime: 2},                         // the worker's backend
		16: {PPID: 10, UTime: 3},                                   // walwriter
		17: {PPID: 10, UTime: 9},                                   // an autovacuum worker still running
		13: {PPID: 1, UTime: 1000},                                 // another cluster's postmaster
		14: {PPID: 13, UTime: 1000},                                // and its backend
	}
	titles := map[int]string{11: "postgres: postgres quizcast 127.0.0.1(5) idle", 12: "postgres: postgres quizcast 127.0.0.1(6) idle",
		15: "postgres: postgres quizcast 127.0.0.1(7) idle", 16: "postgres: walwriter", 17: "postgres: autovacuum worker quizcast"}
	apps := map[int]string{11: "quizcast-server", 12: "quizcast-server", 15: "quizcast-eventworker"}
	got := kindTimes(10, stats, apps, func(pid int) string { return titles[pid] })
	want := map[string]time.Duration{
		exitedKind:                     130 * clockTick,
		"backend quizcast-server":      47 * clockTick,
		"backend quizcast-eventworker": 6 * clockTick,
		"walwriter":                    3 * clockTick,
		"autovacuum worker":            9 * clockTick,
	}
	if !maps.Equal(got, want) {
		t.Fatalf("kindTimes = %v, want %v", got, want)
	}
	var sum time.Duration
	for _, d := range got {
		sum += d
	}
	if cluster, _ := clusterCPU(10, stats); sum != cluster {
		t.Fatalf("kinds add up to %s, the cluster used %s", sum, cluster)
	}
}

func TestAdmittedSkipsRefusedCommands(t *testing.T) {
	sends := []command{{id: "n0", at: 1, pace: 0}, {id: "n1", at: 2, pace: 0}, {id: "n2", at: 3, pace: 0}, {id: "n3", at: 4, pace: 1}}
	// n1 was refused and retried as n2: question 1 opened at n2's command.
	got := admitted(sends, map[string]string{"n1": "unavailable"})
	if len(got) != 3 || got[0].id != "n0" || got[1].id != "n2" || got[2].id != "n3" {
		t.Fatalf("admitted = %+v", got)
	}
}

// sweepFixture is one room of 2 students over two paces: question 0 and
// 1 in pace 0 (the `next` of question 1 refused once and retried), 2 in
// pace 1.
func sweepFixture() ([]*sweepRoom, []*sweepStudent, []paceSpec) {
	const ms = int64(time.Millisecond)
	r := newSweepRoom(SeededClassroom{}, 0, "s1", "http://127.0.0.1:1", 3, 3)
	r.sends = []command{{"n0", 1000 * ms, 0}, {"n1", 2000 * ms, 0}, {"n2", 3000 * ms, 0}, {"n3", 4000 * ms, 1}}
	r.errs = map[string]string{"n1": "unavailable"}
	r.present = []bool{true, true, false} // the third student never connected
	// Question 0: 10 and 30 ms; question 1 (from n2): 5 and 7 ms;
	// question 2: one student never got it.
	r.recv[0][0].Store(1010 * ms)
	r.recv[0][1].Store(1030 * ms)
	r.recv[1][0].Store(3005 * ms)
	r.recv[1][1].Store(3007 * ms)
	r.recv[2][0].Store(4002 * ms)
	a, b := newSweepStudent(r, 0, 3), newSweepStudent(r, 1, 3)
	a.sent[0].Store(2000 * ms)
	a.ackAt[0].Store(2004 * ms)
	a.ids[0] = "x"
	b.sent[0].Store(2100 * ms)
	b.ackAt[0].Store(2120 * ms)
	b.ids[0] = "y"
	b.rej[1] = "closed"
	b.sent[1].Store(3500 * ms)
	r.droppedIn.Store(2) // the teacher's socket closed during pace 1
	paces := []paceSpec{{Every: time.Second}, {Every: time.Second, Quiet: true}}
	return []*sweepRoom{r}, []*sweepStudent{a, b}, paces
}

func TestSummarize(t *testing.T) {
	rooms, studs, paces := sweepFixture()
	rows := summarize(rooms, studs, paces, time.Second, nil)
	p0, p1 := rows[0], rows[1]
	if p0.Sent != 3 || p0.Admitted != 2 || p0.Unavailable != 1 || len(p0.Errors) != 0 {
		t.Fatalf("pace 0 commands: %+v", p0)
	}
	if p0.Expected != 4 || p0.Delivered != 4 || p0.Incomplete != 0 {
		t.Fatalf("pace 0 delivery: %d/%d, %d incomplete", p0.Delivered, p0.Expected, p0.Incomplete)
	}
	// Last of room: 30 ms (question 0), 7 ms (question 1, from the retry).
	if p0.LastOfRoom.N != 2 || p0.LastOfRoom.Max != 30 || p0.LastOfRoom.P50 != 7 {
		t.Fatalf("pace 0 last of room: %+v", p0.LastOfRoom)
	}
	if p0.AnswersSent != 3 || p0.Acked != 2 || p0.Ack.Max != 20 || p0.Rejected["closed"] != 1 {
		t.Fatalf("pace 0 answers: %+v", p0)
	}
	// 2 acked between the first sent (2000 ms) and the last ack (2120 ms).
	if p0.DurablePerSec < 16.6 || p0.DurablePerSec > 16.7 {
		t.Fatalf("durable/s = %f", p0.DurablePerSec)
	}
	if p1.Dropped != 1 || p0.Dropped != 0 {
		t.Fatalf("dropped: %d, %d", p0.Dropped, p1.Dropped)
	}
	if p1.Admitted != 1 || p1.Expected != 2 || p1.Delivered != 1 || p1.Incomplete != 1 || p1.LastOfRoom.N != 0 {
		t.Fatalf("pace 1: %+v", p1)
	}
	if !p0.Answering || p1.Answering || p0.ThinkMs != [2]int64{400, 800} {
		t.Fatalf("pace flags: %+v %+v", p0, p1)
	}
}

func TestSummarizeSetsApartWhatMetADiskStall(t *testing.T) {
	const ms = int64(time.Millisecond)
	rooms, studs, paces := sweepFixture()
	// A flush stalled from 1,005 to 1,015 ms, during question 0's command
	// (1,000–1,030 ms); another from 1,850 to 1,860 ms, whose drain (100
	// ms + 5 × 10 ms) reaches into student a's answer (2,000–2,004 ms) but
	// not b's (2,100–2,120 ms).
	stalls := []span{{1005 * ms, 1015 * ms}, {1850 * ms, 1860 * ms}}
	unstalled := func(from, to int64) bool { return !overlapsAny(stalls, from, to) }
	rows := summarize(rooms, studs, paces, time.Second, unstalled)
	p0 := rows[0]
	if p0.LastOfRoom.N != 2 || p0.LastOfRoomClear == nil || p0.LastOfRoomClear.N != 1 || p0.LastOfRoomClear.Max != 7 {
		t.Fatalf("outside stalls, last of room: %+v (all %+v)", p0.LastOfRoomClear, p0.LastOfRoom)
	}
	if p0.Ack.N != 2 || p0.AckClear == nil || p0.AckClear.N != 1 || p0.AckClear.Max != 20 {
		t.Fatalf("outside stalls, ack: %+v (all %+v)", p0.AckClear, p0.Ack)
	}
	p0.DiskFlush = &Dist{N: 40, P50: 0.4, P99: 38, Max: 40}
	if row := markdownRow(p0); !strings.HasSuffix(row, "| 0.4 / 38.0 / 40.0 ms; outside stalls: 7.0 ms (1 of 2), ack 20.0 ms (1 of 2) |") {
		t.Fatalf("row %q", row)
	}
	if rows := summarize(rooms, studs, paces, time.Second, nil); rows[0].LastOfRoomClear != nil || rows[0].AckClear != nil {
		t.Fatal("figures outside stalls without a probe")
	}
	st := span{1000 * ms, 1010 * ms} // reaches 1,010 + 100 + 50 ms
	if overlapsAny(nil, 0, 1) || !overlapsAny([]span{st}, 1160*ms, 1170*ms) || overlapsAny([]span{st}, 1161*ms, 1170*ms) ||
		!overlapsAny([]span{st}, 990*ms, 1000*ms) || overlapsAny([]span{st}, 900*ms, 999*ms) {
		t.Fatal("overlapsAny")
	}
}

func TestMarkdownRow(t *testing.T) {
	rooms, studs, paces := sweepFixture()
	rows := summarize(rooms, studs, paces, time.Second, nil)
	rows[0].Stored, rows[0].StoredAcked = 2, 2
	rows[0].NodeUsPerSQ, rows[0].PGMsPerCommand, rows[0].PGMsPerAnswer, rows[0].PGMsPerAnswerNet = 512.4, 6.25, 1.5, 0.75
	row := markdownRow(rows[0])
	if n := strings.Count(row, "|"); n != len(sweepColumns)+1 {
		t.Fatalf("%d cells in %q", n-1, row)
	}
	for _, want := range []string{"| 1s (think 0.4–0.8 s); 0 `next`/s |", "| 2 / 1 |", "| 4 / 4 (100.0 %), in order |", "| 7.0 / 30.0 / 30.0 ms |",
		"rejected closed 1", "| 2 = 2 ✓ |", "| 512 |", "| 6.25 |", "| 1.50 (0.75) |"} {
		if !strings.Contains(row, want) {
			t.Errorf("row lacks %q:\n%s", want, row)
		}
	}
	rows[0].StoredAcked = 1 // an acknowledged answer missing: no check mark
	if row := markdownRow(rows[0]); strings.Contains(row, "✓") || !strings.Contains(row, "2 acked, 2 stored, 1 of the acked found") {
		t.Errorf("loss not shown: %s", row)
	}
	quiet := markdownRow(rows[1])
	if !strings.Contains(quiet, "| 1s/quiet; 0 `next`/s |") || !strings.Contains(quiet, "| 1 / 0 |") || !strings.Contains(quiet, "(1 rooms incomplete)") {
		t.Errorf("quiet row: %s", quiet)
	}
	md := sweepMarkdown(&SweepResult{Rows: rows, Command: "loadgen sweep -paces 1s"})
	if lines := strings.Split(strings.TrimSpace(md), "\n"); len(lines) != 8 || !strings.HasPrefix(lines[5], "|---|") {
		t.Fatalf("markdown:\n%s", md)
	}
}

func TestOrderCountsGapsAndReordering(t *testing.T) {
	sw := newSweep(2)
	last := int64(0)
	for _, seq := range []int64{0, 5, 0, 6, 7} { // 0: a direct message
		last = sw.order(last, seq)
	}
	sw.pace.Store(1)
	for _, seq := range []int64{9, 8, 9, 10} { // 8 skipped → 9: a gap; then 8 late, 9 again
		last = sw.order(last, seq)
	}
	if last != 10 || sw.gaps[0].Load() != 0 || sw.outOfOrder[0].Load() != 0 || sw.gaps[1].Load() != 1 || sw.outOfOrder[1].Load() != 2 {
		t.Fatalf("last %d; pace 0: %d gaps, %d out of order; pace 1: %d gaps, %d out of order", last,
			sw.gaps[0].Load(), sw.outOfOrder[0].Load(), sw.gaps[1].Load(), sw.outOfOrder[1].Load())
	}
	row := markdownRow(PaceRow{Pace: "1s", Expected: 2, Delivered: 2, OutOfOrder: 2, SeqGaps: 1})
	if !strings.Contains(row, "| 2 / 2 (100.0 %); 2 out of order, 1 seq gaps |") {
		t.Fatalf("row: %s", row)
	}
}

func TestCodesSorted(t *testing.T) {
	if got := codes(map[string]int64{"internal": 1, "conflict": 2}); got != "conflict 2, internal 1" {
		t.Fatalf("codes = %q", got)
	}
}

// TestTeacherRetriesRefusedCommands plays one teacher against an
// in-process WebSocket endpoint that refuses every other `next` with
// `unavailable`: the refusals are counted apart, each refused command is
// retried at a later tick, and the k-th admitted command is matched to
// the k-th question the endpoint opened, whatever the timing.
func TestTeacherRetriesRefusedCommands(t *testing.T) {
	var mu sync.Mutex
	var opened []string // ids of the `next`s the endpoint admitted, in order
	refused := 0
	refuse := true
	ctx, sock := fakeNode(t, nil, func(ctx context.Context, c *websocket.Conn, f client.Frame) bool {
		{
			if f.Type != "next" {
				return true
			}
			mu.Lock()
			var reply map[string]any
			if refuse {
				refused++
				reply = unavailable(f.ID, 50)
			} else {
				opened = append(opened, f.ID)
				reply = map[string]any{"type": "question.opened", "seq": len(opened),
					"data": map[string]any{"question": map[string]any{"id": "q", "index": len(opened) - 1}}}
			}
			refuse = !refuse
			mu.Unlock()
			return wsjson.Write(ctx, c, reply) == nil
		}
	})
	r := newSweepRoom(SeededClassroom{}, 0, "s1", "", 20, 1)
	r.teacher = sock
	sw := newSweep(1)
	var first atomic.Value
	go r.listen(ctx, sw, &first)
	r.drive(ctx, 0, time.Now(), 50*time.Millisecond, 3, 12)

	// Wait until every command sent has its answer (a refusal or an
	// opened question): a bound against hanging, not a timing assertion.
	answered := func() bool {
		mu.Lock()
		defer mu.Unlock()
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.errs)+len(opened) == len(r.sends)
	}
	for !answered() {
		if ctx.Err() != nil {
			t.Fatal("the endpoint's replies never all arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rows := summarize([]*sweepRoom{r}, nil, []paceSpec{{Every: 50 * time.Millisecond, Quiet: true}}, time.Second, nil)
	mu.Lock()
	defer mu.Unlock()
	row := rows[0]
	if row.Admitted < 3 || row.Admitted != int64(len(opened)) || row.Unavailable != int64(refused) || refused < 3 {
		t.Fatalf("admitted %d (endpoint opened %d), refused %d (endpoint refused %d)", row.Admitted, len(opened), row.Unavailable, refused)
	}
	if row.Sent != row.Admitted+row.Unavailable || len(row.Errors) != 0 || row.Dropped != 0 {
		t.Fatalf("row %+v", row)
	}
	r.mu.Lock()
	cmds := admitted(r.sends, r.errs)
	r.mu.Unlock()
	for k, c := range cmds {
		if c.id != opened[k] {
			t.Fatalf("admitted command %d is %s, the endpoint opened question %d for %s", k, c.id, k, opened[k])
		}
	}
	if v := first.Load(); v != nil {
		t.Fatalf("an unavailable refusal was reported as an error: %v", v)
	}
	if got := sw.retryMax[0].Load(); got != 50 {
		t.Fatalf("longest retry_after_ms = %d, want 50", got)
	}
	row.RetryAfterMaxMs = sw.retryMax[0].Load()
	if md := markdownRow(row); !strings.Contains(md, fmt.Sprintf("| %d / %d (retry after ≤ 50 ms) |", row.Admitted, row.Unavailable)) ||
		!strings.Contains(md, "20 `next`/s") {
		t.Fatalf("row: %s", md)
	}
}

// fakeNode starts an in-process WebSocket endpoint for the load
// generator's own logic and dials it: the endpoint sends `welcome` and the
// frames of greet, then hands every frame read to handle until handle
// returns false or the socket closes. It returns a context bounded to a
// minute and the open socket; both end with the test.
func fakeNode(t *testing.T, greet []map[string]any, handle func(ctx context.Context, c *websocket.Conn, f client.Frame) bool) (context.Context, *client.Socket) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		if wsjson.Write(ctx, c, map[string]any{"type": "welcome", "data": map[string]any{}}) != nil {
			return
		}
		for _, g := range greet {
			if wsjson.Write(ctx, c, g) != nil {
				return
			}
		}
		for {
			var f client.Frame
			if wsjson.Read(ctx, c, &f) != nil || !handle(ctx, c, f) {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	sock, err := dial(ctx, srv.URL, "token", "s1", 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sock.Close)
	return ctx, sock
}

// unavailable is the node's refusal of frame id when over capacity.
func unavailable(id string, retryAfterMs int) map[string]any {
	return map[string]any{"type": "error", "id": id,
		"data": map[string]any{"code": "unavailable", "message": "over capacity", "retry_after_ms": retryAfterMs}}
}

// TestStudentResendsAnswerRefusedUnavailable: an answer refused with
// `unavailable` is sent again, the same, after retry_after_ms; its ack
// counts from the first send, and the refusal is counted as re-sent.
func TestStudentResendsAnswerRefusedUnavailable(t *testing.T) {
	var mu sync.Mutex
	var got []string // the answers' choices as the endpoint read them
	// The question arrives as the node would broadcast it (the client
	// keeps it until the student listens).
	opened := map[string]any{"type": "question.opened", "seq": 1,
		"data": map[string]any{"question": map[string]any{"id": "q0", "index": 0, "options": []map[string]any{{"id": "o1"}}}}}
	ctx, sock := fakeNode(t, []map[string]any{opened}, func(ctx context.Context, c *websocket.Conn, f client.Frame) bool {
		if f.Type != "answer" {
			return true
		}
		mu.Lock()
		got = append(got, string(f.Data))
		n := len(got)
		mu.Unlock()
		if n == 1 {
			return wsjson.Write(ctx, c, unavailable(f.ID, 20)) == nil
		}
		return wsjson.Write(ctx, c, map[string]any{"type": "answer.accepted", "id": f.ID,
			"data": map[string]any{"answer_id": "ans-1", "question_id": "q0", "received_at": time.Now()}}) == nil
	})
	r := newSweepRoom(SeededClassroom{}, 0, "s1", "", 1, 1)
	st := newSweepStudent(r, 0, 1)
	st.sock = sock
	sw := newSweep(1)
	sw.answering.Store(true)
	sw.thinkLo.Store(int64(time.Millisecond))
	sw.thinkHi.Store(int64(time.Millisecond))
	go st.listen(ctx, sw)
	for st.ackAt[0].Load() == 0 {
		if ctx.Err() != nil {
			t.Fatal("no ack")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != got[1] {
		t.Fatalf("the endpoint read %q", got)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.retried[0] != 1 || st.ids[0] != "ans-1" || len(st.rej) != 0 || len(st.answers) != 0 {
		t.Fatalf("retried %v, ids %v, rejected %v, pending %v", st.retried, st.ids, st.rej, st.answers)
	}
}

// The disk probe times flushes in its directory, leaves nothing behind,
// and its distribution is the row's last cell.
func TestDiskProbe(t *testing.T) {
	dir := t.TempDir()
	p := startDiskProbe(context.Background(), dir, time.Millisecond)
	for i := 0; p.flushes() < 3; i++ {
		if i > 30_000 { // 30 s of 1 ms sleeps: the disk is gone, not slow
			t.Fatal("no flush timed")
		}
		time.Sleep(time.Millisecond)
	}
	d, stalls, err := p.stop()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stalls {
		if st.to-st.from < int64(stallFlush) {
			t.Fatalf("a stall of %s, below %s", time.Duration(st.to-st.from), stallFlush)
		}
	}
	if d.N < 3 || d.P50 > d.Max {
		t.Fatalf("distribution %+v", d)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("the probe left %d files", len(left))
	}
	row := markdownRow(PaceRow{Pace: "10s", DiskFlush: &Dist{N: 9, P50: 0.3, P99: 31, Max: 412}})
	if !strings.HasSuffix(row, "| 0.3 / 31.0 / 412 ms |") {
		t.Fatalf("row %q does not end with the disk's flush", row)
	}
	if bad := startDiskProbe(context.Background(), filepath.Join(dir, "missing"), time.Millisecond); bad != nil {
		if _, _, err := bad.stop(); err == nil {
			t.Fatal("a probe in a missing directory reported no error")
		}
	}
}

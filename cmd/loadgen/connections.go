package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quizcast/quizcast/internal/client"
	"github.com/quizcast/quizcast/internal/quiz"
)

// ConnectionsResult is what one node costs per idle authenticated socket.
type ConnectionsResult struct {
	Scenario       string       `json:"scenario"`
	Node           string       `json:"node"`
	PID            int          `json:"pid"`
	Asked          int          `json:"asked"`
	Connect        ConnectStats `json:"connect"`
	Sessions       int          `json:"sessions"`
	RSSBeforeKiB   int64        `json:"rss_before_kib"`
	RSSAfterKiB    int64        `json:"rss_after_kib"`
	PerSocketKiB   float64      `json:"rss_per_socket_kib"`
	FDsAfter       int          `json:"fds_after"`
	FDLimit        string       `json:"fd_limit"`
	GoroutinesIdle int          `json:"goroutines_before"`
	GoroutinesOpen int          `json:"goroutines_after"`
	// Go runtime figures from the node's /metrics, before and after: how
	// the RSS splits into goroutine stacks and heap.
	StackBefore   float64 `json:"stack_inuse_before"`
	StackAfter    float64 `json:"stack_inuse_after"`
	HeapBefore    float64 `json:"heap_inuse_before"`
	HeapAfter     float64 `json:"heap_inuse_after"`
	StackPerSock  float64 `json:"stack_per_socket_kib"`
	HeapPerSock   float64 `json:"heap_inuse_per_socket_kib"`
	GoroutPerSock float64 `json:"goroutines_per_socket"`
	FirstError    string  `json:"first_error,omitempty"`
}

func connectionsCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("connections", flag.ExitOnError)
	creds := fs.String("creds", "credentials.json", "credentials file written by seed")
	node := fs.String("node", "http://127.0.0.1:8080", "the node to fill (loopback only)")
	pid := fs.Int("pid", 0, "PID of the node process (for VmRSS)")
	debug := fs.String("debug", "", "the node's DEBUG_ADDR base URL, for goroutine counts and a heap profile")
	metricsURL := fs.String("metrics", "", "the node's METRICS_ADDR base URL, for Go memory figures (default: -node)")
	heapOut := fs.String("heap-out", "", "save the node's heap profile with the sockets open here")
	sockets := fs.Int("sockets", 19900, "sockets to open (students of as many seeded classrooms as needed)")
	dialConc := fs.Int("dial-concurrency", 64, "handshakes in flight")
	out := fs.String("json", "", "write the result as JSON to this file")
	fs.String("timeout", "5m", "give up after")
	_ = fs.Parse(args)
	ctx, cancel := bounded(ctx, fs)
	defer cancel()
	if err := loopback(*node); err != nil {
		return err
	}
	if *debug != "" {
		if err := loopback(*debug); err != nil {
			return err
		}
	}
	if *pid <= 0 {
		return errors.New("-pid is required")
	}
	seeded, err := loadSeeded(*creds)
	if err != nil {
		return err
	}
	per := len(seeded.Classrooms[0].Students)
	nRooms := (*sockets + per - 1) / per
	if *sockets < 1 || nRooms > len(seeded.Classrooms) {
		return fmt.Errorf("-sockets: 1..%d seeded students", len(seeded.Classrooms)*per)
	}
	m, err := newMinter()
	if err != nil {
		return err
	}
	rooms := seeded.Classrooms[:nRooms]
	sessions, err := createSessions(ctx, m, rooms, func(int) string { return *node })
	if err != nil {
		return err
	}
	res := &ConnectionsResult{Scenario: "connections", Node: *node, PID: *pid, Asked: *sockets, Sessions: len(sessions), FDLimit: fdLimit(*pid)}
	time.Sleep(time.Second)
	res.RSSBeforeKiB, err = rssKiB(*pid)
	if err != nil {
		return err
	}
	res.GoroutinesIdle = goroutines(*debug)
	if *metricsURL == "" {
		*metricsURL = *node
	}
	res.StackBefore, res.HeapBefore = goMemory(*metricsURL)

	socks := make([]*client.Socket, *sockets)
	var hs []time.Duration
	var mu sync.Mutex
	var failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	_ = parallel(ctx, *sockets, *dialConc, func(ctx context.Context, k int) error {
		r := rooms[k/per]
		tok, err := m.token(r.SchoolID, r.Students[k%per].ID, quiz.RoleStudent)
		if err != nil {
			return err
		}
		t := time.Now()
		s, err := dial(ctx, *node, tok, sessions[k/per], 4)
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			return nil
		}
		socks[k] = s
		mu.Lock()
		hs = append(hs, time.Since(t))
		mu.Unlock()
		return nil
	})
	secs := time.Since(start).Seconds()
	res.Connect = ConnectStats{Sockets: len(hs), Failed: int(failed.Load()), Seconds: secs, PerSecond: float64(len(hs)) / secs, Handshake: dist(hs)}
	if v := firstErr.Load(); v != nil {
		res.FirstError = v.(string)
	}
	// Idle: let the joins' presence updates and teacher notices settle.
	time.Sleep(3 * time.Second)
	res.RSSAfterKiB, err = rssKiB(*pid)
	if err != nil {
		return err
	}
	res.FDsAfter = openFiles(*pid)
	res.GoroutinesOpen = goroutines(*debug)
	res.StackAfter, res.HeapAfter = goMemory(*metricsURL)
	if n := float64(len(hs)); n > 0 {
		res.PerSocketKiB = float64(res.RSSAfterKiB-res.RSSBeforeKiB) / n
		res.StackPerSock = (res.StackAfter - res.StackBefore) / 1024 / n
		res.HeapPerSock = (res.HeapAfter - res.HeapBefore) / 1024 / n
		res.GoroutPerSock = float64(res.GoroutinesOpen-res.GoroutinesIdle) / n
	}
	if *heapOut != "" && *debug != "" {
		// gc=1: the profile of what is live now, not as of the last GC.
		if err := fetch(*debug+"/debug/pprof/heap?gc=1", *heapOut); err != nil {
			fmt.Fprintln(os.Stderr, "heap profile:", err)
		}
	}
	fmt.Printf("connections: %d sockets on %s (%d failed) in %.1fs = %.0f/s; RSS %d → %d KiB = %.1f KiB/socket (stacks %.1f, heap in use %.1f); fds %d (limit %s); goroutines %d → %d\n",
		len(hs), *node, failed.Load(), secs, res.Connect.PerSecond, res.RSSBeforeKiB, res.RSSAfterKiB, res.PerSocketKiB,
		res.StackPerSock, res.HeapPerSock, res.FDsAfter, res.FDLimit, res.GoroutinesIdle, res.GoroutinesOpen)
	if res.FirstError != "" {
		fmt.Println("first error:", res.FirstError)
	}
	_ = parallel(ctx, len(socks), 256, func(_ context.Context, k int) error {
		if socks[k] != nil {
			socks[k].Close()
		}
		return nil
	})
	return writeJSON(*out, res)
}

// fdLimit reads a process's open-files limit ("soft/hard").
func fdLimit(pid int) string {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(l, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) >= 2 {
				return f[0] + "/" + f[1]
			}
		}
	}
	return "?"
}

// goroutines reads the node's goroutine count from pprof (-1 without it).
func goroutines(debug string) int {
	if debug == "" {
		return -1
	}
	resp, err := http.Get(debug + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total")))
	if err != nil {
		return -1
	}
	return n
}

func fetch(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// goMemory reads go_memstats_stack_inuse_bytes and heap_inuse_bytes from
// the node's Prometheus endpoint (its METRICS_ADDR).
func goMemory(metricsURL string) (stack, heap float64) {
	resp, err := http.Get(metricsURL + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "go_memstats_stack_inuse_bytes":
			stack, _ = strconv.ParseFloat(val, 64)
		case "go_memstats_heap_inuse_bytes":
			heap, _ = strconv.ParseFloat(val, 64)
		}
	}
	return stack, heap
}

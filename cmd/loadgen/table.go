package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
)

// tableCmd prints every result in -dir (run.json, sweep.json,
// connections.json, pipeline.json, reports.json, micro.txt) as one table,
// the machine first.
func tableCmd(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("table", flag.ExitOnError)
	dir := fs.String("dir", ".", "directory holding the results")
	_ = fs.Parse(args)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	defer w.Flush()
	row := func(cells ...string) { fmt.Fprintln(w, strings.Join(cells, "\t")) }
	// Headers carry no tab, so each section aligns on its own.
	section := func(name string) { fmt.Fprintln(w, "\n== "+name) }

	fmt.Fprintln(w, "== machine")
	for _, kv := range machine() {
		row(kv[0], kv[1], "")
	}
	row("")
	row("figure", "target", "measured")

	var run RunResult
	if load(*dir, "run.json", &run) {
		section(fmt.Sprintf("fan-out: %d classrooms × %d students + teachers = %d sockets over %d nodes, a question every %d ms",
			run.Classrooms, run.StudentsPerRoom, run.Connect.Sockets, len(run.Nodes), run.IntervalMs))
		for _, f := range []struct {
			name string
			s    FanoutStats
		}{{"quiet room (no answers)", run.FanoutIdle}, {"while every student answers", run.FanoutAnswering}} {
			s := f.s
			row("  "+f.name+": delivered / expected", "all", fmt.Sprintf("%d / %d (%d rooms incomplete)", s.Delivered, s.Expected, s.Incomplete))
			row("  command → each student p50 / p99 / max", "", fmt.Sprintf("%.1f / %.1f / %.1f ms", s.Each.P50, s.Each.P99, s.Each.Max))
			row("  command → last student of room p50 / p99 / max", "p99 ≤ 10 ms", fmt.Sprintf("%.1f / %.1f / %.1f ms", s.LastOfRoom.P50, s.LastOfRoom.P99, s.LastOfRoom.Max))
		}
		row("  teacher command errors", "0", fmt.Sprint(run.TeacherErrors))
		if run.FirstError != "" {
			row("  first error", "", trim(run.FirstError, 90))
		}
		a := run.Answers
		section(fmt.Sprintf("answers: every student answers questions %d..%d, think time %d..%d ms", run.AnswerFrom+1, run.Questions, run.ThinkMs[0], run.ThinkMs[1]))
		row("  sent / acknowledged", "", fmt.Sprintf("%d / %d (rejected %v, never sent %d)", a.Sent, a.Acked, a.Rejected, a.Unanswered))
		row("  durable answers/s (mean over the phase / best second)", "≥ 10,000", fmt.Sprintf("%.0f / %d", a.DurablePerSec, a.PeakPerSec))
		row("  ack latency p50 / p99 / max", "p99 ≤ 20 ms", fmt.Sprintf("%.1f / %.1f / %.1f ms", a.Ack.P50, a.Ack.P99, a.Ack.Max))
		row("  acknowledged = stored; duplicates", "equal; 0", fmt.Sprintf("%d acked, %d of them stored (%d stored in all); %d duplicates", a.Acked, a.StoredAcked, a.StoredTotal, a.Duplicates))
		row("  connect rate (2 nodes)", "", fmt.Sprintf("%.0f sockets/s, handshake p50 %.1f p99 %.1f ms, %d failed", run.Connect.PerSecond, run.Connect.Handshake.P50, run.Connect.Handshake.P99, run.Connect.Failed))
		for _, r := range run.RSSKiB {
			row("  node RSS "+r.Node, "", fmt.Sprintf("%d → %d KiB", r.Before, r.After))
		}
		e := run.Events
		row("  the run's events: stored, lag p50 / p99", "p99 ≤ 1 s", fmt.Sprintf("%d, %.0f / %.0f ms (outbox left %d)", e.Events, e.LagP50Ms, e.LagP99Ms, e.OutboxLeft))
	}
	var sw SweepResult
	if load(*dir, "sweep.json", &sw) {
		// The sweep is a markdown table of its own (no tabs: printed as is).
		section("pace sweep (markdown, for docs/benchmarks.md)")
		for _, l := range strings.Split(strings.TrimRight(sweepMarkdown(&sw), "\n"), "\n") {
			fmt.Fprintln(w, l)
		}
	}
	var c ConnectionsResult
	if load(*dir, "connections.json", &c) {
		section("connections: idle authenticated sockets on one node")
		row("  sockets held by one node", "20,000", fmt.Sprintf("%d of %d asked (%d failed); node fds %d, limit %s", c.Connect.Sockets, c.Asked, c.Connect.Failed, c.FDsAfter, c.FDLimit))
		row("  RSS per socket (VmRSS increase ÷ sockets)", "≤ 30 KiB", fmt.Sprintf("%.1f KiB (%d → %d KiB)", c.PerSocketKiB, c.RSSBeforeKiB, c.RSSAfterKiB))
		row("  of which goroutine stacks / heap in use", "", fmt.Sprintf("%.1f / %.1f KiB; %.2f goroutines per socket", c.StackPerSock, c.HeapPerSock, c.GoroutPerSock))
		row("  connect rate (one node)", "", fmt.Sprintf("%.0f sockets/s, handshake p50 %.1f p99 %.1f ms", c.Connect.PerSecond, c.Connect.Handshake.P50, c.Connect.Handshake.P99))
		if c.FirstError != "" {
			row("  first error", "", trim(c.FirstError, 90))
		}
	}
	var p PipelineResult
	if load(*dir, "pipeline.json", &p) {
		section(fmt.Sprintf("pipeline: outbox → relay → RabbitMQ → worker → events, %d events/s offered for %.0f s", p.Rate, p.Seconds))
		row("  written to the outbox", "", fmt.Sprintf("%d (%.0f/s)", p.Inserted, p.InsertedRate))
		row("  stored in events, events/s", "≥ 20,000", fmt.Sprintf("%d, %.0f/s (all stored: %v)", p.Stored.Events, p.Stored.PerSecond, p.Complete))
		row("  lag occurred → stored p50 / p99 / max", "p99 ≤ 1 s", fmt.Sprintf("%.0f / %.0f / %.0f ms", p.Stored.LagP50Ms, p.Stored.LagP99Ms, p.Stored.LagMaxMs))
	}
	var r ReportsResult
	if load(*dir, "reports.json", &r) {
		section(fmt.Sprintf("reports: %d answers in %d partitions (%.0f MiB with indexes)", r.Answers, len(r.Partitions), r.TableMiB))
		row("  seeding by COPY", "", fmt.Sprintf("%.0f s (%.0f rows/s)", r.SeedSeconds, r.SeedPerSec))
		row("  roll-up of ended sessions into history", "", fmt.Sprintf("%d sessions in %.1f s; views shrunk in %.1f s", r.RollUp.Sessions, r.RollUp.Seconds, r.RollUp.ShrinkSecond))
		if len(r.Refreshes) == 0 {
			row("  materialized view refresh", "", "no materialized views in this schema")
		}
		for _, v := range r.Refreshes {
			how := fmt.Sprintf("%.1f s", v.Seconds)
			if v.Concurrent > 0 {
				how = fmt.Sprintf("%.1f s CONCURRENTLY", v.Concurrent)
			}
			row("  refresh "+v.View, "", fmt.Sprintf("%s (%d rows)", how, v.Rows))
		}
		if !r.Available {
			row("  report endpoints", "p95 ≤ 50 ms", "not available: "+r.Unavailable)
		}
		for _, e := range r.Endpoints {
			row("  "+e.Path+" cold / warm p50, p95", "p95 ≤ 50 ms", fmt.Sprintf("%.1f, %.1f / %.1f, %.1f ms (%d errors)", e.Cold.P50, e.Cold.P95, e.Warm.P50, e.Warm.P95, e.Errors))
		}
		if r.EndpointNote != "" {
			row("  first endpoint error", "", trim(r.EndpointNote, 90))
		}
	}
	if lines := microLines(filepath.Join(*dir, "micro.txt")); len(lines) > 0 {
		section("microbenchmarks (go test -bench -benchmem)")
		for _, l := range lines {
			f := strings.Fields(l)
			row("  "+f[0], "", strings.Join(f[1:], " "))
		}
	}
	return nil
}

func load(dir, name string, v any) bool {
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return false
	}
	return json.Unmarshal(raw, v) == nil
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// machine describes where the figures were taken.
func machine() [][2]string {
	read := func(path string) string {
		raw, _ := os.ReadFile(path)
		return string(raw)
	}
	field := func(text, key string) string {
		sc := bufio.NewScanner(strings.NewReader(text))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == key {
				return strings.TrimSpace(v)
			}
		}
		return "?"
	}
	return [][2]string{
		{"cpu", fmt.Sprintf("%d × %s", runtime.NumCPU(), field(read("/proc/cpuinfo"), "model name"))},
		{"memory", memory(field(read("/proc/meminfo"), "MemTotal"))},
		{"go", runtime.Version()},
		{"kernel", strings.TrimSpace(read("/proc/sys/kernel/osrelease"))},
	}
}

// microLines are the benchmark result lines of a go test -bench output.
func microLines(path string) []string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	// A benchmark that logs while it sets up splits its line: the name,
	// the log output, then the figures on a line of their own.
	var out []string
	name := ""
	for _, l := range strings.Split(string(raw), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 0:
		case strings.HasPrefix(f[0], "Benchmark") && strings.Contains(l, "ns/op"):
			out = append(out, l)
			name = ""
		case strings.HasPrefix(f[0], "Benchmark"):
			name = f[0]
		case name != "" && strings.Contains(l, "ns/op"):
			out = append(out, name+" "+l)
			name = ""
		}
	}
	return out
}

func memory(kB string) string {
	var n float64
	if _, err := fmt.Sscanf(kB, "%f kB", &n); err != nil {
		return kB
	}
	return fmt.Sprintf("%.1f GiB", n/(1<<20))
}

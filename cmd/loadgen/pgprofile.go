package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// pgProfile says where a window's PostgreSQL CPU went: by process kind
// (client backends, autovacuum, WAL writer, checkpointer…) from /proc, and
// by statement from pg_stat_statements (when the extension is loaded, as
// scripts/services.sh does). It is how the sweep finds the background work
// that the per-command and per-answer figures divide over the work done.
type pgProfile struct {
	postmaster int
	pool       *pgxpool.Pool
	cpu0       map[string]time.Duration
	statements bool
}

// backendApps maps each client backend's pid to its application_name
// (empty when it cannot be read).
func backendApps(ctx context.Context, pool *pgxpool.Pool) map[int]string {
	out := map[int]string{}
	rows, err := pool.Query(ctx, `SELECT pid, application_name FROM pg_stat_activity WHERE backend_type = 'client backend'`)
	if err != nil {
		return out
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		var app string
		if rows.Scan(&pid, &app) == nil {
			out[pid] = app
		}
	}
	return out
}

// auxiliaryKinds are the titles of PostgreSQL's own processes; any other
// child of the postmaster is a client backend.
var auxiliaryKinds = []string{"autovacuum launcher", "autovacuum worker", "walwriter", "checkpointer",
	"background writer", "logical replication launcher", "archiver", "stats collector", "walsender"}

// exitedKind is kindCPU's name for the CPU of the children the postmaster
// reaped (autovacuum workers that finished, backends that disconnected),
// and of the postmaster itself: with it the kinds add up to clusterCPU.
const exitedKind = "postmaster, exited children"

// kindCPU sums the CPU of postmaster's cluster by process kind.
func kindCPU(postmaster int, apps map[int]string) map[string]time.Duration {
	return kindTimes(postmaster, allStats(), apps, func(pid int) string {
		raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			return ""
		}
		return strings.TrimRight(string(raw), "\x00")
	})
}

// kindTimes sums the live children's utime+stime of postmaster by kind: the
// process title (from title) up to its first space after "postgres: "
// ("walwriter", "autovacuum", …); client backends are "backend" followed
// by their application_name from apps (quizcast-server,
// quizcast-eventworker…). The postmaster's own time and its reaped
// children's (cutime+cstime) go under exitedKind. A process that exits
// during a window moves its whole life's CPU from its kind to exitedKind,
// so that line of a difference over-counts by what such processes had
// used before the window (autovacuum workers live a few seconds).
func kindTimes(postmaster int, stats map[int]procStat, apps map[int]string, title func(pid int) string) map[string]time.Duration {
	out := map[string]time.Duration{}
	if pm, ok := stats[postmaster]; ok {
		out[exitedKind] = time.Duration(pm.UTime+pm.STime+pm.CUTime+pm.CSTime) * clockTick
	}
	for pid, s := range stats {
		if s.PPID != postmaster || pid == postmaster {
			continue
		}
		t := strings.TrimPrefix(title(pid), "postgres: ")
		if t == "" {
			continue
		}
		kind := "backend " + apps[pid]
		for _, k := range auxiliaryKinds {
			if strings.HasPrefix(t, k) {
				kind = k
				break
			}
		}
		out[kind] += time.Duration(s.UTime+s.STime) * clockTick
	}
	return out
}

func startPGProfile(ctx context.Context, pool *pgxpool.Pool, postmaster int) *pgProfile {
	p := &pgProfile{postmaster: postmaster, pool: pool, cpu0: kindCPU(postmaster, backendApps(ctx, pool))}
	_, err := pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
	if err == nil {
		_, err = pool.Exec(ctx, "SELECT pg_stat_statements_reset()")
	}
	p.statements = err == nil
	return p
}

// write prints the window's profile into path: CPU by kind, then the
// statements by total execution time.
func (p *pgProfile) write(ctx context.Context, path, title string, top int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\nPostgreSQL CPU by process kind (children that exited count under the postmaster):\n", title)
	cpu1 := kindCPU(p.postmaster, backendApps(ctx, p.pool))
	kinds := make([]string, 0, len(cpu1))
	for k := range cpu1 {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return cpu1[kinds[i]]-p.cpu0[kinds[i]] > cpu1[kinds[j]]-p.cpu0[kinds[j]] })
	for _, k := range kinds {
		if d := cpu1[k] - p.cpu0[k]; d > 0 {
			fmt.Fprintf(&b, "  %-28s %8.2f s\n", k, d.Seconds())
		}
	}
	if p.statements {
		rows, err := p.pool.Query(ctx, `SELECT calls, total_exec_time, total_plan_time, rows, shared_blks_hit + shared_blks_read,
				wal_records, left(regexp_replace(query, '\s+', ' ', 'g'), 110)
			FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT $1`, top)
		if err != nil {
			return fmt.Errorf("pg_stat_statements: %w", err)
		}
		fmt.Fprintf(&b, "\n%9s %10s %9s %8s %10s %9s %9s  %s\n", "calls", "exec ms", "plan ms", "µs/call", "rows", "blocks", "wal recs", "statement")
		for rows.Next() {
			var calls, nrows, blocks, wal int64
			var exec, plan float64
			var q string
			if err := rows.Scan(&calls, &exec, &plan, &nrows, &blocks, &wal, &q); err != nil {
				rows.Close()
				return fmt.Errorf("pg_stat_statements: %w", err)
			}
			fmt.Fprintf(&b, "%9d %10.1f %9.1f %8.1f %10d %9d %9d  %s\n", calls, exec, plan,
				1000*(exec+plan)/float64(max(calls, 1)), nrows, blocks, wal, q)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("pg_stat_statements: %w", err)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

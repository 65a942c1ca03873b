package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc/PID/stat (USER_HZ). Linux
// reports them in 1/100 s on every architecture the servers run on,
// whatever the kernel's internal HZ.
const clockTick = 10 * time.Millisecond

// procStat is the part of /proc/PID/stat the sweep reads: the parent and
// the CPU times in clock ticks (own, and of waited-for children).
type procStat struct {
	PPID                         int
	UTime, STime, CUTime, CSTime int64
}

// parseStat reads one /proc/PID/stat line. The command name (field 2) is
// in parentheses and may hold spaces and parentheses itself, so the fields
// are counted from the last ')'.
func parseStat(line string) (procStat, error) {
	var s procStat
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return s, errors.New("stat: no command name")
	}
	f := strings.Fields(line[i+1:])
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 15 {
		return s, fmt.Errorf("stat: %d fields after the name", len(f))
	}
	var err error
	if s.PPID, err = strconv.Atoi(f[1]); err != nil {
		return s, fmt.Errorf("stat ppid: %w", err)
	}
	for k, dst := range []*int64{&s.UTime, &s.STime, &s.CUTime, &s.CSTime} {
		if *dst, err = strconv.ParseInt(f[11+k], 10, 64); err != nil {
			return s, fmt.Errorf("stat field %d: %w", 14+k, err)
		}
	}
	return s, nil
}

func readStat(pid int) (procStat, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(string(raw))
}

// processCPU is utime+stime of one process (all its threads).
func processCPU(pid int) (time.Duration, error) {
	s, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return time.Duration(s.UTime+s.STime) * clockTick, nil
}

// nodesCPU sums processCPU over pids (a process that is gone counts 0 and
// makes the figure a lower bound; its error is returned).
func nodesCPU(pids []int) (time.Duration, error) {
	var sum time.Duration
	var first error
	for _, pid := range pids {
		d, err := processCPU(pid)
		if err != nil && first == nil {
			first = err
		}
		sum += d
	}
	return sum, first
}

// clusterCPU is the CPU of a whole PostgreSQL cluster: the postmaster's
// own time, the time of every child it has reaped (cutime+cstime: backends
// that disconnected, finished autovacuum workers), and the utime+stime of
// its live children (backends, checkpointer, walwriter, autovacuum,
// background writer…). Differences of two readings are the cluster's CPU
// over the interval, whatever process did the work and whether it exited
// in between.
func clusterCPU(postmaster int, stats map[int]procStat) (time.Duration, error) {
	pm, ok := stats[postmaster]
	if !ok {
		return 0, fmt.Errorf("postmaster %d not running", postmaster)
	}
	ticks := pm.UTime + pm.STime + pm.CUTime + pm.CSTime
	for pid, s := range stats {
		if s.PPID == postmaster && pid != postmaster {
			ticks += s.UTime + s.STime
		}
	}
	return time.Duration(ticks) * clockTick, nil
}

// allStats reads /proc/*/stat of every process (those that exit while
// being read are skipped).
func allStats() map[int]procStat {
	out := map[int]procStat{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, err := readStat(pid); err == nil {
			out[pid] = s
		}
	}
	return out
}

// loadAverage is the 1-minute load average (0 if unreadable).
func loadAverage() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// postgresCPU reads the cluster CPU of the postmaster.
func postgresCPU(postmaster int) (time.Duration, error) {
	return clusterCPU(postmaster, allStats())
}

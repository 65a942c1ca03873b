package main

import (
	"context"
	"os"
	"sync"
	"syscall"
	"time"
)

// diskProbe times the disk's flush while a pace runs: every interval it
// writes 8 KiB into a file of its own and fdatasyncs it, as PostgreSQL
// does with its WAL at every commit that waits for the disk (each command
// and answer batch). On a shared virtual disk the flush has a tail of its
// own, tens to hundreds of milliseconds at moments, which the live path's
// tail then carries (docs/benchmarks.md, "Sixth round"); a mean such as
// pg_test_fsync's hides it.
type diskProbe struct {
	cancel context.CancelFunc
	done   sync.WaitGroup

	mu     sync.Mutex
	took   []time.Duration
	stalls []span
	err    error
}

// stallFlush is the flush time from which a probe's flush counts as a
// stall of the disk: this disk flushes in about half a millisecond when
// it is well.
const stallFlush = 10 * time.Millisecond

// span is an interval of unix nanoseconds.
type span struct{ from, to int64 }

// After a stall of d, the commits and the work queued behind it drain at
// the machine's spare capacity: at the answering paces, where it is about
// 80 % busy, in about 4·d. A command or answer within stallAfter plus
// stallDrain·d after a stall met it too.
const (
	stallAfter = 100 * time.Millisecond
	stallDrain = 5
)

// reach is the end of the stall with the drain after it.
func (s span) reach() int64 { return s.to + int64(stallAfter) + stallDrain*(s.to-s.from) }

// overlapsAny says whether [from, to] meets one of spans or the drain
// after it.
func overlapsAny(spans []span, from, to int64) bool {
	for _, s := range spans {
		if from <= s.reach() && s.from <= to {
			return true
		}
	}
	return false
}

// startDiskProbe starts probing in dir (put it on PostgreSQL's file
// system); stop ends it and summarizes.
func startDiskProbe(ctx context.Context, dir string, every time.Duration) *diskProbe {
	ctx, cancel := context.WithCancel(ctx)
	p := &diskProbe{cancel: cancel}
	f, err := os.CreateTemp(dir, "loadgen-fsync-*")
	if err != nil {
		p.err = err
		return p
	}
	p.done.Go(func() {
		defer os.Remove(f.Name())
		defer f.Close()
		buf := make([]byte, 8192)
		t := time.NewTicker(every)
		defer t.Stop()
		for i := int64(0); ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if _, err := f.WriteAt(buf, (i%128)*8192); err != nil {
				p.fail(err)
				return
			}
			start := time.Now()
			if err := syscall.Fdatasync(int(f.Fd())); err != nil {
				p.fail(err)
				return
			}
			took := time.Since(start)
			p.mu.Lock()
			p.took = append(p.took, took)
			if took >= stallFlush {
				p.stalls = append(p.stalls, span{start.UnixNano(), start.Add(took).UnixNano()})
			}
			p.mu.Unlock()
		}
	})
	return p
}

func (p *diskProbe) fail(err error) {
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
}

// flushes is how many flushes were timed so far.
func (p *diskProbe) flushes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.took)
}

// stop ends the probe and returns the flushes' distribution and the
// stalls (flushes of stallFlush or more), or the error that stopped it.
func (p *diskProbe) stop() (Dist, []span, error) {
	p.cancel()
	p.done.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return dist(p.took), p.stalls, p.err
}

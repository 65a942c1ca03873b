package chaos

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A node's wall clock cannot be stepped alone: the machine's clock is
// PostgreSQL's too, stepping it needs CAP_SYS_TIME, and Go reads the clock
// through the vDSO, out of reach of LD_PRELOAD and faketime. So the suite
// builds a second server binary, for scenario 8 only, whose standard
// library's time.Now adds an offset, in whole seconds, that it reads from a
// file every 20 ms: the process's wall clock steps as a machine's would
// (every time.Now of the binary and its libraries), while its monotonic
// clock (time.Since, timers, deadlines of sockets) runs on untouched, as
// the kernel's CLOCK_MONOTONIC does through a step of CLOCK_REALTIME. The
// overlay exists only in this build (go build -overlay); the production
// binary has no such knob.

// wallStepEnv names the file the stepped binary reads its offset from.
const wallStepEnv = "QUIZCAST_CHAOS_WALL_STEP_FILE"

// wallStepFile is added to package time in the stepped build.
const wallStepFile = `package time

import (
	"sync/atomic"
	"syscall"
)

// chaosWallOffset steps this process's wall clock, in seconds.
var chaosWallOffset atomic.Int64

func init() {
	path, ok := syscall.Getenv("` + wallStepEnv + `")
	if !ok || path == "" {
		return
	}
	go func() {
		buf := make([]byte, 32)
		for {
			if fd, err := open(path); err == nil {
				n, _ := read(fd, buf)
				closefd(fd)
				var v int64
				neg := false
				for i, c := range buf[:max(n, 0)] {
					switch {
					case c == '-' && i == 0:
						neg = true
					case c >= '0' && c <= '9':
						v = v*10 + int64(c-'0')
					}
				}
				if neg {
					v = -v
				}
				chaosWallOffset.Store(v)
			}
			Sleep(20 * Millisecond)
		}
	}()
}
`

// nowCall is the line of time.Now the overlay extends.
const nowCall = "\tsec, nsec, mono := runtimeNow()\n"

// steppedServer builds (once) the server binary whose wall clock steps.
func steppedServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(shared.bin, "server-wallstep")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	timeDir := filepath.Join(strings.TrimSpace(string(out)), "src", "time")
	src, err := os.ReadFile(filepath.Join(timeDir, "time.go"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(src), nowCall) != 1 {
		t.Fatalf("time.Now of this Go (%s) no longer reads %q: update the wall-step overlay", timeDir, nowCall)
	}
	patched := strings.Replace(string(src), nowCall, nowCall+"\tsec += chaosWallOffset.Load()\n", 1)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {
		filepath.Join(timeDir, "time.go"):              write("time.go", patched),
		filepath.Join(timeDir, "zz_chaos_wallstep.go"): write("zz_chaos_wallstep.go", wallStepFile),
	}})
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-overlay", write("overlay.json", string(overlay)), "-o", bin, "./cmd/server")
	build.Dir = shared.root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the wall-stepped server: %v\n%s", err, out)
	}
	return bin
}

// stepWall sets p's wall clock off by d (whole seconds) from the machine's;
// p runs the stepped binary. It returns once p has read it.
func (s *stack) stepWall(p *proc, d time.Duration) {
	s.t.Helper()
	// It runs on the fault's goroutine: Errorf, never Fatal.
	if err := os.WriteFile(p.wallStep, []byte(fmt.Sprint(int64(d/time.Second))), 0o644); err != nil || p.wallStep == "" {
		s.t.Errorf("stepping %s's wall clock: %v (does it run the stepped binary?)", p.name, err)
	}
	time.Sleep(100 * time.Millisecond)
}

// Package health answers the liveness and readiness probes.
package health

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Check is one dependency check: nil when the dependency answers.
type Check func(ctx context.Context) error

// Checker runs the readiness checks.
type Checker struct {
	checks  map[string]Check
	timeout time.Duration
}

// New returns a Checker over the named checks.
func New(checks map[string]Check) *Checker {
	return &Checker{checks: checks, timeout: 2 * time.Second}
}

// Result is the outcome of the readiness checks.
type Result struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
	Failed []string          `json:"failed,omitempty"`
}

// Run runs every check concurrently.
func (c *Checker) Run(ctx context.Context) Result {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res := Result{Status: "ok", Checks: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range c.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := check(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Checks[name] = err.Error()
				res.Failed = append(res.Failed, name)
			} else {
				res.Checks[name] = "ok"
			}
		}()
	}
	wg.Wait()
	sort.Strings(res.Failed)
	if len(res.Failed) > 0 {
		res.Status = "unavailable"
	}
	return res
}

package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quizcast/quizcast/internal/httpapi"
	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/realtime"
)

// A REST command refused by a full queue answers 503 unavailable with
// Retry-After, in the contract's error shape.
func TestRefusedRESTCommandIs503(t *testing.T) {
	q := realtime.NewQueue(realtime.Limits{CommandWorkers: 1, CommandQueue: 1}, realtime.NewMetrics(prometheus.NewRegistry()))
	release := make(chan struct{})
	defer close(release)
	block := func(context.Context) error {
		<-release
		return nil
	}
	running := make(chan struct{})
	go func() {
		_ = q.Command(context.Background(), func(ctx context.Context) error {
			close(running)
			return block(ctx)
		})
	}()
	<-running
	// Of two more, one takes the waiting place and one is refused.
	refused := make(chan error, 2)
	for range 2 {
		go func() {
			if err := q.Command(context.Background(), block); err != nil {
				refused <- err
			}
		}()
	}
	err := <-refused
	gin.SetMode(gin.TestMode)
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	c.Request = httptest.NewRequest(http.MethodPost, "/api/v1/sessions/x/next", nil)
	httpapi.WriteError(c, err)
	var body httpapi.ErrorBody
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" ||
		json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error.Code != "unavailable" || body.Error.Message == "" {
		t.Fatalf("got %d Retry-After %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
}

// A command that found no free worker within CommandWait is refused with
// unavailable and never runs, even with room left in the queue.
func TestCommandThatWaitedTooLongIsRefused(t *testing.T) {
	q := realtime.NewQueue(realtime.Limits{CommandWorkers: 1, CommandQueue: 8, CommandWait: 20 * time.Millisecond},
		realtime.NewMetrics(prometheus.NewRegistry()))
	release := make(chan struct{})
	running := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- q.Command(context.Background(), func(context.Context) error {
			close(running)
			<-release
			return nil
		})
	}()
	<-running
	ran := false
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := q.Command(ctx, func(context.Context) error {
		ran = true
		return nil
	})
	var qe *quiz.Error
	if !errors.As(err, &qe) || qe.Code != quiz.CodeUnavailable || qe.RetryAfter < 1 || ran {
		t.Fatalf("waiting command: %v (ran %v), want unavailable without running", err, ran)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("running command: %v", err)
	}
	// With the worker free again, a command runs.
	if err := q.Command(context.Background(), func(context.Context) error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("after the worker came free: %v (ran %v)", err, ran)
	}
}

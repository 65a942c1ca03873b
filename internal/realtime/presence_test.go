package realtime

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/quizcast/quizcast/internal/protocol"
	"github.com/quizcast/quizcast/internal/testenv"
)

// Every due session's progress goes out in one tick, with its counts,
// and a session whose token another node holds stays due.
func TestProgressOfManySessionsInOneTick(t *testing.T) {
	rdb := testenv.Redis(t)
	broker := NewMemoryBroker(16)
	var mu sync.Mutex
	got := map[string]protocol.Progress{}
	broker.SetDeliver(func(sessionID string, env protocol.Envelope) {
		for _, raw := range env.Teacher {
			var f struct {
				Data protocol.Progress `json:"data"`
			}
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Error(err)
			}
			mu.Lock()
			got[sessionID] = f.Data
			mu.Unlock()
		}
	})
	p := NewPresence(rdb, broker, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Minute)
	ctx := context.Background()
	prefix := testenv.RandomID()
	ids := []string{prefix + "-a", prefix + "-b", prefix + "-c"}
	for i, id := range ids {
		if err := broker.Subscribe(ctx, id); err != nil {
			t.Fatal(err)
		}
		for range i + 1 {
			p.Answered(ctx, id, "q1", []string{"o1"})
		}
	}
	// Another node sends c's progress for now.
	if err := rdb.Set(ctx, "qc:progress-token:"+ids[2], 1, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	p.sendDue(ctx)
	mu.Lock()
	defer mu.Unlock()
	for i, id := range ids[:2] {
		pr, ok := got[id]
		if !ok || pr.QuestionID != "q1" || pr.Answered != i+1 || pr.Distribution["o1"] != i+1 {
			t.Errorf("session %d: progress %+v (sent %v), want %d answered", i, pr, ok, i+1)
		}
	}
	if _, sent := got[ids[2]]; sent {
		t.Error("progress sent without the session's token")
	}
	p.mu.Lock()
	_, due := p.dirty[ids[2]]
	p.mu.Unlock()
	if !due {
		t.Error("a session whose token was taken is no longer due")
	}
}

package realtime

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/background"
	"github.com/quizcast/quizcast/internal/protocol"
)

// Presence keeps the live counts of sessions in Redis, shared by all
// nodes: answers per question and option (behind answer.progress),
// participants and connected sockets (behind participants). PostgreSQL
// stays the truth; these are for the teacher's live view.
type Presence struct {
	rdb      *redis.Client
	broker   Broker
	log      *slog.Logger
	interval time.Duration

	mu    sync.Mutex
	dirty map[string]string // session → question with new answers
	// counts are answer counts not yet added to Redis: progress key →
	// field → delta. They are flushed in one pipeline per tick, off the
	// answer's path.
	counts map[string]map[string]int64
}

// NewPresence returns the counters; interval is the shortest time between
// two answer.progress of one session (250 ms: at most 4 per second).
func NewPresence(rdb *redis.Client, broker Broker, log *slog.Logger, interval time.Duration) *Presence {
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	return &Presence{rdb: rdb, broker: broker, log: log, interval: interval, dirty: map[string]string{},
		counts: map[string]map[string]int64{}}
}

const presenceTTL = 24 * time.Hour

func progressKey(sessionID, questionID string) string {
	return "qc:progress:" + sessionID + ":" + questionID
}

// Answered counts a committed answer and schedules an answer.progress. It
// only touches memory: the answer's acknowledgement never waits for Redis.
func (p *Presence) Answered(_ context.Context, sessionID, questionID string, choices []string) {
	key := progressKey(sessionID, questionID)
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.counts[key]
	if c == nil {
		c = map[string]int64{}
		p.counts[key] = c
	}
	c["answered"]++
	for _, o := range choices {
		c["o:"+o]++
	}
	p.dirty[sessionID] = questionID
}

// flushCounts adds the answers counted since the last tick to Redis, in one
// pipeline for every session of the node. On failure the counts are lost
// (the teacher's live view undercounts; question.closed counts from
// PostgreSQL).
func (p *Presence) flushCounts(ctx context.Context) {
	p.mu.Lock()
	counts := p.counts
	p.counts = map[string]map[string]int64{}
	p.mu.Unlock()
	if len(counts) == 0 {
		return
	}
	pipe := p.rdb.Pipeline()
	for key, fields := range counts {
		for f, n := range fields {
			pipe.HIncrBy(ctx, key, f, n)
		}
		pipe.Expire(ctx, key, presenceTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil && ctx.Err() == nil {
		p.log.Warn("counting answers failed", "err", err)
	}
}

// Participants records the session's participant count.
func (p *Presence) Participants(ctx context.Context, sessionID string, count int) {
	if err := p.rdb.Set(ctx, "qc:participants:"+sessionID, count, presenceTTL).Err(); err != nil {
		p.log.Warn("recording participants failed", "session_id", sessionID, "err", err)
	}
}

func (p *Presence) participants(ctx context.Context, sessionID string) int {
	n, _ := p.rdb.Get(ctx, "qc:participants:"+sessionID).Int()
	return n
}

// Connected returns the open sockets of students in the session, on all
// nodes.
func (p *Presence) Connected(ctx context.Context, sessionID string) int {
	n, _ := p.rdb.Get(ctx, "qc:connected:"+sessionID).Int()
	return max(n, 0)
}

func (p *Presence) connect(ctx context.Context, sessionID string) int {
	return p.bump(ctx, sessionID, 1)
}

func (p *Presence) disconnect(ctx context.Context, sessionID string) int {
	return p.bump(ctx, sessionID, -1)
}

func (p *Presence) bump(ctx context.Context, sessionID string, by int64) int {
	key := "qc:connected:" + sessionID
	pipe := p.rdb.Pipeline()
	incr := pipe.IncrBy(context.WithoutCancel(ctx), key, by)
	pipe.Expire(context.WithoutCancel(ctx), key, presenceTTL)
	if _, err := pipe.Exec(context.WithoutCancel(ctx)); err != nil {
		p.log.Warn("counting sockets failed", "session_id", sessionID, "err", err)
		return 0
	}
	return int(max(incr.Val(), 0))
}

// RunProgress sends answer.progress for sessions with new answers, at most
// once per interval per session across all nodes (a Redis token decides
// which node sends), until ctx ends. A session whose token is taken stays
// due, so the last answers are always reported.
func (p *Presence) RunProgress(ctx context.Context) {
	background.Every(ctx, p.interval/2, false, p.sendDue)
}

func (p *Presence) sendDue(ctx context.Context) {
	p.flushCounts(ctx)
	p.mu.Lock()
	due := p.dirty
	p.dirty = map[string]string{}
	p.mu.Unlock()
	for sessionID, questionID := range due {
		if !p.sendProgress(ctx, sessionID, questionID) {
			p.mu.Lock()
			if _, newer := p.dirty[sessionID]; !newer {
				p.dirty[sessionID] = questionID
			}
			p.mu.Unlock()
		}
	}
}

func (p *Presence) sendProgress(ctx context.Context, sessionID, questionID string) bool {
	ok, err := p.rdb.SetNX(ctx, "qc:progress-token:"+sessionID, 1, p.interval).Result()
	if err != nil || !ok {
		return false
	}
	counts, err := p.rdb.HGetAll(ctx, progressKey(sessionID, questionID)).Result()
	if err != nil {
		return false
	}
	pr := protocol.Progress{QuestionID: questionID, Distribution: map[string]int{},
		Participants: p.participants(ctx, sessionID)}
	for k, v := range counts {
		n, _ := strconv.Atoi(v)
		if k == "answered" {
			pr.Answered = n
		} else if opt, ok := strings.CutPrefix(k, "o:"); ok {
			pr.Distribution[opt] = n
		}
	}
	f, err := protocol.Encode(protocol.TypeAnswerProgress, pr)
	if err != nil {
		return true
	}
	if err := p.broker.Publish(ctx, sessionID, protocol.Envelope{Teacher: [][]byte{f}}); err != nil {
		p.log.Warn("publishing progress failed", "session_id", sessionID, "err", err)
	}
	return true
}

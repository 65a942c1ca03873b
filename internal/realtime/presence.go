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

// sendDue sends the progress of every due session of the node in three
// pipelined round trips whatever their number: the tokens, the counts,
// the publishes.
func (p *Presence) sendDue(ctx context.Context) {
	p.flushCounts(ctx)
	p.mu.Lock()
	due := p.dirty
	p.dirty = map[string]string{}
	p.mu.Unlock()
	if len(due) == 0 {
		return
	}
	type session struct {
		id, question string
		token        *redis.BoolCmd
		counts       *redis.MapStringStringCmd
		participants *redis.StringCmd
	}
	sessions := make([]*session, 0, len(due))
	pipe := p.rdb.Pipeline()
	for id, q := range due {
		s := &session{id: id, question: q}
		s.token = pipe.SetNX(ctx, "qc:progress-token:"+id, 1, p.interval)
		sessions = append(sessions, s)
	}
	_, _ = pipe.Exec(ctx)
	won := sessions[:0]
	for _, s := range sessions {
		if ok, err := s.token.Result(); err == nil && ok {
			won = append(won, s)
		} else {
			p.stillDue(s.id, s.question)
		}
	}
	if len(won) == 0 {
		return
	}
	pipe = p.rdb.Pipeline()
	for _, s := range won {
		s.counts = pipe.HGetAll(ctx, progressKey(s.id, s.question))
		s.participants = pipe.Get(ctx, "qc:participants:"+s.id)
	}
	_, _ = pipe.Exec(ctx)
	envs := make(map[string]protocol.Envelope, len(won))
	for _, s := range won {
		counts, err := s.counts.Result()
		if err != nil {
			p.stillDue(s.id, s.question)
			continue
		}
		participants, _ := s.participants.Int()
		pr := protocol.Progress{QuestionID: s.question, Distribution: map[string]int{}, Participants: participants}
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
			continue
		}
		envs[s.id] = protocol.Envelope{Teacher: [][]byte{f}}
	}
	if err := p.broker.PublishMany(ctx, envs); err != nil && ctx.Err() == nil {
		p.log.Warn("publishing progress failed", "sessions", len(envs), "err", err)
	}
}

// stillDue keeps a session due unless a newer answer made it due again.
func (p *Presence) stillDue(sessionID, questionID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, newer := p.dirty[sessionID]; !newer {
		p.dirty[sessionID] = questionID
	}
}

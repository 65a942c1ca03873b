// Package realtime holds the WebSocket side of live sessions: the hub of
// each session on this node, the connections, and the broker that carries
// envelopes between nodes (Redis pub/sub, with a bounded Redis stream of
// recent broadcasts for resume; a memory broker for a single process).
package realtime

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/protocol"
)

// Broker carries envelopes between the nodes that hold sockets of a
// session, and keeps a bounded history of its broadcasts.
type Broker interface {
	// Publish sends env to every node subscribed to the session and adds
	// its broadcasts to the session's history.
	Publish(ctx context.Context, sessionID string, env protocol.Envelope) error
	// Subscribe starts delivering the session's envelopes to this node.
	Subscribe(ctx context.Context, sessionID string) error
	// Unsubscribe stops it.
	Unsubscribe(ctx context.Context, sessionID string) error
	// History returns the broadcasts with after < seq <= upto, encoded as
	// first sent, and whether the history still holds every one of them.
	History(ctx context.Context, sessionID string, after, upto int64) ([][]byte, bool, error)
}

// Deliver is what a broker calls with each envelope it receives.
type Deliver func(sessionID string, env protocol.Envelope)

// RedisBroker is the Broker of a multi-node deployment: one pub/sub
// connection per node, one channel per session, and a capped stream per
// session for resume.
type RedisBroker struct {
	rdb        *redis.Client
	ps         *redis.PubSub
	historyLen int64
	historyTTL time.Duration
}

const channelPrefix = "qc:session:"

func channelKey(sessionID string) string { return channelPrefix + sessionID }
func historyKey(sessionID string) string { return "qc:history:" + sessionID }

// NewRedisBroker returns a broker keeping historyLen broadcasts per session.
func NewRedisBroker(rdb *redis.Client, historyLen int64) *RedisBroker {
	if historyLen <= 0 {
		historyLen = 256
	}
	return &RedisBroker{rdb: rdb, ps: rdb.Subscribe(context.Background()), historyLen: historyLen, historyTTL: 24 * time.Hour}
}

// Publish adds the broadcasts to the history and publishes the envelope in
// one MULTI, so a node that sees the message can also find it in history.
func (b *RedisBroker) Publish(ctx context.Context, sessionID string, env protocol.Envelope) error {
	payload, err := protocol.MarshalEnvelope(env)
	if err != nil {
		return err
	}
	pipe := b.rdb.TxPipeline()
	if len(env.Broadcasts) > 0 {
		key := historyKey(sessionID)
		for _, f := range env.Broadcasts {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: b.historyLen,
				Values: []any{"seq", strconv.FormatInt(f.Seq, 10), "frame", f.Raw}})
		}
		pipe.Expire(ctx, key, b.historyTTL)
	}
	pipe.Publish(ctx, channelKey(sessionID), payload)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("publish to redis: %w", err)
	}
	return nil
}

// Subscribe adds the session's channel to the node's subscription.
func (b *RedisBroker) Subscribe(ctx context.Context, sessionID string) error {
	if err := b.ps.Subscribe(ctx, channelKey(sessionID)); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	return nil
}

// Unsubscribe removes it.
func (b *RedisBroker) Unsubscribe(ctx context.Context, sessionID string) error {
	if err := b.ps.Unsubscribe(ctx, channelKey(sessionID)); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	return nil
}

// History reads the session's stream.
func (b *RedisBroker) History(ctx context.Context, sessionID string, after, upto int64) ([][]byte, bool, error) {
	msgs, err := b.rdb.XRange(ctx, historyKey(sessionID), "-", "+").Result()
	if err != nil {
		return nil, false, fmt.Errorf("read history: %w", err)
	}
	entries := make(map[int64][]byte, len(msgs))
	for _, m := range msgs {
		seqStr, _ := m.Values["seq"].(string)
		frame, _ := m.Values["frame"].(string)
		seq, err := strconv.ParseInt(seqStr, 10, 64)
		if err != nil || frame == "" {
			continue
		}
		entries[seq] = []byte(frame)
	}
	return collect(entries, after, upto)
}

// collect returns the frames after < seq <= upto in order, and whether
// every one of them was there.
func collect(entries map[int64][]byte, after, upto int64) ([][]byte, bool, error) {
	if upto < after {
		return nil, false, nil
	}
	out := make([][]byte, 0, upto-after)
	for seq := after + 1; seq <= upto; seq++ {
		f, ok := entries[seq]
		if !ok {
			return nil, false, nil
		}
		out = append(out, f)
	}
	return out, true, nil
}

// Run delivers the envelopes of subscribed sessions until ctx ends.
// go-redis reconnects and resubscribes by itself; what is published while
// it does is found again by the hubs' gap filling.
func (b *RedisBroker) Run(ctx context.Context, deliver Deliver) error {
	ch := b.ps.Channel(redis.WithChannelSize(4096))
	for {
		select {
		case <-ctx.Done():
			return b.ps.Close()
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			env, err := protocol.UnmarshalEnvelope([]byte(m.Payload))
			if err != nil {
				continue
			}
			deliver(strings.TrimPrefix(m.Channel, channelPrefix), env)
		}
	}
}

// MemoryBroker is the Broker of a single process (tests, one-node setups).
type MemoryBroker struct {
	mu         sync.Mutex
	subs       map[string]bool
	history    map[string]map[int64][]byte
	historyLen int
	deliver    Deliver
}

// NewMemoryBroker returns a broker delivering to deliver (set later with
// SetDeliver when the hubs are built after it).
func NewMemoryBroker(historyLen int) *MemoryBroker {
	if historyLen <= 0 {
		historyLen = 256
	}
	return &MemoryBroker{subs: map[string]bool{}, history: map[string]map[int64][]byte{}, historyLen: historyLen}
}

// SetDeliver names the receiver of envelopes.
func (b *MemoryBroker) SetDeliver(d Deliver) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deliver = d
}

// Publish records the broadcasts and delivers env if the session is
// subscribed.
func (b *MemoryBroker) Publish(_ context.Context, sessionID string, env protocol.Envelope) error {
	b.mu.Lock()
	h := b.history[sessionID]
	if h == nil {
		h = map[int64][]byte{}
		b.history[sessionID] = h
	}
	for _, f := range env.Broadcasts {
		h[f.Seq] = f.Raw
	}
	if len(h) > b.historyLen {
		seqs := make([]int64, 0, len(h))
		for s := range h {
			seqs = append(seqs, s)
		}
		sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
		for _, s := range seqs[:len(seqs)-b.historyLen] {
			delete(h, s)
		}
	}
	deliver, subscribed := b.deliver, b.subs[sessionID]
	b.mu.Unlock()
	if subscribed && deliver != nil {
		deliver(sessionID, env)
	}
	return nil
}

// Subscribe marks the session as wanted.
func (b *MemoryBroker) Subscribe(_ context.Context, sessionID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[sessionID] = true
	return nil
}

// Unsubscribe forgets it.
func (b *MemoryBroker) Unsubscribe(_ context.Context, sessionID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, sessionID)
	return nil
}

// History returns recorded broadcasts.
func (b *MemoryBroker) History(_ context.Context, sessionID string, after, upto int64) ([][]byte, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return collect(b.history[sessionID], after, upto)
}

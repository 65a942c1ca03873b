package realtime

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/quizcast/quizcast/internal/background"
	"github.com/quizcast/quizcast/internal/protocol"
)

// BroadcastStore is where the hubs find broadcasts they missed: the
// sessions' counters and their recorded broadcasts in PostgreSQL.
type BroadcastStore interface {
	Broadcasts(ctx context.Context, sessionID string, after, upto int64) ([]protocol.Broadcast, error)
	Seq(ctx context.Context, sessionID string) (int64, error)
	Seqs(ctx context.Context, sessionIDs []string) (map[string]int64, error)
}

// DeadlineCloser closes a session's question once its deadline passed.
type DeadlineCloser interface {
	CloseDue(ctx context.Context, schoolID, sessionID string) error
}

// Hubs holds this node's hub of each session that has local sockets.
type Hubs struct {
	broker Broker
	store  BroadcastStore
	closer DeadlineCloser
	log    *slog.Logger
	stats  *Metrics

	mu   sync.Mutex
	hubs map[string]*hub
}

// NewHubs returns an empty registry.
func NewHubs(broker Broker, store BroadcastStore, closer DeadlineCloser, log *slog.Logger, stats *Metrics) *Hubs {
	return &Hubs{broker: broker, store: store, closer: closer, log: log, stats: stats, hubs: map[string]*hub{}}
}

// recentFrames is how many delivered broadcasts a hub keeps for sockets
// that join while a broadcast is under way.
const recentFrames = 64

type seqFrame struct {
	seq int64
	raw []byte
}

// hub is one session on this node: its sockets, and the ordered stream of
// its broadcasts (gap-free, in seq order, whatever order pub/sub brought).
type hub struct {
	hubs     *Hubs
	id       string
	schoolID string
	ready    chan struct{}
	err      error
	refs     int // guarded by hubs.mu

	mu       sync.Mutex
	started  bool
	conns    map[*conn]struct{}
	last     int64
	pending  map[int64]protocol.Broadcast
	recent   []seqFrame
	filling  bool
	ended    bool // session.ended was delivered
	deadline *time.Timer
	// results wait for the leaderboard broadcast (by seq) they follow.
	results map[int64]map[string][]byte
}

// acquire returns the session's hub, subscribing the node to the session
// when it is the first local socket.
func (h *Hubs) acquire(ctx context.Context, sessionID, schoolID string) (*hub, error) {
	h.mu.Lock()
	hb := h.hubs[sessionID]
	if hb != nil {
		hb.refs++
		h.mu.Unlock()
		<-hb.ready
		if hb.err != nil {
			h.release(hb)
			return nil, hb.err
		}
		return hb, nil
	}
	hb = &hub{hubs: h, id: sessionID, schoolID: schoolID, ready: make(chan struct{}), refs: 1,
		conns: map[*conn]struct{}{}, pending: map[int64]protocol.Broadcast{}}
	h.hubs[sessionID] = hb
	// Subscribing under the lock orders it with a previous hub's
	// unsubscribe of the same channel.
	err := h.broker.Subscribe(ctx, sessionID)
	h.mu.Unlock()
	if err == nil {
		err = hb.start(ctx)
	}
	if err != nil {
		hb.err = err
		close(hb.ready)
		h.release(hb)
		return nil, err
	}
	h.stats.hubs.Inc()
	close(hb.ready)
	return hb, nil
}

// start sets the baseline: broadcasts up to the session's current seq are
// in the snapshot each socket gets; later ones come through the hub.
func (hb *hub) start(ctx context.Context) error {
	seq, err := hb.hubs.store.Seq(ctx, hb.id)
	if err != nil {
		return err
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.last = seq
	hb.started = true
	for s := range hb.pending {
		if s <= seq {
			delete(hb.pending, s)
		}
	}
	for s := range hb.results {
		if s <= seq {
			delete(hb.results, s) // for sockets that were not here yet
		}
	}
	if hb.flush() {
		hb.closeEnded()
	}
	return nil
}

func (h *Hubs) release(hb *hub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hb.refs--
	if hb.refs > 0 || h.hubs[hb.id] != hb {
		return
	}
	delete(h.hubs, hb.id)
	if err := h.broker.Unsubscribe(context.Background(), hb.id); err != nil {
		h.log.Warn("unsubscribe failed", "session_id", hb.id, "err", err)
	}
	hb.mu.Lock()
	if hb.deadline != nil {
		hb.deadline.Stop()
	}
	hb.mu.Unlock()
	if hb.err == nil {
		h.stats.hubs.Dec()
	}
}

// Deliver hands an envelope from the broker to the session's hub.
func (h *Hubs) Deliver(sessionID string, env protocol.Envelope) {
	h.mu.Lock()
	hb := h.hubs[sessionID]
	h.mu.Unlock()
	if hb != nil {
		hb.receive(env)
	}
}

func (hb *hub) receive(env protocol.Envelope) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	var board int64 // the leaderboard the results follow
	for _, f := range env.Broadcasts {
		if !hb.started || f.Seq > hb.last {
			hb.pending[f.Seq] = f
		}
		if f.Type == protocol.TypeLeaderboard {
			board = f.Seq
		}
	}
	if len(env.Results) > 0 {
		if board > hb.last || !hb.started {
			// Sent right after their leaderboard, before what follows it.
			if hb.results == nil {
				hb.results = map[int64]map[string][]byte{}
			}
			hb.results[board] = env.Results
		} else {
			hb.sendResults(env.Results)
		}
	}
	ended := hb.started && hb.flush()
	for c := range hb.conns {
		if c.teacher {
			for _, f := range env.Teacher {
				c.send(f)
			}
		}
		if env.Kick != "" && c.id.UserID == env.Kick {
			c.closeWith(StatusKicked, "removed from the session by the teacher", true)
		}
	}
	if ended {
		// After the results of the last close, which travel with it.
		hb.closeEnded()
	}
}

// sendResults gives each local participant its result. Called with hb.mu
// held.
func (hb *hub) sendResults(results map[string][]byte) {
	for c := range hb.conns {
		if f, ok := results[c.id.UserID]; ok {
			c.send(f)
		}
	}
}

// closeEnded closes every socket of an ended session with 1000, after
// what they are owed. Called with hb.mu held.
func (hb *hub) closeEnded() {
	for c := range hb.conns {
		c.closeWith(StatusNormal, "the session has ended", true)
	}
}

// flush delivers the pending broadcasts that follow the last delivered one
// and starts filling a gap from PostgreSQL when one stays open. It reports
// whether it delivered session.ended; the caller closes the sockets once
// it has handed out the direct messages that came with it. Called with
// hb.mu held.
func (hb *hub) flush() (ended bool) {
	for {
		f, ok := hb.pending[hb.last+1]
		if !ok {
			break
		}
		delete(hb.pending, f.Seq)
		hb.last = f.Seq
		raw := f.Raw
		hb.recent = append(hb.recent, seqFrame{seq: f.Seq, raw: raw})
		if len(hb.recent) > recentFrames {
			hb.recent = hb.recent[len(hb.recent)-recentFrames:]
		}
		for c := range hb.conns {
			c.sendBroadcast(f.Seq, raw)
		}
		hb.hubs.stats.broadcasts.Inc()
		hb.watchDeadline(f)
		if res, ok := hb.results[f.Seq]; ok {
			delete(hb.results, f.Seq)
			hb.sendResults(res)
		}
		ended = ended || f.Type == protocol.TypeSessionEnded
	}
	hb.ended = hb.ended || ended
	if len(hb.pending) > 0 && !hb.filling {
		hb.filling = true
		go hb.fillGap(100 * time.Millisecond)
	}
	return ended
}

// fillGap waits briefly for the missing broadcasts to arrive by pub/sub,
// then reads them from PostgreSQL.
func (hb *hub) fillGap(wait time.Duration) {
	time.Sleep(wait)
	hb.mu.Lock()
	after, upto := hb.last, hb.last
	for s := range hb.pending {
		upto = max(upto, s)
	}
	hb.mu.Unlock()
	hb.fillTo(after, upto)
	hb.mu.Lock()
	hb.filling = false
	if hb.flush() {
		hb.closeEnded()
	}
	hb.mu.Unlock()
}

func (hb *hub) fillTo(after, upto int64) {
	if upto <= after {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	frames, err := hb.hubs.store.Broadcasts(ctx, hb.id, after, upto)
	if err != nil {
		hb.hubs.log.Warn("filling broadcast gap failed", "session_id", hb.id, "err", err)
		return
	}
	hb.hubs.stats.gapFills.Inc()
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for _, f := range frames {
		if f.Seq > hb.last {
			hb.pending[f.Seq] = f
		}
	}
	if !hb.filling && hb.flush() {
		hb.closeEnded()
	}
}

// watchDeadline closes the question at its deadline from this node too;
// the sweeper of every node does it as well, so a dead node changes
// nothing. Called with hb.mu held.
func (hb *hub) watchDeadline(f protocol.Broadcast) {
	switch f.Type {
	case protocol.TypeQuestionOpened:
		if hb.deadline != nil {
			hb.deadline.Stop()
		}
		wait := time.Until(f.Deadline) + 5*time.Millisecond
		hb.deadline = time.AfterFunc(max(wait, 0), func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := hb.hubs.closer.CloseDue(ctx, hb.schoolID, hb.id); err != nil {
				hb.hubs.log.Warn("closing at deadline failed", "session_id", hb.id, "err", err)
			}
		})
	case protocol.TypeQuestionClosed, protocol.TypeSessionEnded:
		if hb.deadline != nil {
			hb.deadline.Stop()
			hb.deadline = nil
		}
	}
}

// add registers a socket whose welcome covered broadcasts up to snapSeq
// and sends it what the hub delivered since.
func (hb *hub) add(c *conn, snapSeq int64) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	c.lastSeq = snapSeq
	if hb.last > snapSeq && (len(hb.recent) == 0 || hb.recent[0].seq > snapSeq+1) {
		// The hub is further ahead than its memory: read the difference.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		frames, err := hb.hubs.store.Broadcasts(ctx, hb.id, snapSeq, hb.last)
		cancel()
		if err != nil {
			c.closeWith(StatusGoingAway, "could not catch up; reconnect", false)
			return
		}
		for _, f := range frames {
			c.sendBroadcast(f.Seq, f.Raw)
		}
	}
	for _, r := range hb.recent {
		c.sendBroadcast(r.seq, r.raw)
	}
	hb.conns[c] = struct{}{}
	if hb.ended {
		c.closeWith(StatusNormal, "the session has ended", true)
	}
}

func (hb *hub) remove(c *conn) (others bool) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	delete(hb.conns, c)
	for o := range hb.conns {
		if o.id.UserID == c.id.UserID {
			return true
		}
	}
	return false
}

// Resync compares every hub with its session's seq in PostgreSQL (one
// query for all of this node's sessions) and fills what pub/sub did not
// bring: a message lost in a reconnect, a subscription not yet active, a
// publish that failed after its commit, a node that died between commit
// and publish. Every interval until ctx ends.
func (h *Hubs) Resync(ctx context.Context, interval time.Duration) {
	background.Every(ctx, interval, false, h.resync)
}

func (h *Hubs) resync(ctx context.Context) {
	h.mu.Lock()
	ids := make([]string, 0, len(h.hubs))
	hubs := make(map[string]*hub, len(h.hubs))
	for id, hb := range h.hubs {
		ids = append(ids, id)
		hubs[id] = hb
	}
	h.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	seqs, err := h.store.Seqs(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Warn("resync failed", "err", err)
		}
		return
	}
	for id, seq := range seqs {
		hb := hubs[id]
		hb.mu.Lock()
		after, started := hb.last, hb.started
		hb.mu.Unlock()
		if started && seq > after {
			hb.fillTo(after, seq)
		}
	}
}

// CloseAll closes every local socket with code (after flushing what they
// are owed) and waits for them to go, or for ctx to end.
func (h *Hubs) CloseAll(ctx context.Context, code int, reason string) {
	h.mu.Lock()
	var conns []*conn
	for _, hb := range h.hubs {
		hb.mu.Lock()
		for c := range hb.conns {
			conns = append(conns, c)
		}
		hb.mu.Unlock()
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.closeWith(code, reason, true)
	}
	for _, c := range conns {
		select {
		case <-c.done:
		case <-ctx.Done():
			return
		}
	}
}

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

// DeadlineCloser closes a session's question once its deadline passed. Now
// is the clock deadlines are stamped with (never the node's wall clock,
// which may step).
type DeadlineCloser interface {
	CloseDue(ctx context.Context, schoolID, sessionID string) error
	Now() time.Time
}

// shardCount shards the registry of hubs, so that sockets joining and
// envelopes arriving for different sessions rarely meet on one mutex.
const shardCount = 64

// subLockCount orders the subscribe and unsubscribe of each channel: the
// same session always maps to the same lock, and no registry or hub lock
// is held while Redis answers.
const subLockCount = 256

type shard struct {
	mu   sync.Mutex
	hubs map[string]*hub
}

// Hubs holds this node's hub of each session that has local sockets.
type Hubs struct {
	broker Broker
	store  BroadcastStore
	closer DeadlineCloser
	log    *slog.Logger
	stats  *Metrics

	shards   [shardCount]shard
	subLocks [subLockCount]sync.Mutex
	// perUser caps one user's open sockets in one session on this node:
	// a newer socket closes the oldest with 4409.
	perUser int
}

// MaxSocketsPerUser is how many sockets one user keeps open in one session
// on a node; the next one replaces the oldest (closed with 4409).
const MaxSocketsPerUser = 5

// NewHubs returns an empty registry.
func NewHubs(broker Broker, store BroadcastStore, closer DeadlineCloser, log *slog.Logger, stats *Metrics) *Hubs {
	h := &Hubs{broker: broker, store: store, closer: closer, log: log, stats: stats, perUser: MaxSocketsPerUser}
	for i := range h.shards {
		h.shards[i].hubs = map[string]*hub{}
	}
	return h
}

// hash is FNV-1a of a session id.
func hash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func (h *Hubs) shard(sessionID string) *shard { return &h.shards[hash(sessionID)%shardCount] }

func (h *Hubs) subLock(sessionID string) *sync.Mutex {
	return &h.subLocks[(hash(sessionID)/shardCount)%subLockCount]
}

// recentFrames is how many delivered broadcasts a hub keeps for sockets
// that join while a broadcast is under way.
const recentFrames = 64

// bcast is a broadcast as a hub holds it: framed once for the WebSocket,
// the same bytes written to every socket.
type bcast struct {
	seq      int64
	typ      string
	deadline time.Time // question.opened only
	frame    []byte
}

// framed frames an encoded broadcast for the sockets: its bytes are
// written as they came, behind a WebSocket header, never re-encoded.
func framed(b protocol.Broadcast) bcast {
	return bcast{seq: b.Seq, typ: b.Type, deadline: b.Deadline, frame: textFrame(b.Raw)}
}

// hub is one session on this node: its sockets, and the ordered stream of
// its broadcasts (gap-free, in seq order, whatever order pub/sub brought).
// Its mutex is the session's own; sockets are written under it only with
// non-blocking writes, so it is never held across I/O that can wait.
type hub struct {
	hubs     *Hubs
	id       string
	schoolID string
	ready    chan struct{}
	err      error
	refs     int // guarded by the shard's mutex

	mu       sync.Mutex
	started  bool
	conns    map[*conn]uint64 // a socket's join order, for the per-user cap
	joins    uint64
	last     int64
	pending  map[int64]bcast
	recent   []bcast
	filling  bool
	ended    bool // session.ended was delivered
	deadline *time.Timer
	// results wait for the leaderboard broadcast (by seq) they follow.
	results map[int64]map[string][]byte
	corked  []*conn // receiveEncoded's sockets, kept to reuse the slice
}

// acquire returns the session's hub, subscribing the node to the session
// when it is the first local socket.
func (h *Hubs) acquire(ctx context.Context, sessionID, schoolID string) (*hub, error) {
	sh := h.shard(sessionID)
	sh.mu.Lock()
	hb := sh.hubs[sessionID]
	if hb != nil {
		hb.refs++
		sh.mu.Unlock()
		<-hb.ready
		if hb.err != nil {
			h.release(hb)
			return nil, hb.err
		}
		return hb, nil
	}
	hb = &hub{hubs: h, id: sessionID, schoolID: schoolID, ready: make(chan struct{}), refs: 1,
		conns: map[*conn]uint64{}, pending: map[int64]bcast{}}
	sh.hubs[sessionID] = hb
	sh.mu.Unlock()

	// The channel's lock orders this subscribe with a previous hub's
	// unsubscribe of the same channel; other sessions go on meanwhile.
	sl := h.subLock(sessionID)
	sl.Lock()
	err := h.broker.Subscribe(ctx, sessionID)
	sl.Unlock()
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
	sh := h.shard(hb.id)
	sh.mu.Lock()
	hb.refs--
	if hb.refs > 0 || sh.hubs[hb.id] != hb {
		sh.mu.Unlock()
		return
	}
	delete(sh.hubs, hb.id)
	sh.mu.Unlock()

	hb.mu.Lock()
	if hb.deadline != nil {
		hb.deadline.Stop()
	}
	hb.mu.Unlock()
	if hb.err == nil {
		h.stats.hubs.Dec()
	}
	sl := h.subLock(hb.id)
	sl.Lock()
	defer sl.Unlock()
	// A socket may have opened a new hub of the session meanwhile: its
	// subscription stands (it subscribes after this lock, or did before).
	sh.mu.Lock()
	again := sh.hubs[hb.id] != nil
	sh.mu.Unlock()
	if again {
		return
	}
	if err := h.broker.Unsubscribe(context.Background(), hb.id); err != nil {
		h.log.Warn("unsubscribe failed", "session_id", hb.id, "err", err)
	}
}

func (h *Hubs) lookup(sessionID string) *hub {
	sh := h.shard(sessionID)
	sh.mu.Lock()
	hb := sh.hubs[sessionID]
	sh.mu.Unlock()
	return hb
}

// Deliver hands an envelope from the broker to the session's hub. It
// never waits for a socket: writes that the kernel cannot take at once
// wait in that socket's queue.
func (h *Hubs) Deliver(sessionID string, env protocol.Envelope) {
	if hb := h.lookup(sessionID); hb != nil {
		hb.receive(env)
	}
}

func (hb *hub) receive(env protocol.Envelope) {
	bs := make([]bcast, len(env.Broadcasts))
	for i, b := range env.Broadcasts {
		bs[i] = framed(b)
	}
	hb.receiveEncoded(bs, env.Results, env.Teacher, env.Kick)
}

func (hb *hub) receiveEncoded(bs []bcast, results map[string][]byte, teacher [][]byte, kick string) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	// What this envelope gives a socket leaves in one write. An envelope
	// of one frame (most broadcasts) is written as it is, without the
	// queue a cork needs.
	corked := hb.corked[:0]
	if len(bs)+len(teacher)+min(len(results), 1) > 1 {
		for c := range hb.conns {
			if c.cork() {
				corked = append(corked, c)
			}
		}
	}
	defer func() {
		for _, c := range corked {
			c.uncork()
		}
		clear(corked)
		hb.corked = corked[:0]
	}()
	var board int64 // the leaderboard the results follow
	for _, b := range bs {
		if !hb.started || b.seq > hb.last {
			hb.pending[b.seq] = b
		}
		if b.typ == protocol.TypeLeaderboard {
			board = b.seq
		}
	}
	if len(results) > 0 {
		if board > hb.last || !hb.started {
			// Sent right after their leaderboard, before what follows it.
			if hb.results == nil {
				hb.results = map[int64]map[string][]byte{}
			}
			hb.results[board] = results
		} else {
			hb.sendResults(results)
		}
	}
	ended := hb.started && hb.flush()
	if len(teacher) > 0 || kick != "" {
		for c := range hb.conns {
			if c.teacher {
				for _, raw := range teacher {
					c.sendFrame(raw)
				}
			}
			if kick != "" && c.id.UserID == kick {
				c.closeWith(StatusKicked, "removed from the session by the teacher", true)
			}
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
		if raw, ok := results[c.id.UserID]; ok {
			c.sendFrame(raw)
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
		b, ok := hb.pending[hb.last+1]
		if !ok {
			break
		}
		delete(hb.pending, b.seq)
		hb.last = b.seq
		hb.recent = append(hb.recent, b)
		if len(hb.recent) > recentFrames {
			hb.recent = hb.recent[len(hb.recent)-recentFrames:]
		}
		for c := range hb.conns {
			c.sendBroadcast(b.seq, b.frame)
		}
		hb.hubs.stats.broadcasts.Inc()
		hb.watchDeadline(b)
		if res, ok := hb.results[b.seq]; ok {
			delete(hb.results, b.seq)
			hb.sendResults(res)
		}
		ended = ended || b.typ == protocol.TypeSessionEnded
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

// fillTo reads the broadcasts after < seq <= upto from PostgreSQL (without
// the hub's lock) and delivers them.
func (hb *hub) fillTo(after, upto int64) {
	if upto <= after {
		return
	}
	bs, err := hb.read(after, upto)
	if err != nil {
		hb.hubs.log.Warn("filling broadcast gap failed", "session_id", hb.id, "err", err)
		return
	}
	hb.hubs.stats.gapFills.Inc()
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for _, b := range bs {
		if b.seq > hb.last {
			hb.pending[b.seq] = b
		}
	}
	if !hb.filling && hb.flush() {
		hb.closeEnded()
	}
}

// read returns the recorded broadcasts after < seq <= upto, framed.
func (hb *hub) read(after, upto int64) ([]bcast, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stored, err := hb.hubs.store.Broadcasts(ctx, hb.id, after, upto)
	if err != nil {
		return nil, err
	}
	bs := make([]bcast, len(stored))
	for i, b := range stored {
		bs[i] = framed(b)
	}
	return bs, nil
}

// watchDeadline closes the question at its deadline from this node too;
// the sweeper of every node does it as well, so a dead node changes
// nothing. Called with hb.mu held.
func (hb *hub) watchDeadline(b bcast) {
	switch b.typ {
	case protocol.TypeQuestionOpened:
		if b.deadline.IsZero() {
			return
		}
		if hb.deadline != nil {
			hb.deadline.Stop()
		}
		wait := b.deadline.Sub(hb.hubs.closer.Now()) + 5*time.Millisecond
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
// and sends it what the hub delivered since. When the hub is further
// ahead than its memory, the difference is read from PostgreSQL before
// the hub's lock is taken again.
func (hb *hub) add(c *conn, snapSeq int64) {
	var read []bcast
	have := snapSeq // the socket is covered up to here by snapshot and read
	for {
		hb.mu.Lock()
		if hb.last > have && (len(hb.recent) == 0 || hb.recent[0].seq > have+1) {
			upto := hb.last
			hb.mu.Unlock()
			bs, err := hb.read(have, upto)
			if err != nil {
				c.closeWith(StatusGoingAway, "could not catch up; reconnect", false)
				return
			}
			read = append(read, bs...)
			have = upto
			continue
		}
		break
	}
	defer hb.mu.Unlock()
	c.lastSeq = snapSeq
	for _, b := range read {
		c.sendBroadcast(b.seq, b.frame)
	}
	for _, b := range hb.recent {
		c.sendBroadcast(b.seq, b.frame)
	}
	hb.joins++
	hb.conns[c] = hb.joins
	if hb.ended {
		c.closeWith(StatusNormal, "the session has ended", true)
		return
	}
	hb.capUser(c.id.UserID)
}

// capUser closes the oldest open sockets of a user beyond the hub's
// per-user cap. Called with hb.mu held.
func (hb *hub) capUser(userID string) {
	for {
		var oldest *conn
		n := 0
		for o, order := range hb.conns {
			if o.id.UserID != userID || o.isClosing() {
				continue
			}
			n++
			if oldest == nil || order < hb.conns[oldest] {
				oldest = o
			}
		}
		if n <= hb.hubs.perUser || oldest == nil {
			return
		}
		oldest.closeWith(StatusReplaced, "replaced by a newer connection of the same user", true)
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

// all returns every hub of the node.
func (h *Hubs) all() []*hub {
	var hubs []*hub
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		for _, hb := range sh.hubs {
			hubs = append(hubs, hb)
		}
		sh.mu.Unlock()
	}
	return hubs
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
	all := h.all()
	if len(all) == 0 {
		return
	}
	ids := make([]string, 0, len(all))
	hubs := make(map[string]*hub, len(all))
	for _, hb := range all {
		ids = append(ids, hb.id)
		hubs[hb.id] = hb
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
		if hb == nil {
			continue
		}
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
	var conns []*conn
	for _, hb := range h.all() {
		hb.mu.Lock()
		for c := range hb.conns {
			conns = append(conns, c)
		}
		hb.mu.Unlock()
	}
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

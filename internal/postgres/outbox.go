package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/quiz"
)

// execer is what insertEvents needs: a transaction or a batch-capable conn.
type execer interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

const insertOutboxSQL = `INSERT INTO outbox (school_id, event_id, name, payload, created_at) VALUES ($1, $2, $3, $4, $5)`

// queueEvents adds the outbox rows of evs to b, filling event ids and times.
// Call it with the batch of the transaction that makes the change, so the
// events commit or roll back with it.
func queueEvents(b *pgx.Batch, evs ...quiz.Event) error {
	for i := range evs {
		e := &evs[i]
		if e.EventID == "" {
			e.EventID = uuid.NewString()
		}
		if e.OccurredAt.IsZero() {
			e.OccurredAt = time.Now().UTC()
		}
		if e.Data == nil {
			e.Data = map[string]any{}
		}
		payload, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", e.Name, err)
		}
		b.Queue(insertOutboxSQL, e.SchoolID, e.EventID, string(e.Name), payload, e.OccurredAt)
	}
	return nil
}

// insertEvents writes evs to the outbox inside tx.
func insertEvents(ctx context.Context, tx execer, evs ...quiz.Event) error {
	if len(evs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	if err := queueEvents(b, evs...); err != nil {
		return err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("insert outbox: %w", err)
	}
	return nil
}

// OutboxStore is the outbox seen from outside a business transaction: it
// appends events that come with no other row change, and it is the relay's
// side of the table (leases, claim, delete, depth, wake-ups).
type OutboxStore struct {
	pool *pgxpool.Pool

	// Holder names this process in outbox_leases (LeaseHolder: the node's
	// id and a suffix drawn per process, so a restarted node never takes
	// the leases of its previous process for its own).
	Holder string

	mu sync.Mutex
	// marks are where rounds read each partition from (outboxMarks): above
	// the rows this node's relay deleted there, once that is safe. They
	// skip only what this node deleted, so they save the most when no
	// other node drains the partition: what the leases are for.
	marks outboxMarks
	// MarkReset is how often rounds read partitions from their start
	// again (default 10 s): the backstop for a row left below a floor
	// (partMark's one gap, or a row another transaction held locked when
	// the round skipped it), which waits at most that long. A reset costs
	// the rounds that follow it a walk over the dead rows left since the
	// last vacuum, until the floors move again.
	MarkReset time.Duration

	// leasing is set by the first Lease: from then on Drain takes only
	// the partitions held (held, until heldUntil on this process's
	// monotonic clock), unless the schema has no outbox_leases (unleased:
	// every partition, under the advisory locks alone, as before 00016).
	// A store that is never leased (one-off drains, tests) drains every
	// partition.
	leasing   bool
	unleased  bool
	held      [OutboxPartitions]bool
	heldUntil time.Time
}

// NewOutboxStore returns the outbox store over pool, leasing as this
// host (set Holder to LeaseHolder(node id) to name the node).
func NewOutboxStore(pool *pgxpool.Pool) *OutboxStore {
	host, _ := os.Hostname()
	return &OutboxStore{pool: pool, MarkReset: 10 * time.Second, Holder: LeaseHolder(host)}
}

// LeaseHolder is the name a process holds outbox leases under: nodeID and
// a random suffix of its own.
func LeaseHolder(nodeID string) string {
	return nodeID + "#" + uuid.NewString()[:8]
}

// roundMarks returns the floors a round starts from.
func (s *OutboxStore) roundMarks() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.marks.floors(time.Now(), s.MarkReset)
}

// advanceMarks records a committed round: the snapshot of its claim and
// the rows it deleted.
func (s *OutboxStore) advanceMarks(rows []OutboxRow, snap claimSnapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marks.committed(rows, snap.xmin, snap.xmax)
}

// candidates returns the partitions a round may take, in the order it
// tries them: the ones this node holds (every one when it does not lease),
// from the start-th on, round the ring; none when its leases lapsed.
// leased tells whether the claim must check the leases.
func (s *OutboxStore) candidates(start int) (parts []int16, leased bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	leased = s.leasing && !s.unleased
	for p := range OutboxPartitions {
		if !s.leasing || s.unleased || s.held[p] {
			parts = append(parts, int16(p))
		}
	}
	if s.leasing && !s.unleased && time.Now().After(s.heldUntil) {
		// No renewal got through for a TTL: the leases may be another
		// node's by now (the advisory locks would keep a round safe, but
		// the floors would no longer see every deletion).
		s.held = [OutboxPartitions]bool{}
		return nil, leased
	}
	if len(parts) == 0 {
		return nil, leased
	}
	k := ((start % len(parts)) + len(parts)) % len(parts)
	return append(parts[k:], parts[:k]...), leased
}

// Append writes evs to the outbox in one transaction, for events that
// describe no row change of their own (a student leaving, for example).
func (s *OutboxStore) Append(ctx context.Context, evs ...quiz.Event) error {
	if len(evs) == 0 {
		return nil
	}
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return insertEvents(ctx, tx, evs...)
	}))
}

// OutboxRow is one event waiting in the outbox.
type OutboxRow struct {
	ID        int64
	EventID   string
	Name      quiz.EventName
	Payload   []byte // the §8 event JSON
	CreatedAt time.Time
	part      int16
}

// Part is the outbox partition the row is in.
func (o OutboxRow) Part() int { return int(o.part) }

// OutboxPartitions is how many partitions the outbox is split into
// (migration 00010 computes outbox.part from the session id, or the school
// when an event has no session). One relay at a time drains a partition.
const OutboxPartitions = 16

// relayLockKey is the first key of the per-partition advisory locks
// (pg_try_advisory_xact_lock(relayLockKey, part)).
const relayLockKey int32 = 0x71636f62 // "qcob"

// legacyRelayLockKey is the one drain lock of the relays before 00010:
// partitioned relays take it shared, so during a rolling deploy an old node
// (which takes it exclusively) and new nodes never drain at the same time.
const legacyRelayLockKey int64 = 0x71635f6f7574626f // "qc_outbo"

const (
	// claimOutboxSQL is a round's one statement: it takes the locks of the
	// first $4 partitions of the list $2 (OutboxStore.candidates, in
	// order) that have rows and that no other relay holds (the CASE fixes
	// the order of evaluation, rows first, then the locks; the LIMIT stops
	// at the last lock taken, so no empty or extra partition is locked),
	// then the oldest rows of those partitions in id order, so each
	// partition's rows stay in their order. Both read a partition p
	// through its (part, id) index from above the node's floor $6[p+1]
	// (partMark). "Has rows" is the first id above the floor (a NOT
	// EXISTS was planned as a sequential scan, which walks every dead row
	// left since the last vacuum). Each partition is read on its own (one
	// ORDER BY id over all of them would walk the primary key through
	// every dead row), at most a share of the batch $5 from each when
	// there are several (at least 32), so a round does not lock a batch
	// per partition; rows locked beyond the limit are released at commit,
	// untouched. The share is rounded up, so that a backlog fills the
	// batch and the relay sees a full round (8 leased partitions of 62
	// rows made 496 of 500, which the relay took for "no more"). Every row
	// also carries the statement's snapshot bounds, which move the floors
	// (partMark).
	claimOutboxSQL = `
WITH locked AS MATERIALIZED (
	SELECT c.p FROM unnest($2::smallint[]) c(p)
	WHERE CASE /*lease*/WHEN (SELECT o.id FROM outbox o WHERE o.part = c.p AND o.id > ($6::bigint[])[c.p + 1] ORDER BY o.id LIMIT 1) IS NULL THEN false
		WHEN NOT pg_try_advisory_xact_lock_shared($3) THEN false
		ELSE pg_try_advisory_xact_lock($1, c.p) END
	LIMIT $4
)
SELECT o.id, o.event_id::text, o.name, o.payload::text, o.created_at, o.part, x.xmin, x.xmax
FROM locked l, LATERAL (SELECT * FROM outbox WHERE part = l.p AND id > ($6::bigint[])[l.p + 1] ORDER BY id
	LIMIT greatest(($5 + (SELECT count(*) FROM locked) - 1) / (SELECT count(*) FROM locked), least($5, 32)) FOR UPDATE SKIP LOCKED) o,
	(SELECT pg_snapshot_xmin(c)::text::bigint AS xmin, pg_snapshot_xmax(c)::text::bigint AS xmax FROM pg_current_snapshot() c) x
ORDER BY o.id LIMIT $5`
	// leaseCheckSQL is what claimLeasedSQL adds first to the CASE of
	// claimOutboxSQL: the node holds the partition's lease by the
	// database's clock at the claim ($7 its holder name), so a partition
	// another node took since this node's last lease round (a steal, a
	// lapse) is left to it at once. A node without leases runs the claim
	// without it (the table may not exist).
	leaseCheckSQL = `WHEN NOT EXISTS (SELECT FROM outbox_leases l WHERE l.part = c.p AND l.holder = $7 AND l.expires_at > now()) THEN false
		`
	deleteOutboxSQL = `DELETE FROM outbox WHERE id = ANY($1)`
	// A round's transaction does not wait for its commit to reach the
	// disk: a round lost in a crash only deletes rows that were published,
	// so they are published again and the worker drops the copies (by
	// event_id), while each round saves a WAL flush.
	drainAsyncSQL = `SET LOCAL synchronous_commit = off`
)

// claimLeasedSQL is the claim of a node that leases its partitions.
var claimLeasedSQL = strings.Replace(claimOutboxSQL, "/*lease*/", leaseCheckSQL, 1)

// Drain takes up to parts partitions of the outbox that have rows and that
// no other relay is draining, among the ones this node holds a lease on
// (every partition when it does not lease: Lease), trying them from the
// start-th on, round the ring; it claims up to limit of their oldest rows,
// hands them to publish in id order and deletes them when publish returns
// nil, all in one transaction: the partitions' advisory locks and the rows
// stay held while they are published, and a failed publish rolls back so
// they are published again later. The lock, not the lease, is what keeps
// two relays out of one partition (a handover, a node of an older
// version): it ends with the transaction, also when the node dies. It
// returns how many rows were published, 0 when no partition was free and
// non-empty. One partition at a time lets several workers share a
// backlog; all of them at once drains a light load in one round instead
// of one per partition.
func (s *OutboxStore) Drain(ctx context.Context, start, parts, limit int, publish func(context.Context, []OutboxRow) error) (int, error) {
	candidates, leased := s.candidates(start)
	if len(candidates) == 0 {
		return 0, nil
	}
	claim, args := claimOutboxSQL, []any{relayLockKey, candidates, legacyRelayLockKey, max(parts, 1), limit, s.roundMarks()}
	if leased {
		claim, args = claimLeasedSQL, append(args, s.Holder)
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	defer c.Release()
	conn := c.Conn()
	// Round trip 1: begin, and lock and claim in one statement.
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(drainAsyncSQL)
	b.Queue(claim, args...)
	claimed, snap, err := claimRound(ctx, conn.SendBatch(ctx, b))
	if err != nil || len(claimed) == 0 {
		rollback(conn)
		return 0, err
	}
	if err := publish(ctx, claimed); err != nil {
		rollback(conn)
		return 0, err
	}
	ids := make([]int64, len(claimed))
	for i, o := range claimed {
		ids[i] = o.ID
	}
	// Round trip 2: delete what was published, and commit.
	b = &pgx.Batch{}
	b.Queue(deleteOutboxSQL, ids)
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		rollback(conn)
		return 0, fmt.Errorf("outbox: delete published: %w", err)
	}
	s.advanceMarks(claimed, snap)
	return len(claimed), nil
}

// claimSnapshot is the xmin and xmax of a claim's snapshot.
type claimSnapshot struct{ xmin, xmax int64 }

// claimRound reads the first round trip of Drain: BEGIN, SET, the claim.
func claimRound(ctx context.Context, br pgx.BatchResults) ([]OutboxRow, claimSnapshot, error) {
	defer br.Close()
	var snap claimSnapshot
	for range 2 {
		if _, err := br.Exec(); err != nil {
			return nil, snap, fmt.Errorf("outbox: begin: %w", err)
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, snap, fmt.Errorf("outbox: claim: %w", err)
	}
	claimed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxRow, error) {
		var o OutboxRow
		err := r.Scan(&o.ID, &o.EventID, &o.Name, &o.Payload, &o.CreatedAt, &o.part, &snap.xmin, &snap.xmax)
		return o, err
	})
	if err != nil {
		return nil, snap, fmt.Errorf("outbox: claim: %w", err)
	}
	if err := br.Close(); err != nil {
		return nil, snap, fmt.Errorf("outbox: claim: %w", err)
	}
	return claimed, snap, nil
}

// OutboxStats describes the backlog of the outbox.
type OutboxStats struct {
	// Depth is the number of rows waiting; an estimate when Estimated.
	Depth     int64
	Estimated bool
	// Oldest is when the oldest waiting event occurred; zero when empty.
	Oldest time.Time
}

// exactDepthLimit is the backlog up to which Stats counts rows exactly;
// past it, count(*) would scan a large table every few seconds, and the id
// range (ids are deleted roughly in order) is a close enough estimate.
const exactDepthLimit = 100_000

const (
	outboxBoundsSQL = `SELECT min(id), max(id), (SELECT created_at FROM outbox ORDER BY id LIMIT 1) FROM outbox`
	outboxCountSQL  = `SELECT count(*) FROM outbox`
)

// Stats measures the outbox backlog cheaply: two index probes, and an exact
// count only while the backlog is small.
func (s *OutboxStore) Stats(ctx context.Context) (OutboxStats, error) {
	var minID, maxID *int64
	var oldest *time.Time
	if err := s.pool.QueryRow(ctx, outboxBoundsSQL).Scan(&minID, &maxID, &oldest); err != nil {
		return OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
	}
	if minID == nil || maxID == nil || oldest == nil {
		return OutboxStats{}, nil
	}
	st := OutboxStats{Depth: *maxID - *minID + 1, Oldest: *oldest, Estimated: true}
	if st.Depth <= exactDepthLimit {
		if err := s.pool.QueryRow(ctx, outboxCountSQL).Scan(&st.Depth); err != nil {
			return OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
		}
		st.Estimated = false
	}
	return st, nil
}

// OutboxChannel is the channel the nodes notify (outside their
// transactions, debounced: outbox.Waker) after committing outbox rows.
const OutboxChannel = "quizcast_outbox"

// Listen holds a dedicated connection listening on OutboxChannel and calls
// wake once the LISTEN is in place (rows may have arrived before it) and on
// every notification, until ctx ends or the connection fails; it returns
// why it stopped. The connection is taken out of the pool, so it never
// returns there with a LISTEN on it.
func (s *OutboxStore) Listen(ctx context.Context, wake func()) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("outbox listen: %w", err)
	}
	conn := c.Hijack()
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, "LISTEN "+OutboxChannel); err != nil {
		return fmt.Errorf("outbox listen: %w", err)
	}
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("outbox listen: %w", err)
		}
		wake()
	}
}

// Notify wakes the relays listening on OutboxChannel. Call it after
// commits, outside any business transaction: a NOTIFY inside one takes a
// database-wide lock at its commit.
func (s *OutboxStore) Notify(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, '')`, OutboxChannel); err != nil {
		return fmt.Errorf("outbox notify: %w", err)
	}
	return nil
}

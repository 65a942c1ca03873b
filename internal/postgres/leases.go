package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The outbox's partitions are shared between the server nodes by leases
// (migration 00016): each node's relay holds its fair share, renews it every
// few seconds and drains only what it holds, so that its floors see every
// deletion in its partitions and two nodes stop stepping over each other's
// dead rows. The advisory lock of each round stays what keeps one drainer
// per partition at a time.

// OutboxLease is one partition's row of outbox_leases, as a lease round
// sees it: Live when it is held and has not expired by the database's clock.
type OutboxLease struct {
	Part   int
	Holder string
	Live   bool
}

// LeaseShare is the most partitions one of holders live relays takes:
// ceil(parts / holders).
func LeaseShare(parts, holders int) int {
	holders = max(holders, 1)
	return (parts + holders - 1) / holders
}

// PlanLeases is the rule of a lease round for holder me, over the leases of
// every partition (leaseOutboxSQL applies it in one statement; the tests
// check the one against the other). The live holders are the others with a
// live lease, and me; me keeps its lowest live partitions up to its share
// and gives back the rest, then takes free partitions (expired, released or
// never held), lowest first, up to its share. A node that would still hold
// nothing (nothing free: a node joining nodes that hold every partition)
// takes one partition from the holder with the most above the share: it is
// then a live holder the others count, and they give back their excess at
// their next rounds. It returns the partitions me holds afterwards and the
// ones it gives back, in order.
func PlanLeases(leases []OutboxLease, me string) (hold, giveBack []int) {
	leases = slices.Clone(leases)
	slices.SortFunc(leases, func(a, b OutboxLease) int { return a.Part - b.Part })
	others := map[string]int{}
	for _, l := range leases {
		if l.Live && l.Holder != me {
			others[l.Holder]++
		}
	}
	share := LeaseShare(len(leases), len(others)+1)
	var free []int
	for _, l := range leases {
		switch {
		case l.Live && l.Holder == me && len(hold) < share:
			hold = append(hold, l.Part)
		case l.Live && l.Holder == me:
			giveBack = append(giveBack, l.Part)
		case !l.Live:
			free = append(free, l.Part)
		}
	}
	kept := len(hold)
	hold = append(hold, free[:min(len(free), share-kept)]...)
	if len(hold) == 0 {
		// The holder with the most (ties: the first by name), its highest
		// partition.
		richest := ""
		for h, n := range others {
			if n > share && (richest == "" || n > others[richest] || n == others[richest] && h < richest) {
				richest = h
			}
		}
		for i := len(leases) - 1; richest != "" && i >= 0; i-- {
			if l := leases[i]; l.Live && l.Holder == richest {
				hold = append(hold, l.Part)
				break
			}
		}
	}
	slices.Sort(hold)
	return hold, giveBack
}

const (
	// leaseOutboxSQL is a lease round, PlanLeases in one statement: it
	// locks every lease row (in part order, so rounds of several nodes
	// queue up rather than deadlock, and each decides on what the one
	// before it wrote), counts the live holders, and renews ($2 seconds
	// from the database's now()) what $1 keeps and takes, expires what it
	// gives back. It returns the partitions $1 holds (true) and gives back
	// (false).
	leaseOutboxSQL = `
WITH cur AS MATERIALIZED (
	SELECT part, holder, holder IS NOT NULL AND expires_at > now() AS live FROM outbox_leases ORDER BY part FOR UPDATE
), others AS (
	SELECT holder, count(*) AS n FROM cur WHERE live AND holder <> $1 GROUP BY holder
), s AS (
	SELECT ((SELECT count(*) FROM cur) + count(*)) / (1 + count(*)) AS share FROM others
), mine AS (
	SELECT part, row_number() OVER (ORDER BY part) AS r FROM cur WHERE live AND holder = $1
), free AS (
	SELECT part, row_number() OVER (ORDER BY part) AS r FROM cur WHERE NOT live
), kept AS (
	SELECT count(*) AS n FROM mine, s WHERE r <= share
), steal AS (
	SELECT c.part FROM cur c JOIN others o ON o.holder = c.holder, s, kept
	WHERE c.live AND kept.n = 0 AND NOT EXISTS (SELECT FROM free) AND o.n > s.share
	ORDER BY o.n DESC, o.holder COLLATE "C", c.part DESC LIMIT 1
), plan AS (
	SELECT part, r <= share AS hold FROM mine, s
	UNION ALL SELECT part, true FROM free, s, kept WHERE r <= s.share - kept.n
	UNION ALL SELECT part, true FROM steal
)
UPDATE outbox_leases l SET
	holder = CASE WHEN p.hold THEN $1 ELSE l.holder END,
	expires_at = CASE WHEN p.hold THEN now() + $2 * interval '1 second' ELSE now() END
FROM plan p WHERE l.part = p.part
RETURNING l.part, p.hold`
	// releaseOutboxSQL expires a node's leases at once: the others take
	// them at their next round instead of after the TTL.
	releaseOutboxSQL = `UPDATE outbox_leases SET expires_at = now() WHERE holder = $1 AND expires_at > now()`
)

// codeUndefinedTable is what PostgreSQL answers before migration 00016.
const codeUndefinedTable = "42P01"

// OutboxLeases is what a lease round left the node with.
type OutboxLeases struct {
	// Held is how many partitions the node holds now, Gained how many of
	// them it did not hold before the round.
	Held, Gained int
	// Unleased: the schema has no outbox_leases yet (a rolling deploy
	// ahead of its migration), so the node drains every partition under
	// the advisory locks alone, as before leases.
	Unleased bool
}

// Lease runs one lease round for this node (PlanLeases): it renews the
// partitions it keeps for ttl, takes free ones up to its share and gives
// back the rest. From the first call on, Drain takes only the partitions
// held, and only while the last successful round is younger than ttl by
// this process's monotonic clock (measured from before the round was sent,
// so it ends before the database's expiry); a partition gained reads from
// its start again (another node drained it meanwhile). Call it every ttl/3
// or so; a failed round keeps what the last one gave until then.
func (s *OutboxStore) Lease(ctx context.Context, ttl time.Duration) (OutboxLeases, error) {
	s.mu.Lock()
	s.leasing = true
	s.mu.Unlock()
	sent := time.Now()
	rows, _ := s.pool.Query(ctx, leaseOutboxSQL, s.Holder, ttl.Seconds())
	var hold []int16
	var part int16
	var keep bool
	_, err := pgx.ForEachRow(rows, []any{&part, &keep}, func() error {
		if keep {
			hold = append(hold, part)
		}
		return nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == codeUndefinedTable {
		s.unleased = true
		return OutboxLeases{Unleased: true}, nil
	}
	if err != nil {
		return OutboxLeases{Held: s.heldCount()}, fmt.Errorf("outbox lease: %w", err)
	}
	lapsed := sent.After(s.heldUntil) || s.unleased
	var held [OutboxPartitions]bool
	out := OutboxLeases{Held: len(hold)}
	for _, p := range hold {
		if p < 0 || p >= OutboxPartitions {
			continue
		}
		held[p] = true
		if !s.held[p] || lapsed {
			s.marks.forget(int(p))
			out.Gained++
		}
	}
	s.held, s.heldUntil, s.unleased = held, sent.Add(ttl), false
	return out, nil
}

// heldCount is how many partitions the node may drain; s.mu held.
func (s *OutboxStore) heldCount() int {
	if time.Now().After(s.heldUntil) {
		return 0
	}
	n := 0
	for _, h := range s.held {
		if h {
			n++
		}
	}
	return n
}

// Release gives this node's leases back at once (a node shutting down,
// after its last round): the other nodes take them at their next round.
// Drain takes nothing afterwards until the next Lease.
func (s *OutboxStore) Release(ctx context.Context) error {
	s.mu.Lock()
	s.held, s.heldUntil = [OutboxPartitions]bool{}, time.Time{}
	s.mu.Unlock()
	_, err := s.pool.Exec(ctx, releaseOutboxSQL, s.Holder)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == codeUndefinedTable {
		return nil
	}
	if err != nil {
		return fmt.Errorf("outbox release: %w", err)
	}
	return nil
}

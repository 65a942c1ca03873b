package postgres

import "time"

// partMark is where a node's rounds read one outbox partition from.
//
// A round reads a partition through its (part, id) index from above its
// floor: every row deleted below is an index entry to step over (and a heap
// page to visit while the row is not yet dead to every transaction), so the
// floor follows the rows the node deletes, but only where that is safe. Ids
// are taken at insert, so a row can commit after a later row of its
// partition was drained: a floor above it would skip it, while a later
// event of its session, above the floor, left first (seen within seconds
// with two relays when the floor was simply the highest id deleted). So the
// highest id a round deleted (pend) waits:
//
//  1. it is sealed with the xmax of that round's claim snapshot: a row
//     below it that the claim could not see yet belongs to a transaction
//     that was running, so its xid is below the seal;
//  2. a later round whose snapshot's xmin has reached the seal (all those
//     transactions ended: their rows are visible) reads from the old floor,
//     in id order, and claims a row above pend: it took every row below
//     pend, late ones first. Only then does the floor move to pend.
//
// Until then rounds step over the rows deleted since the floor: a round or
// two's worth. The one gap: a transaction that took its id before pend but
// had no xid yet at the sealing snapshot (PostgreSQL assigns one at its
// first write, just after the nextval of an insert that is its first
// write). Its row would wait below the floor until the next reset
// (OutboxStore.MarkReset): late and possibly out of order, not lost.
type partMark struct {
	floor      int64
	pend, next int64 // highest id deleted above the floor: sealed by pendSeal; deleted since
	pendSeal   int64
	nextSeal   int64
}

// outboxMarks are a node's partMarks; the caller serializes access.
type outboxMarks struct {
	parts   [OutboxPartitions]partMark
	resetAt time.Time
}

// floors returns the floor of every partition for a round starting at
// now, first resetting them all when every has passed since the last reset.
func (m *outboxMarks) floors(now time.Time, every time.Duration) []int64 {
	if now.Sub(m.resetAt) >= every {
		m.parts = [OutboxPartitions]partMark{}
		m.resetAt = now
	}
	out := make([]int64, OutboxPartitions)
	for p := range m.parts {
		out[p] = m.parts[p].floor
	}
	return out
}

// committed records a round that committed: the xmin and xmax of its
// claim's snapshot and the rows it claimed and deleted.
func (m *outboxMarks) committed(rows []OutboxRow, xmin, xmax int64) {
	var top [OutboxPartitions]int64
	for _, o := range rows {
		if p := int(o.part); p >= 0 && p < OutboxPartitions {
			top[p] = max(top[p], o.ID)
		}
	}
	for p := range m.parts {
		pm := &m.parts[p]
		if pm.pend != 0 && xmin >= pm.pendSeal && top[p] > pm.pend {
			pm.floor = pm.pend
			pm.pend, pm.pendSeal, pm.next, pm.nextSeal = pm.next, pm.nextSeal, 0, 0
		}
		switch {
		case top[p] <= pm.floor:
		case pm.pend == 0:
			pm.pend, pm.pendSeal = top[p], xmax
		case top[p] > pm.pend:
			pm.next, pm.nextSeal = max(pm.next, top[p]), max(pm.nextSeal, xmax)
		}
	}
}

// forget reads partition p from its start again (a lease gained: another
// node drained it meanwhile, and what this node knew of it is stale).
func (m *outboxMarks) forget(p int) {
	m.parts[p] = partMark{}
}

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
// event of its session, above the floor, left first (measured: two relays
// broke a session's order within seconds, when the floor was simply the
// highest id deleted). So the highest id deleted (pend) waits:
//
//  1. it is sealed with the xmax of a snapshot taken after the round that
//     deleted it committed: every transaction that could still insert
//     below it has a lower xid;
//  2. a round whose snapshot's xmin reached the seal (all those ended, so
//     their rows are visible) reads from the old floor, in id order, and
//     claims a row above pend: it took every row below pend, late ones
//     first. Only then does the floor move to pend.
//
// Until then rounds step over the rows deleted since the floor: a few
// rounds' worth. The one gap: a transaction that took its id before pend
// and gets its transaction id only after the sealing snapshot (PostgreSQL
// assigns one at the row's insert, just after nextval, unless the
// transaction wrote before). Its row would wait below the floor until the
// next reset (OutboxStore.MarkReset): late and possibly out of order, but
// not lost.
type partMark struct {
	floor      int64
	pend, next int64 // highest id deleted above the floor: before its seal; after it
	pendAt     time.Time
	nextAt     time.Time
	seal       int64 // 0: none yet
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

// committed records a round that committed at now: the snapshot of its
// claim (its xmin and xmax, taken after sent) and the rows it claimed and
// deleted, in id order.
func (m *outboxMarks) committed(rows []OutboxRow, xmin, xmax int64, sent, now time.Time) {
	var top [OutboxPartitions]int64
	for _, o := range rows {
		if p := int(o.part); p >= 0 && p < OutboxPartitions {
			top[p] = max(top[p], o.ID)
		}
	}
	for p := range m.parts {
		pm := &m.parts[p]
		if pm.seal != 0 && xmin >= pm.seal && top[p] > pm.pend {
			pm.floor = pm.pend
			pm.pend, pm.pendAt, pm.seal = pm.next, pm.nextAt, 0
			pm.next, pm.nextAt = 0, time.Time{}
		}
		if pm.pend != 0 && pm.seal == 0 && sent.After(pm.pendAt) {
			pm.seal = xmax
		}
		switch {
		case top[p] == 0:
		case pm.seal == 0:
			pm.pend, pm.pendAt = max(pm.pend, top[p]), now
		default:
			pm.next, pm.nextAt = max(pm.next, top[p]), now
		}
	}
}

// forget reads partition p from its start again (a lease gained: another
// node drained it meanwhile, and what this node knew of it is stale).
func (m *outboxMarks) forget(p int) {
	m.parts[p] = partMark{}
}

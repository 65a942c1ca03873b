package postgres

import (
	"testing"
	"time"
)

// The floor of a partition moves to the highest id deleted only once the
// transactions that could still insert below it ended (the seal) and a
// round after that read past it from the old floor; before, rounds read
// from the old floor, so a late row below is found first.
func TestOutboxMarksMoveOnlyPastSafeRows(t *testing.T) {
	var m outboxMarks
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	row := func(id int64) OutboxRow { return OutboxRow{ID: id, part: 3} }
	floor := func() int64 { return m.floors(at(0), time.Hour)[3] }
	m.floors(at(0), time.Hour) // the reset clock starts

	// Round 1 (xids running from 100 on) deletes up to 101; row 100 may
	// still be in flight.
	m.committed([]OutboxRow{row(99), row(101)}, 100, 105, at(1), at(2))
	if floor() != 0 {
		t.Fatalf("floor %d after the first round, want 0", floor())
	}
	// Round 2, sent after round 1 committed, seals 101 with its xmax 110,
	// and deletes 102 (after the seal: next).
	m.committed([]OutboxRow{row(102)}, 100, 110, at(3), at(4))
	if floor() != 0 || m.parts[3].seal != 110 {
		t.Fatalf("floor %d seal %d, want 0 and 110", floor(), m.parts[3].seal)
	}
	// Round 3: xmin 109 has not reached the seal: no move.
	m.committed([]OutboxRow{row(103)}, 109, 112, at(5), at(6))
	if floor() != 0 {
		t.Fatalf("floor %d before the seal was reached, want 0", floor())
	}
	// Round 4: xmin reached the seal, but it claimed nothing above 101 in
	// partition 3 (another partition's rows): no move.
	m.committed([]OutboxRow{{ID: 500, part: 4}}, 110, 112, at(7), at(8))
	if floor() != 0 {
		t.Fatalf("floor %d without a round past the pend, want 0", floor())
	}
	// Round 5: xmin past the seal and it read past 101 (the late row 100
	// first): the floor moves to 101; 103 (deleted after the seal) is the
	// next pend, sealed by this round's snapshot, and 104 waits behind it.
	m.committed([]OutboxRow{row(100), row(104)}, 111, 115, at(9), at(10))
	if pm := m.parts[3]; floor() != 101 || pm.pend != 103 || pm.seal != 115 || pm.next != 104 {
		t.Fatalf("floor %d pend %d seal %d next %d, want 101, 103, 115, 104", floor(), pm.pend, pm.seal, pm.next)
	}
	// Round 6: reaches 115, reads past 103: the floor moves there.
	m.committed([]OutboxRow{row(105)}, 115, 118, at(11), at(12))
	if floor() != 103 {
		t.Fatalf("floor %d, want 103", floor())
	}
	// A reset, and a forgotten partition, read from the start.
	if f := m.floors(at(0).Add(2*time.Hour), time.Hour)[3]; f != 0 {
		t.Fatalf("floor %d after the reset, want 0", f)
	}
	m.parts[3].floor = 7
	m.forget(3)
	if floor() != 0 {
		t.Fatal("forget kept the floor")
	}
}

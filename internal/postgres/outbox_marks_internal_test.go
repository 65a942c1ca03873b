package postgres

import (
	"testing"
	"time"
)

// The floor of a partition moves to the highest id a round deleted only
// once the transactions running at that round's claim ended (the seal) and
// a later round read past it from the old floor; before, rounds read from
// the old floor, so a late row below is found first.
func TestOutboxMarksMoveOnlyPastSafeRows(t *testing.T) {
	var m outboxMarks
	t0 := time.Now()
	row := func(id int64) OutboxRow { return OutboxRow{ID: id, part: 3} }
	floor := func() int64 { return m.floors(t0, time.Hour)[3] }
	m.floors(t0, time.Hour) // the reset clock starts

	// Round 1 (xids 100… running, next xid 105) deletes up to 101; row 100
	// may still be in flight: 101 is sealed with 105.
	m.committed([]OutboxRow{row(99), row(101)}, 100, 105)
	if pm := m.parts[3]; floor() != 0 || pm.pend != 101 || pm.pendSeal != 105 {
		t.Fatalf("floor %d pend %d seal %d, want 0, 101, 105", floor(), pm.pend, pm.pendSeal)
	}
	// Round 2: xmin 104 has not reached the seal: no move; 102 waits next.
	m.committed([]OutboxRow{row(102)}, 104, 110)
	if pm := m.parts[3]; floor() != 0 || pm.next != 102 || pm.nextSeal != 110 {
		t.Fatalf("floor %d next %d seal %d, want 0, 102, 110", floor(), pm.next, pm.nextSeal)
	}
	// Round 3: xmin reached the seal, but it claimed nothing above 101 in
	// partition 3 (only the late row 100, or another partition's rows): no
	// move.
	m.committed([]OutboxRow{row(100), {ID: 500, part: 4}}, 106, 112)
	if floor() != 0 {
		t.Fatalf("floor %d without a round past the pend, want 0", floor())
	}
	// Round 4: xmin past the seal and it read past 101 from the old floor:
	// the floor moves to 101; 102 (sealed 110) is the next pend, and 104
	// waits behind it.
	m.committed([]OutboxRow{row(103), row(104)}, 107, 115)
	if pm := m.parts[3]; floor() != 101 || pm.pend != 102 || pm.pendSeal != 110 || pm.next != 104 || pm.nextSeal != 115 {
		t.Fatalf("floor %d pend %d/%d next %d/%d, want 101, 102/110, 104/115", floor(), pm.pend, pm.pendSeal, pm.next, pm.nextSeal)
	}
	// Round 5: reaches 110, reads past 102: the floor moves there.
	m.committed([]OutboxRow{row(105)}, 110, 118)
	if floor() != 102 {
		t.Fatalf("floor %d, want 102", floor())
	}
	// A reset, and a forgotten partition, read from the start.
	if f := m.floors(t0.Add(2*time.Hour), time.Hour)[3]; f != 0 {
		t.Fatalf("floor %d after the reset, want 0", f)
	}
	m.parts[3].floor = 7
	m.forget(3)
	if floor() != 0 {
		t.Fatal("forget kept the floor")
	}
}

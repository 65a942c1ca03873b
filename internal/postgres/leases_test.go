package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/testenv"
)

func TestLeaseShare(t *testing.T) {
	for _, c := range []struct{ parts, holders, want int }{
		{16, 0, 16}, {16, 1, 16}, {16, 2, 8}, {16, 3, 6}, {16, 4, 4}, {16, 5, 4}, {16, 16, 1}, {16, 17, 1},
	} {
		if got := postgres.LeaseShare(c.parts, c.holders); got != c.want {
			t.Errorf("LeaseShare(%d, %d) = %d, want %d", c.parts, c.holders, got, c.want)
		}
	}
}

// leases builds the 16 leases from a map part → holder (live); every other
// partition free.
func leases(held map[int]string) []postgres.OutboxLease {
	out := make([]postgres.OutboxLease, postgres.OutboxPartitions)
	for p := range out {
		out[p] = postgres.OutboxLease{Part: p, Holder: held[p], Live: held[p] != ""}
	}
	return out
}

func span(from, to int, holder string, into map[int]string) map[int]string {
	if into == nil {
		into = map[int]string{}
	}
	for p := from; p <= to; p++ {
		into[p] = holder
	}
	return into
}

func TestPlanLeases(t *testing.T) {
	for _, c := range []struct {
		name       string
		held       map[int]string
		hold, back []int
	}{
		{"alone, nothing held: takes every partition", nil, seq(0, 15), nil},
		{"alone, renews what it holds and takes the rest", span(3, 5, "a", nil), seq(0, 15), nil},
		{"second node, the first holds all: takes one to be counted", span(0, 15, "b", nil), []int{15}, nil},
		{"the first sees the second: keeps its lowest 8, gives back the rest",
			span(0, 14, "a", span(15, 15, "b", nil)), seq(0, 7), seq(8, 14)},
		{"the second takes the free half", span(0, 7, "b", span(15, 15, "a", nil)), seq(8, 15), nil},
		{"three nodes: share 6, takes free up to it", span(0, 5, "b", span(6, 11, "c", nil)), []int{12, 13, 14, 15}, nil},
		{"a dead node's expired partitions are free", span(0, 7, "a", nil), seq(0, 15), nil},
		{"three holding 6, 6, 4: share 4, takes one from the first richest", span(0, 5, "b", span(6, 11, "c", span(12, 15, "d", nil))), []int{5}, nil},
		{"a fifth node: share 4, nobody above it, nothing to take",
			span(0, 3, "b", span(4, 7, "c", span(8, 11, "d", span(12, 15, "e", nil)))), nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			hold, back := postgres.PlanLeases(leases(c.held), "a")
			if !slices.Equal(hold, c.hold) || !slices.Equal(back, c.back) {
				t.Fatalf("hold %v give back %v; want %v and %v", hold, back, c.hold, c.back)
			}
		})
	}
}

func seq(from, to int) []int {
	var out []int
	for p := from; p <= to; p++ {
		out = append(out, p)
	}
	return out
}

// setLeases writes a state into outbox_leases: live leases expire in a
// minute, the others a minute ago (or never held).
func setLeases(t *testing.T, pool *pgxpool.Pool, ls []postgres.OutboxLease) {
	t.Helper()
	for _, l := range ls {
		var holder *string
		if l.Holder != "" {
			holder = &l.Holder
		}
		live := "now() - interval '1 minute'"
		if l.Live {
			live = "now() + interval '1 minute'"
		}
		if _, err := pool.Exec(context.Background(), `UPDATE outbox_leases SET holder = $2, expires_at = `+live+` WHERE part = $1`, l.Part, holder); err != nil {
			t.Fatal(err)
		}
	}
}

// heldBy reads which partitions holder holds (unexpired), by the database.
func heldBy(t testing.TB, pool *pgxpool.Pool, holder string) []int {
	t.Helper()
	var parts []int
	if err := pool.QueryRow(context.Background(),
		`SELECT coalesce(array_agg(part ORDER BY part), '{}') FROM outbox_leases WHERE holder = $1 AND expires_at > now()`, holder).Scan(&parts); err != nil {
		t.Fatal(err)
	}
	return parts
}

// The lease statement decides what PlanLeases decides, over random states
// of up to four other holders, some expired, some partitions never held.
func TestLeaseStatementFollowsPlanLeases(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	s := postgres.NewOutboxStore(pool)
	s.Holder = "me"
	rng := rand.New(rand.NewPCG(1, 2))
	holders := []string{"", "me", "n1", "n2", "n3", "n4"}
	for i := range 100 {
		ls := make([]postgres.OutboxLease, postgres.OutboxPartitions)
		others := 1 + rng.IntN(len(holders)-1)
		for p := range ls {
			h := holders[rng.IntN(others+1)]
			ls[p] = postgres.OutboxLease{Part: p, Holder: h, Live: h != "" && rng.IntN(4) > 0}
		}
		setLeases(t, pool, ls)
		wantHold, wantBack := postgres.PlanLeases(ls, "me")
		if _, err := s.Lease(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
		if got := heldBy(t, pool, "me"); !slices.Equal(got, wantHold) && !(len(got) == 0 && len(wantHold) == 0) {
			t.Fatalf("state %d %+v: the statement left me %v, PlanLeases %v", i, ls, got, wantHold)
		}
		for _, p := range wantBack {
			var live bool
			if err := pool.QueryRow(ctx, `SELECT expires_at > now() FROM outbox_leases WHERE part = $1`, p).Scan(&live); err != nil || live {
				t.Fatalf("state %d: partition %d given back is live (%v)", i, p, err)
			}
		}
		// Every other holder's live lease is untouched but for one steal.
		changed := 0
		for _, l := range ls {
			if l.Live && l.Holder != "me" && !slices.Contains(heldBy(t, pool, l.Holder), l.Part) {
				changed++
			}
		}
		if changed > 1 {
			t.Fatalf("state %d: %d live leases of other nodes taken, want at most one", i, changed)
		}
	}
}

// drainAll drains what s may drain now, returning the partitions of the
// rows it published.
func drainAll(t *testing.T, s *postgres.OutboxStore) map[int]bool {
	t.Helper()
	parts := map[int]bool{}
	for {
		n, err := s.Drain(context.Background(), 0, postgres.OutboxPartitions, 1000, func(_ context.Context, rows []postgres.OutboxRow) error {
			for _, r := range rows {
				parts[r.Part()] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return parts
		}
	}
}

// fillPartitions appends one event to every partition.
func fillPartitions(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	s := postgres.NewOutboxStore(pool)
	seen := map[int]bool{}
	for len(seen) < postgres.OutboxPartitions {
		e := sessionEvent(fmt.Sprint(rand.Int64()))
		var p int
		if err := pool.QueryRow(context.Background(), `SELECT abs(hashtext($1) % 16)`, e.SessionID).Scan(&p); err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		if err := s.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

// Two nodes split the 16 partitions within a few rounds and each drains
// only its own; when one stops renewing, the other takes all of them once
// the TTL passed; a release hands them over at the next round.
func TestOutboxLeasesSplitAndMove(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	a, b := postgres.NewOutboxStore(pool), postgres.NewOutboxStore(pool)
	a.Holder, b.Holder = postgres.LeaseHolder("a"), postgres.LeaseHolder("b")
	if a.Holder == b.Holder || a.Holder[:2] != "a#" {
		t.Fatalf("holders %q and %q", a.Holder, b.Holder)
	}
	const ttl = 2 * time.Second
	round := func(s *postgres.OutboxStore) postgres.OutboxLeases {
		t.Helper()
		l, err := s.Lease(ctx, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := round(a); l.Held != 16 || l.Gained != 16 {
		t.Fatalf("a alone: %+v, want all 16 gained", l)
	}
	// b joins: it takes one, a gives back down to its share, b takes the rest.
	if l := round(b); l.Held != 1 {
		t.Fatalf("b joining: %+v, want 1", l)
	}
	// a counts the partition b took as its own until its next round, but
	// its claims check the lease: it leaves that one to b at once.
	stolen := heldBy(t, pool, b.Holder)
	fillPartitions(t, pool)
	if got := drainAll(t, a); len(got) != 15 || got[stolen[0]] {
		t.Fatalf("a drained partitions %v after b took %v", got, stolen)
	}
	if got := drainAll(t, b); len(got) != 1 || !got[stolen[0]] {
		t.Fatalf("b drained partitions %v, holds %v", got, stolen)
	}
	if l := round(a); l.Held != 8 || l.Gained != 0 {
		t.Fatalf("a after b joined: %+v, want 8 kept", l)
	}
	if l := round(b); l.Held != 8 || l.Gained != 7 {
		t.Fatalf("b after a gave back: %+v, want 8", l)
	}
	for range 3 { // stable
		if la, lb := round(a), round(b); la.Held != 8 || lb.Held != 8 || la.Gained+lb.Gained != 0 {
			t.Fatalf("steady rounds: a %+v b %+v", la, lb)
		}
	}
	heldA, heldB := heldBy(t, pool, a.Holder), heldBy(t, pool, b.Holder)
	if len(heldA) != 8 || len(heldB) != 8 || slices.ContainsFunc(heldA, func(p int) bool { return slices.Contains(heldB, p) }) {
		t.Fatalf("a holds %v, b %v: want disjoint halves", heldA, heldB)
	}

	// Each drains only its own partitions.
	fillPartitions(t, pool)
	if got := drainAll(t, a); len(got) != 8 || !allIn(got, heldA) {
		t.Fatalf("a drained partitions %v, holds %v", got, heldA)
	}
	if got := drainAll(t, b); len(got) != 8 || !allIn(got, heldB) {
		t.Fatalf("b drained partitions %v, holds %v", got, heldB)
	}

	// a stops renewing (a node killed): b takes everything once a's
	// leases expired by the database's clock, not before.
	if l := round(b); l.Held != 8 {
		t.Fatalf("b before a's TTL: %+v, want still 8", l)
	}
	testenv.Eventually(t, 30*time.Second, "b holds all 16 after a's TTL", func() bool {
		return round(b).Held == 16
	})
	// a's process, meanwhile, drains nothing: its leases lapsed locally too.
	fillPartitions(t, pool)
	if got := drainAll(t, a); len(got) != 0 {
		t.Fatalf("a drained %v after its leases lapsed", got)
	}
	if got := drainAll(t, b); len(got) != 16 {
		t.Fatalf("b drained %d partitions, want all 16", len(got))
	}

	// a comes back: they split again; then b shuts down and releases, and
	// a's next round takes all 16 at once.
	round(a)
	round(b)
	round(a)
	if la, lb := round(a), round(b); la.Held != 8 || lb.Held != 8 {
		t.Fatalf("after a came back: a %+v b %+v, want 8 each", la, lb)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if got := heldBy(t, pool, b.Holder); len(got) != 0 {
		t.Fatalf("b still holds %v after its release", got)
	}
	if l := round(a); l.Held != 16 || l.Gained != 8 {
		t.Fatalf("a after b's release: %+v, want all 16, 8 gained", l)
	}
	fillPartitions(t, pool)
	if got := drainAll(t, b); len(got) != 0 {
		t.Fatalf("b drained %v after its release", got)
	}
	if got := drainAll(t, a); len(got) != 16 {
		t.Fatalf("a drained %d partitions, want all 16", len(got))
	}
}

func allIn(got map[int]bool, held []int) bool {
	for p := range got {
		if !slices.Contains(held, p) {
			return false
		}
	}
	return true
}

// Before migration 00016 (a rolling deploy ahead of its migration) a lease
// round reports the table missing and the store drains every partition,
// as before leases, under the advisory locks alone.
func TestOutboxWithoutLeaseTableDrainsEveryPartition(t *testing.T) {
	pool, _ := testenv.Database(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `DROP TABLE outbox_leases`); err != nil {
		t.Fatal(err)
	}
	s := postgres.NewOutboxStore(pool)
	l, err := s.Lease(ctx, time.Minute)
	if err != nil || !l.Unleased || l.Held != 0 {
		t.Fatalf("lease without the table: %+v %v; want unleased", l, err)
	}
	fillPartitions(t, pool)
	if got := drainAll(t, s); len(got) != 16 {
		t.Fatalf("drained %d partitions, want all 16", len(got))
	}
	if err := s.Release(ctx); err != nil {
		t.Fatalf("release without the table: %v", err)
	}
}

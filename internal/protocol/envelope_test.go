package protocol_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/quizcast/quizcast/internal/protocol"
)

// An envelope crosses nodes with every frame's bytes unchanged, and a
// broadcast read back from its bytes has the seq, type and deadline it
// was encoded with.
func TestEnvelopeKeepsFramesAsEncoded(t *testing.T) {
	q := questionOpened()
	opened, err := protocol.EncodeBroadcast(protocol.TypeQuestionOpened, 7, q)
	if err != nil {
		t.Fatal(err)
	}
	board, err := protocol.EncodeBroadcast(protocol.TypeLeaderboard, 8, protocol.Leaderboard{})
	if err != nil {
		t.Fatal(err)
	}
	result, err := protocol.Encode(protocol.TypeResult, protocol.Result{QuestionID: "q", Points: 900, Score: 900, Rank: 1})
	if err != nil {
		t.Fatal(err)
	}
	in := protocol.Envelope{Broadcasts: []protocol.Broadcast{opened, board},
		Results: map[string][]byte{"u1": result}, Teacher: [][]byte{result}, Kick: "u2"}
	raw, err := protocol.MarshalEnvelope(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := protocol.UnmarshalEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Broadcasts) != 2 || out.Kick != "u2" || len(out.Teacher) != 1 || len(out.Results) != 1 {
		t.Fatalf("envelope changed on the way: %+v", out)
	}
	for i, b := range out.Broadcasts {
		want := in.Broadcasts[i]
		if b.Seq != want.Seq || b.Type != want.Type || !b.Deadline.Equal(want.Deadline) || !bytes.Equal(b.Raw, want.Raw) {
			t.Errorf("broadcast %d: got seq %d type %s deadline %v, want seq %d type %s deadline %v (or other bytes)",
				i, b.Seq, b.Type, b.Deadline, want.Seq, want.Type, want.Deadline)
		}
	}
	if opened.Deadline.IsZero() || !opened.Deadline.Equal(time.Time(q.Deadline).Truncate(time.Millisecond)) {
		t.Errorf("question.opened deadline %v not carried", opened.Deadline)
	}
	if !bytes.Equal(out.Results["u1"], result) || !bytes.Equal(out.Teacher[0], result) {
		t.Error("direct frames changed on the way")
	}
	if _, err := protocol.ParseBroadcast([]byte(`{"type":"leaderboard","data":{}}`)); err == nil {
		t.Error("a frame without seq parsed as a broadcast")
	}
}

func sampleEnvelope(t testing.TB) protocol.Envelope {
	t.Helper()
	opened, err := protocol.EncodeBroadcast(protocol.TypeQuestionOpened, 7, questionOpened())
	if err != nil {
		t.Fatal(err)
	}
	closed, err := protocol.EncodeBroadcast(protocol.TypeQuestionClosed, 8, protocol.QuestionClosed{QuestionID: "q", Correct: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	result, err := protocol.Encode(protocol.TypeResult, protocol.Result{QuestionID: "q", Points: 900, Score: 900, Rank: 1})
	if err != nil {
		t.Fatal(err)
	}
	return protocol.Envelope{Broadcasts: []protocol.Broadcast{opened, closed},
		Results: map[string][]byte{"u1": result, "u2": result}, Teacher: [][]byte{result}, Kick: "u3"}
}

// The receiving node takes the frames out as slices of the message it
// received: nothing is decoded or copied per frame.
func TestEnvelopeFramesAliasTheMessage(t *testing.T) {
	raw, err := protocol.MarshalEnvelope(sampleEnvelope(t))
	if err != nil {
		t.Fatal(err)
	}
	out, err := protocol.UnmarshalEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	inside := func(b []byte) bool {
		start := &raw[0]
		for i := range raw {
			if &raw[i] == &b[0] {
				return cap(b) == len(b) && i+len(b) <= len(raw) && start != nil
			}
		}
		return false
	}
	for _, b := range out.Broadcasts {
		if !inside(b.Raw) {
			t.Errorf("broadcast %d was copied, or its capacity reaches past it", b.Seq)
		}
	}
	if !inside(out.Results["u1"]) || !inside(out.Teacher[0]) {
		t.Error("a direct frame was copied")
	}
	empty, err := protocol.MarshalEnvelope(protocol.Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	if e, err := protocol.UnmarshalEnvelope(empty); err != nil || !e.Empty() {
		t.Fatalf("empty envelope: %+v, %v", e, err)
	}
}

// Every truncation and a wrong version are refused, never a panic or a
// partial envelope.
func TestEnvelopeRefusesDamagedMessages(t *testing.T) {
	raw, err := protocol.MarshalEnvelope(sampleEnvelope(t))
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(raw) {
		if _, err := protocol.UnmarshalEnvelope(raw[:n]); err == nil {
			t.Fatalf("a message cut to %d of %d bytes decoded", n, len(raw))
		}
	}
	bad := append([]byte{9}, raw[1:]...)
	if _, err := protocol.UnmarshalEnvelope(bad); err == nil {
		t.Error("an unknown version decoded")
	}
	if _, err := protocol.UnmarshalEnvelope(append(bytes.Clone(raw), 0)); err == nil {
		t.Error("trailing bytes decoded")
	}
	huge := []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}
	if _, err := protocol.UnmarshalEnvelope(huge); err == nil {
		t.Error("a count larger than the message decoded")
	}
}

// FuzzUnmarshalEnvelope: no input makes the decoder panic, and what it
// accepts encodes back to the same bytes when it has at most one result.
func FuzzUnmarshalEnvelope(f *testing.F) {
	raw, err := protocol.MarshalEnvelope(sampleEnvelope(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := protocol.UnmarshalEnvelope(in)
		if err != nil || len(e.Results) > 1 {
			return
		}
		again, err := protocol.MarshalEnvelope(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := protocol.UnmarshalEnvelope(again); err != nil {
			t.Fatalf("re-encoded envelope does not decode: %v", err)
		}
	})
}

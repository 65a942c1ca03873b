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

package realtime

import (
	"encoding/json"
	"testing"

	"github.com/quizcast/quizcast/internal/protocol"
	"github.com/quizcast/quizcast/internal/quiz"
)

// FuzzClientFrame feeds arbitrary text frames through the decoding a
// socket applies to a client frame (the envelope, then the strict data of
// an answer or a kick). It must never panic, and every refusal must be an
// invalid_message of the contract.
func FuzzClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"answer","id":"1","data":{"question_id":"q","choices":["a","b"]}}`,
		`{"type":"kick","id":"2","data":{"user_id":"0b8c5a6e-6f1d-4d39-9a57-3c2b1f0e9d7a"}}`,
		`{"type":"ping","id":"3","data":{}}`, `{"type":"next","data":null}`,
		`{"type":"answer","data":{"question_id":"\u0000","choices":[1]}}`,
		`{"type":"answer","data":{"extra":true}}`, `[]`, `{"type":`, `"x"`, `{"data":[[[[[]]]]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fr clientFrame
		if err := json.Unmarshal(data, &fr); err != nil {
			return // answered "invalid_message" by handle
		}
		var a protocol.AnswerCommand
		var k protocol.KickCommand
		for _, dst := range []any{&a, &k, &struct{}{}} {
			if err := decodeData(fr.Data, dst); err != nil {
				if e, ok := quiz.AsError(err); !ok || e.Code != quiz.CodeInvalidMessage {
					t.Fatalf("refusal outside the vocabulary: %v", err)
				}
			}
		}
	})
}

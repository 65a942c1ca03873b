package rabbitmq_test

import (
	"strings"
	"testing"
	"time"

	"github.com/quizcast/quizcast/internal/rabbitmq"
)

const goodEvent = `{"event_id":"6F9619FF-8B86-D011-B42D-00C04FC964FF","name":"answer_submitted","occurred_at":"2026-12-01T06:00:00.123Z",` +
	`"school_id":"0b6f8c2e-7a43-4a8e-9a55-2f5a1e0c9d11","session_id":"1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f","app":"notebook",` +
	`"data":{"points":870,"big":12345678901234567890,"choices":["a"]}}`

func TestDecodeEvent(t *testing.T) {
	now := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	ok := func(body string) string {
		t.Helper()
		e, err := rabbitmq.DecodeEvent([]byte(body), now)
		if err != nil {
			t.Fatalf("DecodeEvent(%s): %v", body, err)
		}
		if e.Data != nil {
			t.Errorf("Data = %v, want nil (the data is in RawData)", e.Data)
		}
		return string(e.RawData)
	}
	// data is kept as sent: numbers exactly (no float rounding), key order.
	if got, want := ok(goodEvent), `{"points":870,"big":12345678901234567890,"choices":["a"]}`; got != want {
		t.Errorf("RawData = %s, want %s", got, want)
	}
	e, _ := rabbitmq.DecodeEvent([]byte(goodEvent), now)
	if e.EventID != "6f9619ff-8b86-d011-b42d-00c04fc964ff" || e.Name != "answer_submitted" || e.App != "notebook" ||
		!e.OccurredAt.Equal(time.Date(2026, 12, 1, 6, 0, 0, 123e6, time.UTC)) || e.UserID != "" {
		t.Errorf("decoded %+v", e)
	}
	noData := strings.Replace(goodEvent, `,"data":{"points":870,"big":12345678901234567890,"choices":["a"]}`, ``, 1)
	if got := ok(noData); got != "{}" {
		t.Errorf("no data: RawData = %s, want {}", got)
	}
	if got := ok(strings.Replace(noData, `}`, `,"data": null }`, 1)); got != "{}" {
		t.Errorf("data null: RawData = %s, want {}", got)
	}
	if got := ok(strings.Replace(noData, `}`, `,"data": { "a" : 1 } ,"extra":true}`, 1)); got != `{ "a" : 1 }` {
		t.Errorf("spaced data: RawData = %s", got)
	}

	for _, tc := range []struct{ name, body, reason string }{
		{"not json", `{not json`, "not a JSON event"},
		{"trailing data", goodEvent + ` {}`, "not a JSON event"},
		{"data an array", strings.Replace(goodEvent, `"data":{`, `"data":[{`, 1) + "]", "not a JSON event"},
		{"data a number", strings.Replace(noData, `}`, `,"data":5}`, 1), "data is not an object"},
		{"data a string", strings.Replace(noData, `}`, `,"data":"x"}`, 1), "data is not an object"},
		{"data not UTF-8", strings.Replace(goodEvent, `"a"`, "\"\xff\xfe\"", 1), "data is not valid UTF-8"},
		{"no event id", strings.Replace(goodEvent, `"event_id":"6F9619FF-8B86-D011-B42D-00C04FC964FF",`, ``, 1), "event_id is missing"},
		{"bad session id", strings.Replace(goodEvent, `1c2d3e4f-5a6b`, `nope`, 1), "session_id"},
		{"bad name", strings.Replace(goodEvent, `answer_submitted`, `Answer Submitted`, 1), "name"},
		{"old", strings.Replace(goodEvent, `2026-12-01T06`, `2020-12-01T06`, 1), "occurred_at"},
		{"unknown app", strings.Replace(goodEvent, `notebook`, `phone`, 1), `app "phone"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rabbitmq.DecodeEvent([]byte(tc.body), now)
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("DecodeEvent = %v, want an error mentioning %q", err, tc.reason)
			}
		})
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	now := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	body := []byte(goodEvent)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rabbitmq.DecodeEvent(body, now); err != nil {
			b.Fatal(err)
		}
	}
}

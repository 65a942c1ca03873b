package apicheck

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/quizcast/quizcast/api"
)

// wsFrame encodes one frame as RFC 6455 §5.2 lays it out.
func wsFrame(fin bool, op byte, mask []byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	var m byte
	if mask != nil {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, m|byte(n))
	case n < 1<<16:
		out = append(out, m|126, 0, 0)
		binary.BigEndian.PutUint16(out[len(out)-2:], uint16(n))
	default:
		out = append(out, m|127, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint64(out[len(out)-8:], uint64(n))
	}
	p := bytes.Clone(payload)
	if mask != nil {
		out = append(out, mask...)
		for i := range p {
			p[i] ^= mask[i%4]
		}
	}
	return append(out, p...)
}

// TestFrameParser: masked and unmasked, 7/16-bit lengths, fragments,
// control frames between fragments, and input cut at every byte.
func TestFrameParser(t *testing.T) {
	t.Parallel()
	long := bytes.Repeat([]byte("x"), 300)
	mask := []byte{1, 2, 3, 4}
	stream := slicesConcat(
		wsFrame(true, 0x1, nil, []byte(`{"type":"pong"}`)),
		wsFrame(false, 0x1, mask, []byte(`{"type":`)),
		wsFrame(true, 0x9, mask, []byte("ping")), // control frame inside a message
		wsFrame(true, 0x0, mask, []byte(`"ping"}`)),
		wsFrame(true, 0x2, nil, []byte{1, 2, 3}), // binary: skipped
		wsFrame(true, 0x1, mask, long),
	)
	want := []string{`{"type":"pong"}`, `{"type":"ping"}`, string(long)}
	for cut := 1; cut <= len(stream); cut++ {
		var p frameParser
		var got []string
		for i := 0; i < len(stream); i += cut {
			for _, m := range p.feed(stream[i:min(i+cut, len(stream))]) {
				got = append(got, string(m))
			}
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("chunks of %d: got %q", cut, got)
		}
	}
}

func slicesConcat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestFramesAgainstAsyncAPI: the embedded document compiles, a conforming
// frame passes, a drifted one and an unknown type fail.
func TestFramesAgainstAsyncAPI(t *testing.T) {
	t.Parallel()
	a, err := LoadAsyncAPI(api.AsyncAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ServerFrame([]byte(`{"type":"session.ended","seq":3,"data":{"ended_at":"2026-12-01T10:00:00.000Z"}}`)); err != nil {
		t.Errorf("a valid frame: %v", err)
	}
	for _, bad := range []string{
		`{"type":"session.ended","seq":"3","data":{"ended_at":"2026-12-01T10:00:00.000Z"}}`,
		`{"type":"session.ended","seq":3,"data":{"ended_at":"yesterday"}}`,
		`{"type":"dance","data":{}}`,
		`{not json`,
	} {
		if err := a.ServerFrame([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	if err := a.ClientFrame([]byte(`{"type":"ping","id":"p1","data":{}}`)); err != nil {
		t.Errorf("a valid ping: %v", err)
	}
	if err := a.ServerFrame([]byte(`{"type":"ping","id":"p1","data":{}}`)); err == nil {
		t.Error("the server may not send a client message")
	}
}

// TestExchange: a documented answer passes; one outside its schema, an
// unknown path answered 200, and a refusal outside the error shape fail;
// a request outside the schema must be refused.
func TestExchange(t *testing.T) {
	t.Parallel()
	o, err := LoadOpenAPI(api.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	json := http.Header{"Content-Type": {"application/json"}}
	get := func(path string) *http.Request { return httptest.NewRequest("GET", "http://127.0.0.1:1"+path, nil) }
	if err := o.Exchange(get("/healthz"), nil, 200, json, []byte(`{"status":"ok"}`)); err != nil {
		t.Errorf("healthz: %v", err)
	}
	if err := o.Exchange(get("/healthz"), nil, 200, json, []byte(`{"status":"fine"}`)); err == nil {
		t.Error("a drifted healthz passed")
	}
	if err := o.Exchange(get("/nowhere"), nil, 200, json, []byte(`{}`)); err == nil {
		t.Error("an undocumented 200 passed")
	}
	if err := o.Exchange(get("/nowhere"), nil, 404, json, []byte(`{"error":{"code":"not_found","message":"x","request_id":"r"}}`)); err != nil {
		t.Errorf("a 404 in the error shape: %v", err)
	}
	if err := o.Exchange(get("/nowhere"), nil, 404, http.Header{"Content-Type": {"text/plain"}}, []byte("404 page not found")); err == nil {
		t.Error("a text/plain 404 passed")
	}
	bad := httptest.NewRequest("GET", "http://127.0.0.1:1/api/v1/quizzes?limit=0", nil)
	bad.Header.Set("Authorization", "Bearer x")
	if err := o.Exchange(bad, nil, 200, json, []byte(`{"items":[]}`)); err == nil {
		t.Error("a request outside the schema answered 200 passed")
	}
}

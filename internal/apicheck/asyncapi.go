package apicheck

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"
)

// AsyncAPI holds the compiled payload schema of every message of
// api/asyncapi.yaml, split by direction.
type AsyncAPI struct {
	// server are the messages the server sends, client those it receives,
	// by the frame's `type`.
	server, client map[string]*jsonschema.Schema
}

// LoadAsyncAPI compiles the payload schemas of spec (api.AsyncAPI): the
// operations with action `send` name what the server sends, `receive`
// what the clients send.
func LoadAsyncAPI(spec []byte) (*AsyncAPI, error) {
	raw, err := yaml.YAMLToJSON(spec)
	if err != nil {
		return nil, fmt.Errorf("asyncapi: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("asyncapi: %w", err)
	}
	var shape struct {
		Channels map[string]struct {
			Messages map[string]struct {
				Ref string `json:"$ref"`
			} `json:"messages"`
		} `json:"channels"`
		Operations map[string]struct {
			Action   string `json:"action"`
			Messages []struct {
				Ref string `json:"$ref"`
			} `json:"messages"`
		} `json:"operations"`
		Components struct {
			Messages map[string]struct {
				Name string `json:"name"`
			} `json:"messages"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &shape); err != nil {
		return nil, fmt.Errorf("asyncapi: %w", err)
	}
	const url = "file:///api/asyncapi.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7) // AsyncAPI 3.0's default schema format
	c.AssertFormat()
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("asyncapi: %w", err)
	}
	a := &AsyncAPI{server: map[string]*jsonschema.Schema{}, client: map[string]*jsonschema.Schema{}}
	for opName, op := range shape.Operations {
		into := a.server
		switch op.Action {
		case "send":
		case "receive":
			into = a.client
		default:
			return nil, fmt.Errorf("asyncapi: operation %s has action %q", opName, op.Action)
		}
		for _, m := range op.Messages {
			// "#/channels/session/messages/welcome" → the channel's $ref to
			// "#/components/messages/welcome".
			parts := strings.Split(strings.TrimPrefix(m.Ref, "#/"), "/")
			if len(parts) != 4 || parts[0] != "channels" || parts[2] != "messages" {
				return nil, fmt.Errorf("asyncapi: operation %s: unexpected message ref %q", opName, m.Ref)
			}
			ref := shape.Channels[parts[1]].Messages[parts[3]].Ref
			key := strings.TrimPrefix(ref, "#/components/messages/")
			msg, ok := shape.Components.Messages[key]
			if !ok || msg.Name == "" {
				return nil, fmt.Errorf("asyncapi: operation %s: message %q has no name", opName, ref)
			}
			s, err := c.Compile(url + ref + "/payload")
			if err != nil {
				return nil, fmt.Errorf("asyncapi: message %s: %w", msg.Name, err)
			}
			into[msg.Name] = s
		}
	}
	if len(a.server) == 0 || len(a.client) == 0 {
		return nil, fmt.Errorf("asyncapi: %d server and %d client messages", len(a.server), len(a.client))
	}
	return a, nil
}

// frameHead is what the checks read of every frame.
type frameHead struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data struct {
		Code string `json:"code"`
	} `json:"data"`
}

// ServerFrame checks a text frame the server sent.
func (a *AsyncAPI) ServerFrame(raw []byte) error {
	return check(a.server, "server", raw)
}

// ClientFrame checks a text frame a client sent.
func (a *AsyncAPI) ClientFrame(raw []byte) error {
	return check(a.client, "client", raw)
}

func check(schemas map[string]*jsonschema.Schema, who string, raw []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%s frame is not JSON: %.200q", who, raw)
	}
	var head frameHead
	_ = json.Unmarshal(raw, &head)
	s, ok := schemas[head.Type]
	if !ok {
		return fmt.Errorf("%s frame of type %q is not in api/asyncapi.yaml: %.300s", who, head.Type, raw)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%s frame %s outside api/asyncapi.yaml: %#v\nframe: %.600s", who, head.Type, err, raw)
	}
	return nil
}

// frameConn is a hijacked server connection whose WebSocket frames are
// checked in both directions as they pass.
type frameConn struct {
	net.Conn
	r      io.Reader
	spec   *AsyncAPI
	report *reporter
	in     frameParser // client → server (masked)
	out    frameParser // server → client

	mu sync.Mutex
	// invalid are the client frames outside the schema, by request id,
	// until the server refuses them with error invalid_message.
	invalid map[string][]string
}

func newFrameConn(c net.Conn, r io.Reader, spec *AsyncAPI, report *reporter) *frameConn {
	return &frameConn{Conn: c, r: r, spec: spec, report: report, invalid: map[string][]string{}}
}

func (c *frameConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for _, msg := range c.in.feed(p[:n]) {
		if err := c.spec.ClientFrame(msg); err != nil {
			var head frameHead
			_ = json.Unmarshal(msg, &head)
			c.mu.Lock()
			c.invalid[head.ID] = append(c.invalid[head.ID], err.Error())
			c.mu.Unlock()
		}
	}
	return n, err
}

func (c *frameConn) Write(p []byte) (int, error) {
	for _, msg := range c.out.feed(p) {
		if err := c.spec.ServerFrame(msg); err != nil {
			c.report.errorf("%v", err)
			continue
		}
		var head frameHead
		_ = json.Unmarshal(msg, &head)
		if head.Type == "error" && head.Data.Code == "invalid_message" {
			c.mu.Lock()
			if q := c.invalid[head.ID]; len(q) > 0 {
				c.invalid[head.ID] = q[1:]
			}
			c.mu.Unlock()
		}
	}
	return c.Conn.Write(p)
}

// unrefused lists the client frames outside the schema that the server
// did not answer with invalid_message.
func (c *frameConn) unrefused() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, q := range c.invalid {
		for _, e := range q {
			out = append(out, e+" (and the server did not refuse it with invalid_message)")
		}
	}
	return out
}

// frameParser reassembles the text messages of one direction of a
// WebSocket stream (RFC 6455 §5.2); control and binary frames are skipped.
type frameParser struct {
	buf     []byte
	msg     []byte
	text    bool // the message being reassembled is text
	partial bool
}

// maxBuffered bounds what a parser keeps of one frame: larger frames are
// refused by the server (1009) before they matter.
const maxBuffered = 1 << 20

// feed consumes p and returns the text messages it completed.
func (f *frameParser) feed(p []byte) [][]byte {
	f.buf = append(f.buf, p...)
	var done [][]byte
	for {
		if len(f.buf) < 2 {
			return done
		}
		fin := f.buf[0]&0x80 != 0
		op := f.buf[0] & 0x0f
		masked := f.buf[1]&0x80 != 0
		n := uint64(f.buf[1] & 0x7f)
		h := 2
		switch n {
		case 126:
			if len(f.buf) < 4 {
				return done
			}
			n, h = uint64(binary.BigEndian.Uint16(f.buf[2:4])), 4
		case 127:
			if len(f.buf) < 10 {
				return done
			}
			n, h = binary.BigEndian.Uint64(f.buf[2:10]), 10
		}
		var key []byte
		if masked {
			if len(f.buf) < h+4 {
				return done
			}
			key = f.buf[h : h+4]
			h += 4
		}
		if n > maxBuffered {
			// Not followed further: the server closes such a socket.
			f.buf = nil
			return done
		}
		if uint64(len(f.buf)-h) < n {
			return done
		}
		payload := bytes.Clone(f.buf[h : h+int(n)])
		for i := range payload {
			if masked {
				payload[i] ^= key[i%4]
			}
		}
		f.buf = f.buf[h+int(n):]
		switch {
		case op >= 0x8: // close, ping, pong
			continue
		case op == 0x1 || op == 0x2:
			f.text, f.msg, f.partial = op == 0x1, payload, true
		case op == 0x0 && f.partial:
			f.msg = append(f.msg, payload...)
		default:
			continue
		}
		if fin {
			if f.text {
				done = append(done, f.msg)
			}
			f.msg, f.partial = nil, false
		}
	}
}

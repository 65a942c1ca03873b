package realtime

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/protocol"
)

// Close codes of the contract (§6).
const (
	StatusNormal       = 1000
	StatusGoingAway    = 1001
	StatusUnsupported  = 1003
	StatusInvalidUTF8  = 1007
	StatusPolicy       = 1008
	StatusTooBig       = 1009
	StatusTokenExpired = 4401
	StatusKicked       = 4403
)

// conn is one socket: a reader (the handler's goroutine) and a writer
// goroutine fed by a bounded queue. A socket that cannot keep up with its
// queue is closed; it never holds up the hub.
type conn struct {
	ws      *websocket.Conn
	id      auth.Identity
	name    string
	teacher bool
	cfg     *Config

	queue   chan []byte
	lastSeq int64 // guarded by the hub's mutex

	closeOnce sync.Once
	closing   chan struct{} // closed when a close was asked for
	done      chan struct{} // closed when the writer has finished
	code      int
	reason    string
	flush     bool
}

func newConn(ws *websocket.Conn, id auth.Identity, name string, teacher bool, cfg *Config) *conn {
	size := cfg.SendQueue
	if teacher {
		size = cfg.TeacherSendQueue
	}
	return &conn{ws: ws, id: id, name: name, teacher: teacher, cfg: cfg,
		queue: make(chan []byte, size), closing: make(chan struct{}), done: make(chan struct{})}
}

// enqueueWait queues a message for the socket's own handler, waiting for
// room up to the write timeout (a replay may be longer than the queue).
func (c *conn) enqueueWait(msg []byte) {
	t := time.NewTimer(c.cfg.WriteTimeout)
	defer t.Stop()
	select {
	case c.queue <- msg:
	case <-c.closing:
	case <-t.C:
		c.closeWith(StatusPolicy, "too slow to keep up with the session", false)
	}
}

// enqueue queues a message without ever blocking; a full queue means the
// peer is too slow, and the socket is closed.
func (c *conn) enqueue(msg []byte) {
	select {
	case <-c.closing:
		return
	default:
	}
	select {
	case c.queue <- msg:
	default:
		c.closeWith(StatusPolicy, "too slow to keep up with the session", false)
	}
}

// sendBroadcast queues a broadcast unless the socket already has it.
// Called with the hub's mutex held.
func (c *conn) sendBroadcast(seq int64, raw []byte) {
	if seq <= c.lastSeq {
		return
	}
	c.lastSeq = seq
	c.enqueue(raw)
}

// send queues an encoded direct message.
func (c *conn) send(frame []byte) {
	c.enqueue(frame)
}

// reply sends a direct message echoing the client's request id.
func (c *conn) reply(reqID, typ string, data any) {
	frame, err := protocol.EncodeReply(reqID, typ, data)
	if err != nil {
		return
	}
	c.send(frame)
}

// closeWith asks the writer to close the socket with code; with flush it
// first sends what is queued.
func (c *conn) closeWith(code int, reason string, flush bool) {
	c.closeOnce.Do(func() {
		c.code, c.reason, c.flush = code, reason, flush
		close(c.closing)
	})
}

// writeLoop writes queued messages until a close is asked for, then
// (flushing if asked) closes the socket.
func (c *conn) writeLoop() {
	defer close(c.done)
	write := func(msg []byte) error {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.WriteTimeout)
		defer cancel()
		return c.ws.Write(ctx, websocket.MessageText, msg)
	}
	for {
		select {
		case msg := <-c.queue:
			if err := write(msg); err != nil {
				c.closeWith(StatusGoingAway, "write failed", false)
				c.ws.CloseNow()
				return
			}
		case <-c.closing:
			if c.flush {
			drain:
				for {
					select {
					case msg := <-c.queue:
						if write(msg) != nil {
							break drain
						}
					default:
						break drain
					}
				}
			}
			c.closeSocket()
			return
		}
	}
}

// closeSocket sends the close frame and waits a little for the peer's.
func (c *conn) closeSocket() {
	done := make(chan struct{})
	go func() {
		_ = c.ws.Close(websocket.StatusCode(c.code), c.reason)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		c.ws.CloseNow()
	}
}

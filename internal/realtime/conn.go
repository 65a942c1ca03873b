package realtime

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
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
	StatusReplaced     = 4409
)

// kind tells what a queued frame is, so a teacher's backlog can replace an
// older progress or merge participants instead of growing.
type kind uint8

const (
	kindFrame        kind = iota
	kindPartial           // the rest of a frame already partly written: never replaced
	kindProgress          // answer.progress: the newest replaces an unsent one
	kindParticipants      // participants: merged with an unsent one
)

type outFrame struct {
	b    []byte // a whole WebSocket frame (header and payload)
	kind kind
}

// conn is one socket. It has no writer goroutine: whoever delivers a frame
// (the hub, the socket's own task, a timer) writes it at once with a
// non-blocking system call. Only when the kernel's send buffer is full, or
// another write is under way, does the frame wait in a queue (allocated
// then) that a short-lived goroutine drains with a write deadline. An idle
// socket is its reader goroutine and this struct.
type conn struct {
	ws      *websocket.Conn
	nc      net.Conn        // the hijacked connection
	raw     syscall.RawConn // nil when nc is no socket: every write is handed off
	writeFD func(fd uintptr) bool
	wbuf    []byte // tryWrite's frame, written count and error (write side's owner only)
	wn      int
	werr    error
	id      auth.Identity
	name    string
	teacher bool
	cfg     *Config

	lastSeq int64 // guarded by the hub's mutex

	wmu      sync.Mutex
	idle     *sync.Cond // signalled when busy turns false
	busy     bool       // someone owns the write side
	out      []outFrame // frames waiting for the write side; nil when none
	closeReq bool       // no more data frames; close once out is written
	started  bool       // closeSocket was started
	dead     bool       // a write failed: the connection is gone

	tmu     sync.Mutex
	tasks   []func() // the socket's commands and answers, run in order
	running bool

	closeOnce sync.Once
	doneOnce  sync.Once
	closing   chan struct{} // closed when a close was asked for
	done      chan struct{} // closed when the socket is closed
	code      int
	reason    string
}

func newConn(id auth.Identity, name string, teacher bool, cfg *Config) *conn {
	c := &conn{id: id, name: name, teacher: teacher, cfg: cfg,
		closing: make(chan struct{}), done: make(chan struct{})}
	c.idle = sync.NewCond(&c.wmu)
	c.writeFD = c.rawWrite
	return c
}

// Read buffer and control-frame buffer sizes of a socket after the
// hijack. net/http hands over a 4 KiB reader and a 4 KiB writer that
// coder/websocket would keep for the socket's life; clients send a few
// small frames and every data frame is written by conn itself, so small
// ones do (the coder/websocket writer only carries ping, pong and close,
// at most 127 bytes).
const (
	readBufferSize    = 512
	controlBufferSize = 256
)

// hijacker hands coder/websocket the connection with small buffers and
// routes its writes (control frames) through the socket's write side, so
// they never interleave with the frames conn writes itself.
type hijacker struct {
	http.ResponseWriter
	c *conn
}

// WriteHeaderNow lets coder/websocket flush gin's lazy 101 before the hijack.
func (h hijacker) WriteHeaderNow() {
	if w, ok := h.ResponseWriter.(interface{ WriteHeaderNow() }); ok {
		w.WriteHeaderNow()
	}
}

func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	// Bytes the client sent right after its handshake are already buffered.
	var r io.Reader = nc
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		r = io.MultiReader(bytes.NewReader(bytes.Clone(early)), nc)
	}
	h.c.nc = nc
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			h.c.raw = raw
		}
	}
	wrapped := controlConn{Conn: nc, c: h.c}
	return wrapped, bufio.NewReadWriter(bufio.NewReaderSize(r, readBufferSize),
		bufio.NewWriterSize(wrapped, controlBufferSize)), nil
}

// controlConn is the connection as coder/websocket sees it: reads go
// straight through, writes (ping, pong, close) wait for the write side.
type controlConn struct {
	net.Conn
	c *conn
}

func (w controlConn) Write(p []byte) (int, error) { return w.c.writeControl(p) }

// textFrame frames payload as one unmasked, final text frame (RFC 6455
// §5.2), the way a server sends it: the same bytes suit every socket.
func textFrame(payload []byte) []byte {
	n := len(payload)
	var b []byte
	switch {
	case n < 126:
		b = make([]byte, 2, 2+n)
		b[1] = byte(n)
	case n <= 0xFFFF:
		b = make([]byte, 4, 4+n)
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
	default:
		b = make([]byte, 10, 10+n)
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
	}
	b[0] = 0x81 // FIN, text
	return append(b, payload...)
}

// sendBroadcast writes a framed broadcast unless the socket already has
// it. Called with the hub's mutex held; it never blocks.
func (c *conn) sendBroadcast(seq int64, frame []byte) {
	if seq <= c.lastSeq {
		return
	}
	c.lastSeq = seq
	c.send(frame, kindFrame, false)
}

// sendFrame writes an encoded direct frame (its JSON bytes).
func (c *conn) sendFrame(raw []byte) {
	k := kindFrame
	if c.teacher {
		k = teacherKind(raw)
	}
	c.send(textFrame(raw), k, false)
}

// reply sends a direct message echoing the client's request id.
func (c *conn) reply(reqID, typ string, data any) {
	raw, err := protocol.EncodeReply(reqID, typ, data)
	if err != nil {
		return
	}
	c.send(textFrame(raw), kindFrame, false)
}

// send writes frame now if the socket's write side is free and the kernel
// takes it, else queues it. With force the queue's bound does not apply
// (the socket's own welcome and replay, bounded by the history). It never
// blocks.
func (c *conn) send(frame []byte, k kind, force bool) {
	c.wmu.Lock()
	if c.closeReq || c.dead {
		c.wmu.Unlock()
		return
	}
	if c.busy {
		ok := c.queueLocked(frame, k, force)
		c.wmu.Unlock()
		if !ok {
			c.closeWith(StatusPolicy, "too slow to keep up with the session", false)
		}
		return
	}
	c.busy = true
	c.wmu.Unlock()
	c.writeOwned(frame)
}

// writeOwned writes b for the owner of the write side, then hands what the
// kernel did not take (ahead of what was queued meanwhile) to drain, or
// gives the write side up.
func (c *conn) writeOwned(b []byte) {
	n, err := c.tryWrite(b)
	c.wmu.Lock()
	if err != nil {
		c.failLocked()
		c.wmu.Unlock()
		c.closeWith(StatusGoingAway, "write failed", false)
		return
	}
	if n < len(b) {
		c.out = append(c.out, outFrame{})
		copy(c.out[1:], c.out)
		c.out[0] = outFrame{b: b[n:], kind: kindPartial}
	}
	if len(c.out) > 0 {
		go c.drain()
	} else {
		c.releaseLocked()
	}
	c.wmu.Unlock()
}

// cork takes the write side of an idle socket so that the frames sent
// until uncork queue up and leave in one system call: a hub corks its
// sockets while it hands out one envelope (a close's question.closed,
// leaderboard and result). It reports whether it took the write side; a
// socket busy writing already queues, and is left alone.
func (c *conn) cork() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.busy || c.dead || c.raw == nil {
		return false
	}
	c.busy = true
	return true
}

// uncork writes what was queued since cork in one write and gives the
// write side up (or hands the rest to drain, as send does).
func (c *conn) uncork() {
	c.wmu.Lock()
	var buf []byte
	switch {
	case c.dead:
		c.wmu.Unlock()
		return
	case len(c.out) == 0:
		c.releaseLocked()
		c.wmu.Unlock()
		return
	case len(c.out) == 1:
		buf = c.out[0].b
	default:
		n := 0
		for _, f := range c.out {
			n += len(f.b)
		}
		buf = make([]byte, 0, n)
		for _, f := range c.out {
			buf = append(buf, f.b...)
		}
	}
	c.out = nil
	c.wmu.Unlock()
	c.writeOwned(buf)
}

// queueLocked adds a frame behind the one being written. A teacher's
// progress replaces an unsent one and participants merge with an unsent
// one, so a teacher's backlog stays small whatever the session's pace;
// past the bound the client is not reading and false is returned.
func (c *conn) queueLocked(frame []byte, k kind, force bool) bool {
	if k == kindProgress || k == kindParticipants {
		for i := len(c.out) - 1; i >= 0; i-- {
			if c.out[i].kind != k {
				continue
			}
			if k == kindParticipants {
				merged, ok := mergeParticipants(c.out[i].b, frame)
				if !ok {
					break
				}
				frame = merged
			}
			c.out[i].b = frame
			return true
		}
	}
	limit := c.cfg.SendQueue
	if c.teacher {
		limit = c.cfg.TeacherSendQueue
	}
	if !force && len(c.out) >= limit {
		return false
	}
	c.out = append(c.out, outFrame{b: frame, kind: k})
	return true
}

// tryWrite writes b with non-blocking system calls; it returns how much the
// kernel took (less than len(b) when the send buffer is full). Only the
// owner of the write side calls it.
func (c *conn) tryWrite(b []byte) (int, error) {
	if c.raw == nil {
		return 0, nil
	}
	c.wbuf, c.wn, c.werr = b, 0, nil
	err := c.raw.Write(c.writeFD)
	n := c.wn
	if err == nil {
		err = c.werr
	}
	c.wbuf, c.werr = nil, nil
	return n, err
}

// rawWrite is tryWrite's system calls, a method value made once per socket
// so that a write allocates nothing.
func (c *conn) rawWrite(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		m, err := syscall.Write(int(fd), c.wbuf[c.wn:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return true
		case err != nil:
			c.werr = err
			return true
		}
		c.wn += m
	}
	return true
}

// drain writes the queue with a write deadline until it is empty. It runs
// in its own goroutine, owning the write side, only while a socket has a
// backlog.
func (c *conn) drain() {
	for {
		c.wmu.Lock()
		if c.dead || len(c.out) == 0 {
			c.releaseLocked()
			c.wmu.Unlock()
			return
		}
		batch := make(net.Buffers, len(c.out))
		for i, f := range c.out {
			batch[i] = f.b
		}
		c.out = nil
		c.wmu.Unlock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
		_, err := batch.WriteTo(c.nc)
		_ = c.nc.SetWriteDeadline(time.Time{})
		if err != nil {
			c.wmu.Lock()
			c.failLocked()
			c.wmu.Unlock()
			c.closeWith(StatusGoingAway, "too slow to keep up with the session", false)
			return
		}
	}
}

// writeControl writes a control frame of coder/websocket (ping, pong,
// close), waiting for the write side; it blocks its caller, never the hub.
func (c *conn) writeControl(p []byte) (int, error) {
	c.wmu.Lock()
	for c.busy && !c.dead {
		c.idle.Wait()
	}
	if c.dead {
		c.wmu.Unlock()
		return 0, net.ErrClosed
	}
	c.busy = true
	c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	n, err := c.nc.Write(p)
	_ = c.nc.SetWriteDeadline(time.Time{})
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err != nil {
		c.failLocked()
		return n, err
	}
	if len(c.out) > 0 {
		go c.drain()
	} else {
		c.releaseLocked()
	}
	return n, nil
}

// releaseLocked gives up the write side; a close that waited for the
// queue starts now.
func (c *conn) releaseLocked() {
	c.busy = false
	c.out = nil
	c.idle.Broadcast()
	if c.closeReq && !c.started {
		c.started = true
		go c.closeSocket()
	}
}

func (c *conn) failLocked() {
	c.dead = true
	c.busy = false
	c.out = nil
	c.idle.Broadcast()
	go func() {
		if c.ws != nil {
			c.ws.CloseNow()
		} else {
			c.nc.Close()
		}
		c.markDone()
	}()
}

// closeWith closes the socket with code; with flush it first writes what
// is queued, without it drops that.
// isClosing reports whether closeWith was called.
func (c *conn) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

func (c *conn) closeWith(code int, reason string, flush bool) {
	c.closeOnce.Do(func() {
		c.code, c.reason = code, reason
		close(c.closing)
		c.wmu.Lock()
		c.closeReq = true
		if !flush && len(c.out) > 0 && c.out[0].kind == kindPartial {
			c.out = c.out[:1] // the frame under way must end before the close frame
		} else if !flush {
			c.out = nil
		}
		start := !c.started && (!c.busy || !flush)
		c.started = c.started || start
		c.wmu.Unlock()
		if start {
			go c.closeSocket()
		}
	})
}

// closeSocket sends the close frame and waits a little for the peer's.
func (c *conn) closeSocket() {
	defer c.markDone()
	if c.ws == nil {
		return
	}
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

func (c *conn) markDone() { c.doneOnce.Do(func() { close(c.done) }) }

// submit runs f after the socket's earlier tasks, off its reader: a
// command or an answer waiting for PostgreSQL never stops the socket from
// reading its next frame, and its replies keep their order.
func (c *conn) submit(f func()) {
	c.tmu.Lock()
	c.tasks = append(c.tasks, f)
	if c.running {
		c.tmu.Unlock()
		return
	}
	c.running = true
	c.tmu.Unlock()
	go c.runTasks()
}

func (c *conn) runTasks() {
	for {
		c.tmu.Lock()
		if len(c.tasks) == 0 {
			c.running = false
			c.tasks = nil
			c.tmu.Unlock()
			return
		}
		f := c.tasks[0]
		c.tasks[0] = nil
		c.tasks = c.tasks[1:]
		c.tmu.Unlock()
		f()
	}
}

// teacherKind tells a teacher-only frame that a newer one supersedes.
func teacherKind(raw []byte) kind {
	switch {
	case bytes.HasPrefix(raw, []byte(`{"type":"`+protocol.TypeAnswerProgress+`"`)):
		return kindProgress
	case bytes.HasPrefix(raw, []byte(`{"type":"`+protocol.TypeParticipants+`"`)):
		return kindParticipants
	}
	return kindFrame
}

// payload returns the payload of a frame built by textFrame.
func payload(frame []byte) []byte {
	switch frame[1] {
	case 126:
		return frame[4:]
	case 127:
		return frame[10:]
	}
	return frame[2:]
}

// mergeParticipants folds two unsent participants frames into one that
// leaves the client where both would: the newer counts, and for each user
// the last of joined or left. Only a teacher socket with a backlog pays
// for it.
func mergeParticipants(older, newer []byte) ([]byte, bool) {
	type frame struct {
		Type string                `json:"type"`
		Data protocol.Participants `json:"data"`
	}
	var a, b frame
	if json.Unmarshal(payload(older), &a) != nil || json.Unmarshal(payload(newer), &b) != nil {
		return nil, false
	}
	joined := map[string]string{}
	var order []string
	last := map[string]bool{} // user → joined last
	apply := func(p protocol.Participants) {
		for _, j := range p.Joined {
			if _, seen := last[j.UserID]; !seen {
				order = append(order, j.UserID)
			}
			last[j.UserID], joined[j.UserID] = true, j.Name
		}
		for _, id := range p.Left {
			if _, seen := last[id]; !seen {
				order = append(order, id)
			}
			last[id] = false
		}
	}
	apply(a.Data)
	apply(b.Data)
	m := protocol.Participants{Count: b.Data.Count, Connected: b.Data.Connected,
		Joined: []protocol.Participant{}, Left: []string{}}
	for _, id := range order {
		if last[id] {
			m.Joined = append(m.Joined, protocol.Participant{UserID: id, Name: joined[id]})
		} else {
			m.Left = append(m.Left, id)
		}
	}
	raw, err := json.Marshal(frame{Type: protocol.TypeParticipants, Data: m})
	if err != nil {
		return nil, false
	}
	return textFrame(raw), true
}

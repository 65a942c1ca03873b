package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/background"
	"github.com/quizcast/quizcast/internal/live"
	"github.com/quizcast/quizcast/internal/policy"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/protocol"
	"github.com/quizcast/quizcast/internal/quiz"
)

// Config tunes the sockets.
type Config struct {
	// AllowedOrigins are the browser origins allowed to open sockets;
	// requests without an Origin header (native apps) are always allowed.
	AllowedOrigins []string
	// SendQueue is a student socket's queue; a socket that lets it fill
	// is closed (default 64: a student gets a few frames per question).
	SendQueue int
	// TeacherSendQueue is the teacher's (default 256: joins, progress).
	TeacherSendQueue int
	// WriteTimeout bounds one write (default 10 s).
	WriteTimeout time.Duration
	// PingInterval and PongTimeout detect dead peers (25 s, 10 s).
	PingInterval time.Duration
	PongTimeout  time.Duration
	// MaxFramesPerSecond closes a socket sending more (default 20).
	MaxFramesPerSecond int
	// ReadLimit is the largest frame accepted (default 16 KiB).
	ReadLimit int64
	// RevocationCheck is how often sockets' logins are checked (2 s).
	RevocationCheck time.Duration
	// Limits bound the node's commands and answers in flight.
	Limits Limits
}

func (c *Config) defaults() {
	if c.SendQueue <= 0 {
		c.SendQueue = 64
	}
	if c.TeacherSendQueue <= 0 {
		c.TeacherSendQueue = 256
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = 10 * time.Second
	}
	if c.MaxFramesPerSecond <= 0 {
		c.MaxFramesPerSecond = 20
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = 16 << 10
	}
	if c.RevocationCheck <= 0 {
		c.RevocationCheck = 2 * time.Second
	}
}

// Authenticator proves who opens a socket and whether a login still holds.
type Authenticator interface {
	Verify(ctx context.Context, accessToken string) (auth.Identity, error)
	RedeemTicket(ctx context.Context, ticket string) (auth.Identity, error)
	RevokedLogins(ctx context.Context, loginIDs []string) (map[string]bool, error)
	// RevocationEpoch is a counter every revocation raises.
	RevocationEpoch(ctx context.Context) (int64, error)
}

// Sessions is the live session service as the sockets use it.
type Sessions interface {
	Authorize(ctx context.Context, id auth.Identity, sessionID string, a policy.Action) (postgres.Access, error)
	Snapshot(ctx context.Context, schoolID, sessionID string) (protocol.Snapshot, error)
	Command(ctx context.Context, id auth.Identity, sess quiz.Session, cmd live.Command, app quiz.App) (protocol.Snapshot, error)
	Answer(ctx context.Context, id auth.Identity, sess quiz.Session, questionID string, choices []string, app quiz.App) (protocol.AnswerAccepted, bool, error)
	Kick(ctx context.Context, id auth.Identity, sessionID, studentID string) error
	Joined(ctx context.Context, sess quiz.Session, studentID string) (int, error)
	Left(ctx context.Context, sess quiz.Session, studentID string)
	PublishTeacher(ctx context.Context, sessionID string, frame []byte)
}

// Server accepts the sockets of live sessions on this node.
type Server struct {
	cfg      Config
	auth     Authenticator
	sessions Sessions
	hubs     *Hubs
	broker   Broker
	presence *Presence
	queue    *Queue
	log      *slog.Logger
	stats    *Metrics
	draining atomic.Bool

	mu    sync.Mutex
	conns map[*conn]struct{}
	// stopping is set by Drain under mu: no socket starts after it, so
	// Drain can wait for every socket's goroutine (runs) to finish.
	stopping bool
	runs     sync.WaitGroup

	// The revocation watch's own state (WatchRevocations' goroutine only):
	// the epoch at the last full check of every socket's login, and when.
	revChecked bool
	revEpoch   int64
	revFull    time.Time
}

// NewServer returns the socket server.
func NewServer(cfg Config, a Authenticator, sessions Sessions, hubs *Hubs, broker Broker, presence *Presence, queue *Queue, log *slog.Logger, stats *Metrics) *Server {
	cfg.defaults()
	return &Server{cfg: cfg, auth: a, sessions: sessions, hubs: hubs, broker: broker, presence: presence, queue: queue,
		log: log, stats: stats, conns: map[*conn]struct{}{}}
}

// Admission is a handshake that passed every check.
type Admission struct {
	id      auth.Identity
	access  postgres.Access
	lastSeq *int64
}

// UserID is the admitted caller's user id (for the handshake rate limit).
func (a *Admission) UserID() string { return a.id.UserID }

// Admit checks a handshake before the upgrade: origin, identity (bearer
// token or single-use ticket), membership of the session. Its errors are
// contract errors for the HTTP answer.
func (s *Server) Admit(r *http.Request, sessionID string) (*Admission, error) {
	if s.draining.Load() {
		return nil, quiz.Errorf(quiz.CodeUnavailable, "this node is shutting down; reconnect")
	}
	if origin := r.Header.Get("Origin"); origin != "" && !s.originAllowed(origin, r.Host) {
		return nil, quiz.Errorf(quiz.CodeForbidden, "origin %q is not allowed", origin)
	}
	ctx := r.Context()
	var id auth.Identity
	var err error
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return nil, quiz.Errorf(quiz.CodeUnauthorized, "Authorization must be a Bearer token")
		}
		id, err = s.auth.Verify(ctx, strings.TrimSpace(token))
	} else if t := r.URL.Query().Get("ticket"); t != "" {
		id, err = s.auth.RedeemTicket(ctx, t)
	} else {
		return nil, quiz.Errorf(quiz.CodeUnauthorized, "a bearer token or a ws ticket is required")
	}
	if err != nil {
		return nil, err
	}
	a, err := s.sessions.Authorize(ctx, id, sessionID, policy.Join)
	if err != nil {
		return nil, err
	}
	adm := &Admission{id: id, access: a}
	if v := r.URL.Query().Get("last_seq"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, quiz.Invalid(map[string]string{"last_seq": "must be a non-negative integer"})
		}
		adm.lastSeq = &n
	}
	return adm, nil
}

func (s *Server) originAllowed(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if u.Host != "" && strings.EqualFold(u.Host, host) {
		return true // the node's own web client (/app/)
	}
	return slices.ContainsFunc(s.cfg.AllowedOrigins, func(o string) bool {
		return strings.EqualFold(strings.TrimRight(o, "/"), u.Scheme+"://"+u.Host)
	})
}

// Serve upgrades an admitted request, sets the socket up (hub, welcome,
// replay, join) and hands it to its reader goroutine; the handler returns
// so that net/http's buffers and the handler's stack are freed. closed is
// called once the socket is gone, with the close code the server sent (0:
// the upgrade failed), for the caller's metrics.
func (s *Server) Serve(w http.ResponseWriter, r *http.Request, adm *Admission, closed func(code int)) {
	sess := adm.access.Session
	c := newConn(adm.id, adm.access.Name, adm.access.Teacher, &s.cfg)
	ws, err := websocket.Accept(hijacker{ResponseWriter: w, c: c}, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the origin was checked against the allow-list in Admit
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		closed(0)
		return
	}
	c.ws = ws
	ws.SetReadLimit(s.cfg.ReadLimit)
	s.stats.connections.Inc()
	// The socket outlives the request's context only through ours.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	fail := func(code int, reason string) {
		c.closeWith(code, reason, true)
		s.stats.connections.Dec()
		cancel()
		closed(code)
	}

	hb, err := s.hubs.acquire(ctx, sess.ID, sess.SchoolID)
	if err != nil {
		s.log.Warn("joining hub failed", "session_id", sess.ID, "err", err)
		fail(StatusGoingAway, "temporarily unavailable; reconnect")
		return
	}
	snap, err := s.sessions.Snapshot(ctx, sess.SchoolID, sess.ID)
	if err != nil {
		s.hubs.release(hb)
		fail(StatusGoingAway, "temporarily unavailable; reconnect")
		return
	}
	welcome := protocol.Welcome{Session: snap, You: protocol.You{UserID: adm.id.UserID, Role: adm.id.Role}}
	var missed [][]byte
	if adm.lastSeq != nil {
		switch {
		case *adm.lastSeq == snap.Seq:
			welcome.Recovered = true
		case *adm.lastSeq < snap.Seq:
			frames, ok, err := s.broker.History(ctx, sess.ID, *adm.lastSeq, snap.Seq)
			if err == nil && ok {
				welcome.Recovered, welcome.Missed, missed = true, len(frames), frames
			}
		}
	}
	if adm.access.Teacher {
		welcome.You.Role = quiz.RoleTeacher
	}
	// The socket's own welcome and replay are not held to the queue's
	// bound (the history bounds them).
	if raw, err := protocol.Encode(protocol.TypeWelcome, welcome); err == nil {
		c.send(textFrame(raw), kindFrame, true)
	}
	for _, raw := range missed {
		c.send(textFrame(raw), kindFrame, true)
	}
	if snap.State == quiz.StateEnded {
		s.hubs.release(hb)
		fail(StatusNormal, "the session has ended")
		return
	}
	if !s.start(c) {
		s.hubs.release(hb)
		fail(StatusGoingAway, "server going away; reconnect")
		return
	}
	hb.add(c, snap.Seq)
	student := !adm.access.Teacher
	if student {
		s.joined(ctx, sess, c)
	}
	go s.run(ctx, cancel, c, hb, sess, student, closed)
}

// run reads the socket until it closes, then takes it out of its hub.
func (s *Server) run(ctx context.Context, cancel context.CancelFunc, c *conn, hb *hub, sess quiz.Session, student bool, closed func(code int)) {
	defer s.runs.Done() // last: the leave is recorded and the hub released
	defer cancel()
	defer s.stats.connections.Dec()
	defer s.hubs.release(hb)
	defer s.untrack(c)
	if !c.id.ExpiresAt.IsZero() {
		// Tokens are issued and checked by the node's clock, which the
		// hubs' deadlines use too, not by the wall clock.
		t := time.AfterFunc(c.id.ExpiresAt.Sub(s.hubs.closer.Now()), func() {
			c.closeWith(StatusTokenExpired, "the access token expired", true)
		})
		defer t.Stop()
	}
	ping := s.keepAlive(ctx, c)
	defer ping.Stop()

	s.readLoop(ctx, c, sess)

	c.closeWith(StatusGoingAway, "", false)
	select {
	case <-c.done:
		closed(c.code)
	case <-time.After(5 * time.Second):
		c.ws.CloseNow()
		closed(StatusGoingAway)
	}
	others := hb.remove(c)
	if student && !others {
		s.left(ctx, sess, c)
	}
}

// start registers a socket whose goroutine Drain will wait for; it reports
// false once the node drains.
func (s *Server) start(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.runs.Add(1)
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

func (s *Server) joined(ctx context.Context, sess quiz.Session, c *conn) {
	count, err := s.sessions.Joined(ctx, sess, c.id.UserID)
	if err != nil {
		s.log.Warn("recording join failed", "session_id", sess.ID, "err", err)
		return
	}
	connected := s.presence.connect(ctx, sess.ID)
	f, err := protocol.Encode(protocol.TypeParticipants, protocol.Participants{Count: count, Connected: connected,
		Joined: []protocol.Participant{{UserID: c.id.UserID, Name: c.name}}, Left: []string{}})
	if err == nil {
		s.sessions.PublishTeacher(ctx, sess.ID, f)
	}
}

func (s *Server) left(ctx context.Context, sess quiz.Session, c *conn) {
	connected := s.presence.disconnect(ctx, sess.ID)
	s.sessions.Left(ctx, sess, c.id.UserID)
	f, err := protocol.Encode(protocol.TypeParticipants, protocol.Participants{
		Count: s.presence.participants(ctx, sess.ID), Connected: connected,
		Joined: []protocol.Participant{}, Left: []string{c.id.UserID}})
	if err == nil {
		s.sessions.PublishTeacher(ctx, sess.ID, f)
	}
}

// keepAlive pings the peer every PingInterval; one that does not answer
// within PongTimeout is closed. A timer, not a goroutine per socket: the
// ping's goroutine lives only while a ping is out.
func (s *Server) keepAlive(ctx context.Context, c *conn) *time.Timer {
	var t *time.Timer
	t = time.AfterFunc(s.cfg.PingInterval, func() {
		select {
		case <-c.closing:
			return
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, s.cfg.PongTimeout)
		err := c.ws.Ping(pctx)
		cancel()
		if err != nil {
			c.closeWith(StatusGoingAway, "no pong", false)
			return
		}
		t.Reset(s.cfg.PingInterval)
	})
	return t
}

// clientFrame is a frame from a client.
type clientFrame struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	Data json.RawMessage `json:"data"`
}

func (s *Server) readLoop(ctx context.Context, c *conn, sess quiz.Session) {
	windowStart := time.Now()
	frames := 0
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			return
		}
		now := time.Now()
		if now.Sub(windowStart) >= time.Second {
			windowStart, frames = now, 0
		}
		frames++
		if frames > s.cfg.MaxFramesPerSecond {
			s.stats.policyCloses.Inc()
			c.closeWith(StatusPolicy, "more than "+strconv.Itoa(s.cfg.MaxFramesPerSecond)+" frames per second", false)
			return
		}
		if typ != websocket.MessageText {
			c.closeWith(StatusUnsupported, "binary frames are not supported", false)
			return
		}
		if !utf8.Valid(data) {
			c.closeWith(StatusInvalidUTF8, "invalid UTF-8", false)
			return
		}
		s.handle(ctx, c, sess, data)
	}
}

// decodeData decodes a command's data strictly: unknown fields and wrong
// types are invalid messages.
func decodeData(raw json.RawMessage, dst any) error {
	if len(raw) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return quiz.Errorf(quiz.CodeInvalidMessage, "invalid data: %v", err)
	}
	return nil
}

func (s *Server) sendError(c *conn, reqID string, err error) {
	e := quiz.Describe(err)
	if e.Code == quiz.CodeInternal {
		s.log.Error("socket command failed", "user_id", c.id.UserID, "err", err)
	}
	data := protocol.Error{Code: e.Code, Message: e.Message}
	if e.Code == quiz.CodeUnavailable {
		data.RetryAfterMs = max(e.RetryAfter, 1) * 1000
	}
	c.reply(reqID, protocol.TypeError, data)
}

// taskTimeout bounds a socket's command or answer, which outlives the
// socket if it closes meanwhile (an admitted command is carried out).
const taskTimeout = 30 * time.Second

// task runs f after the socket's earlier commands and answers, off its
// reader, with a context that the socket's close does not cancel.
func (s *Server) task(ctx context.Context, c *conn, f func(ctx context.Context)) {
	c.submit(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), taskTimeout)
		defer cancel()
		f(ctx)
	})
}

// command admits a teacher's command to the node's queue (or refuses it
// at once) and runs it off the reader.
func (s *Server) command(ctx context.Context, c *conn, reqID string, f func(ctx context.Context) error) {
	if err := s.queue.admit(); err != nil {
		s.sendError(c, reqID, err)
		return
	}
	s.task(ctx, c, func(ctx context.Context) {
		if err := s.queue.run(ctx, f); err != nil {
			s.sendError(c, reqID, err)
		}
	})
}

func (s *Server) handle(ctx context.Context, c *conn, sess quiz.Session, data []byte) {
	var f clientFrame
	if err := json.Unmarshal(data, &f); err != nil {
		s.sendError(c, "", quiz.Errorf(quiz.CodeInvalidMessage, "the frame is not a JSON object {type, id, data}"))
		return
	}
	switch f.Type {
	case protocol.TypeClientPing:
		c.reply(f.ID, protocol.TypePong, struct{}{})
	case protocol.TypeClientAnswer:
		s.answer(ctx, c, sess, f)
	case protocol.TypeClientStart, protocol.TypeClientNext, protocol.TypeClientClose, protocol.TypeClientEnd:
		if err := decodeData(f.Data, &struct{}{}); err != nil {
			s.sendError(c, f.ID, err)
			return
		}
		if !c.teacher {
			s.sendError(c, f.ID, quiz.Errorf(quiz.CodeForbidden, "only the session's teacher may %s it", f.Type))
			return
		}
		s.command(ctx, c, f.ID, func(ctx context.Context) error {
			_, err := s.sessions.Command(ctx, c.id, sess, live.Command(f.Type), quiz.AppWhiteboard)
			return err
		})
	case protocol.TypeClientKick:
		var k protocol.KickCommand
		if err := decodeData(f.Data, &k); err != nil {
			s.sendError(c, f.ID, err)
			return
		}
		if !c.teacher {
			s.sendError(c, f.ID, quiz.Errorf(quiz.CodeForbidden, "only the session's teacher may remove a student"))
			return
		}
		s.command(ctx, c, f.ID, func(ctx context.Context) error {
			return s.sessions.Kick(ctx, c.id, sess.ID, k.UserID)
		})
	default:
		s.sendError(c, f.ID, quiz.Errorf(quiz.CodeInvalidMessage, "unknown message type %q", f.Type))
	}
}

func (s *Server) answer(ctx context.Context, c *conn, sess quiz.Session, f clientFrame) {
	var a protocol.AnswerCommand
	if err := decodeData(f.Data, &a); err != nil {
		s.sendError(c, f.ID, err)
		return
	}
	if a.QuestionID == "" || a.Choices == nil {
		s.sendError(c, f.ID, quiz.Errorf(quiz.CodeInvalidMessage, "an answer needs question_id and choices"))
		return
	}
	if c.teacher {
		s.sendError(c, f.ID, quiz.Errorf(quiz.CodeForbidden, "only students answer"))
		return
	}
	if err := s.queue.admitAnswer(); err != nil {
		s.sendError(c, f.ID, err)
		return
	}
	s.task(ctx, c, func(ctx context.Context) {
		defer s.queue.answerDone()
		acc, _, err := s.sessions.Answer(ctx, c.id, sess, a.QuestionID, a.Choices, quiz.AppNotebook)
		if err == nil {
			c.reply(f.ID, protocol.TypeAnswerAccepted, acc)
			return
		}
		if e, ok := quiz.AsError(err); ok {
			switch e.Code {
			case quiz.CodeNotOpen, quiz.CodeClosed, quiz.CodeAlreadyAnswered, quiz.CodeInvalidChoice:
				c.reply(f.ID, protocol.TypeAnswerRejected, protocol.AnswerRejected{QuestionID: a.QuestionID, Code: e.Code})
				return
			}
		}
		s.sendError(c, f.ID, err)
	})
}

// WatchRevocations closes the sockets of revoked logins with 4401, every
// RevocationCheck, until ctx ends.
func (s *Server) WatchRevocations(ctx context.Context) {
	background.Every(ctx, s.cfg.RevocationCheck, false, s.closeRevoked)
}

// revocationBackstop is the longest a node goes without checking every
// socket's login, whatever the revocation epoch says (Redis restarted
// empty counts from 0 again, and could meet the epoch a node last saw).
const revocationBackstop = time.Minute

func (s *Server) closeRevoked(ctx context.Context) {
	// Nothing revoked anywhere since the last full check: one GET instead
	// of one EXISTS per socket's login (5,000 per node every 2 s at
	// district scale). The epoch is read before the check, so a
	// revocation during it is seen at the next tick.
	epoch, err := s.auth.RevocationEpoch(ctx)
	if err == nil && s.revChecked && epoch == s.revEpoch && time.Since(s.revFull) < revocationBackstop {
		return
	}
	if s.checkRevoked(ctx) && err == nil {
		s.revChecked, s.revEpoch, s.revFull = true, epoch, time.Now()
	}
}

// checkRevoked closes the sockets of revoked logins; it reports whether
// the check could be made.
func (s *Server) checkRevoked(ctx context.Context) bool {
	s.mu.Lock()
	byLogin := map[string][]*conn{}
	for c := range s.conns {
		byLogin[c.id.LoginID] = append(byLogin[c.id.LoginID], c)
	}
	s.mu.Unlock()
	if len(byLogin) == 0 {
		return true
	}
	ids := make([]string, 0, len(byLogin))
	for id := range byLogin {
		ids = append(ids, id)
	}
	revoked, err := s.auth.RevokedLogins(ctx, ids)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			s.log.Warn("revocation check failed", "err", err)
		}
		return false
	}
	for id, gone := range revoked {
		if !gone {
			continue
		}
		for _, c := range byLogin[id] {
			c.closeWith(StatusTokenExpired, "the login was revoked", true)
		}
	}
	return true
}

// Drain refuses new sockets and closes the open ones with 1001 after
// flushing what they are owed, so their clients reconnect elsewhere. It
// returns once every socket's goroutine has finished (its student_left
// recorded, its hub released and unsubscribed), or when ctx ends.
func (s *Server) Drain(ctx context.Context) {
	s.draining.Store(true)
	const reason = "server going away; reconnect"
	s.mu.Lock()
	s.stopping = true
	for c := range s.conns {
		c.closeWith(StatusGoingAway, reason, true) // one not yet in its hub too
	}
	s.mu.Unlock()
	s.hubs.CloseAll(ctx, StatusGoingAway, reason)
	done := make(chan struct{})
	go func() {
		s.runs.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("drain timed out before every socket was released", "err", ctx.Err())
	}
}

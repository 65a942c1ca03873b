// Package live runs live quiz sessions: the commands of teachers, the
// answers of students, the deadlines, and the publishing of what changed.
// REST handlers and WebSocket connections call the same Service, so a
// command given either way is one operation seen by every socket.
package live

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/background"
	"github.com/quizcast/quizcast/internal/policy"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/protocol"
	"github.com/quizcast/quizcast/internal/quiz"
)

// Store is the session storage the service needs.
type Store interface {
	Create(ctx context.Context, schoolID, userID string, admin bool, quizID, classroomID string, now time.Time) (quiz.Session, error)
	Access(ctx context.Context, schoolID, sessionID, userID string) (postgres.Access, error)
	Questions(ctx context.Context, schoolID, quizID string, version int) ([]quiz.Question, error)
	Opened(ctx context.Context, sessionID, questionID string) (opened, deadline time.Time, err error)
	Snapshot(ctx context.Context, schoolID, sessionID string) (protocol.Snapshot, error)
	Command(ctx context.Context, sess quiz.Session, decide postgres.Decide) (postgres.Committed, error)
	CloseDue(ctx context.Context, schoolID, sessionID string, now time.Time, decide postgres.Decide) (postgres.Committed, bool, error)
	DueSessions(ctx context.Context, now time.Time, limit int) ([]postgres.SessionRef, error)
	Join(ctx context.Context, sess quiz.Session, studentID string, now time.Time) (first bool, count int, err error)
	Left(ctx context.Context, sess quiz.Session, studentID string, now time.Time) error
	Kick(ctx context.Context, sess quiz.Session, studentID string, now time.Time) (int, error)
	ListByClassroom(ctx context.Context, schoolID, classroomID string, live bool, p quiz.Page) ([]protocol.Snapshot, *quiz.Cursor, error)
}

// AnswerWriter commits answers (with group commit).
type AnswerWriter interface {
	Write(ctx context.Context, a postgres.Answer) (postgres.Written, error)
}

// Publisher sends an envelope to every node's sockets of a session.
type Publisher interface {
	Publish(ctx context.Context, sessionID string, env protocol.Envelope) error
}

// Classrooms decides on classrooms (the policy package fits).
type Classrooms interface {
	Classroom(ctx context.Context, id auth.Identity, classroomID string, a policy.Action) (quiz.Classroom, error)
}

// Counter keeps the live counts behind answer.progress and participants.
type Counter interface {
	Answered(ctx context.Context, sessionID, questionID string, choices []string)
	Participants(ctx context.Context, sessionID string, count int)
	Connected(ctx context.Context, sessionID string) int
}

// Clock gives the instants the service stores (internal/clock: PostgreSQL's
// clock carried forward by the monotonic clock, never the wall clock).
type Clock interface {
	Now() time.Time
}

// Service is the live session service of one node.
type Service struct {
	store      Store
	classrooms Classrooms
	answers    AnswerWriter
	pub        Publisher
	counter    Counter
	clock      Clock
	log        *slog.Logger

	mu        sync.Mutex
	questions map[string][]quiz.Question // quiz id/version → questions (immutable)
	opened    map[string]openedAt        // session/question → when it opened (immutable)
}

type openedAt struct{ at, deadline time.Time }

// New returns a service whose every stored instant comes from clock.
func New(store Store, classrooms Classrooms, answers AnswerWriter, pub Publisher, counter Counter, clock Clock, log *slog.Logger) *Service {
	return &Service{store: store, classrooms: classrooms, answers: answers, pub: pub, counter: counter, clock: clock, log: log,
		questions: map[string][]quiz.Question{}, opened: map[string]openedAt{}}
}

// Now is the service's clock, to the millisecond the database keeps: the
// time of every stored instant and of every deadline, on every node.
func (s *Service) Now() time.Time {
	return s.clock.Now().Truncate(time.Millisecond)
}

// cacheLimit bounds the immutable caches; past it they start afresh.
const cacheLimit = 50_000

// Create opens a session in the lobby.
func (s *Service) Create(ctx context.Context, id auth.Identity, quizID, classroomID string) (protocol.Snapshot, error) {
	if err := policy.Teacher(id); err != nil {
		return protocol.Snapshot{}, err
	}
	sess, err := s.store.Create(ctx, id.SchoolID, id.UserID, id.Role == quiz.RoleAdmin, quizID, classroomID, s.Now())
	if err != nil {
		return protocol.Snapshot{}, err
	}
	return s.store.Snapshot(ctx, sess.SchoolID, sess.ID)
}

// Authorize loads the session of the caller's school and decides through
// the policy whether the caller may act on it.
func (s *Service) Authorize(ctx context.Context, id auth.Identity, sessionID string, a policy.Action) (postgres.Access, error) {
	if !quiz.ValidID(sessionID) {
		return postgres.Access{}, quiz.Errorf(quiz.CodeNotFound, "no such session")
	}
	acc, err := s.store.Access(ctx, id.SchoolID, sessionID, id.UserID)
	if err != nil {
		if errors.Is(err, quiz.ErrNotFound) {
			return acc, quiz.Errorf(quiz.CodeNotFound, "no such session")
		}
		return acc, err
	}
	facts := policy.SessionFacts{TeacherID: acc.Session.TeacherID, Enrolled: acc.Enrolled, Kicked: acc.Kicked}
	if err := policy.SessionAccess(id, facts, a); err != nil {
		return acc, err
	}
	return acc, nil
}

// Get returns the snapshot for its teacher, an enrolled student or an admin.
func (s *Service) Get(ctx context.Context, id auth.Identity, sessionID string) (protocol.Snapshot, error) {
	if _, err := s.Authorize(ctx, id, sessionID, policy.View); err != nil {
		return protocol.Snapshot{}, err
	}
	return s.store.Snapshot(ctx, id.SchoolID, sessionID)
}

// Snapshot returns the session's snapshot (the caller has authorized).
func (s *Service) Snapshot(ctx context.Context, schoolID, sessionID string) (protocol.Snapshot, error) {
	return s.store.Snapshot(ctx, schoolID, sessionID)
}

// ListByClassroom lists a classroom's sessions (live: lobby and running
// only) for its members, newest first.
func (s *Service) ListByClassroom(ctx context.Context, id auth.Identity, classroomID string, live bool, p quiz.Page) ([]protocol.Snapshot, *quiz.Cursor, error) {
	if _, err := s.classrooms.Classroom(ctx, id, classroomID, policy.View); err != nil {
		return nil, nil, err
	}
	return s.store.ListByClassroom(ctx, id.SchoolID, classroomID, live, p)
}

// Command names a session command (quiz.Command); a teacher may give
// the four below, close_due is the server's own.
type Command = quiz.Command

// The teacher's commands.
const CommandStart, CommandNext, CommandClose, CommandEnd = quiz.CommandStart, quiz.CommandNext, quiz.CommandClose, quiz.CommandEnd

// Do runs a teacher's command, publishes what it broadcast and returns the
// snapshot after it.
func (s *Service) Do(ctx context.Context, id auth.Identity, sessionID string, cmd Command, app quiz.App) (protocol.Snapshot, error) {
	a, err := s.Authorize(ctx, id, sessionID, policy.Manage)
	if err != nil {
		return protocol.Snapshot{}, err
	}
	return s.Command(ctx, id, a.Session, cmd, app)
}

// Command runs a command of the session's teacher, who was authorized
// already (a teacher's socket, at its handshake): it saves the socket's
// commands a query each. The store spends two round trips on it; the
// rules are quiz.Apply's, and each broadcast is encoded once, here, for
// both the database and the sockets.
func (s *Service) Command(ctx context.Context, id auth.Identity, sess quiz.Session, cmd Command, app quiz.App) (protocol.Snapshot, error) {
	if sess.TeacherID != id.UserID {
		return protocol.Snapshot{}, quiz.Errorf(quiz.CodeForbidden, "only the session's teacher may %s it", cmd)
	}
	switch cmd {
	case CommandStart, CommandNext, CommandClose, CommandEnd:
	default:
		return protocol.Snapshot{}, quiz.Errorf(quiz.CodeInvalidMessage, "unknown command %q", cmd)
	}
	// Warm the cache outside the session's lock.
	if _, err := s.quizQuestions(ctx, sess.SchoolID, sess.QuizID, sess.QuizVersion); err != nil {
		return protocol.Snapshot{}, err
	}
	now := s.Now()
	c, err := s.store.Command(ctx, sess, s.decide(ctx, cmd, quiz.Actor{UserID: id.UserID, App: app}, now))
	if err != nil {
		return protocol.Snapshot{}, err
	}
	s.publish(ctx, sess.ID, envelope(c))
	t := c.Transition
	return protocol.SnapshotOf(t.Session, t.Current, t.Participants), nil
}

// decide applies cmd to what the store read, with the cached questions.
func (s *Service) decide(ctx context.Context, cmd quiz.Command, by quiz.Actor, now time.Time) postgres.Decide {
	return Decide(func(sess quiz.Session) ([]quiz.Question, error) {
		return s.quizQuestions(ctx, sess.SchoolID, sess.QuizID, sess.QuizVersion)
	}, cmd, by, now)
}

// Decide is a command's decision between its round trips: the rules of
// quiz.Apply over the session's questions, then its broadcasts encoded.
func Decide(questions func(quiz.Session) ([]quiz.Question, error), cmd quiz.Command, by quiz.Actor, now time.Time) postgres.Decide {
	return func(r quiz.Room) (quiz.Transition, []protocol.Broadcast, error) {
		qs, err := questions(r.Session)
		if err != nil {
			return quiz.Transition{}, nil, err
		}
		t, err := quiz.Apply(r, qs, cmd, by, now)
		if err != nil || !t.Changed() {
			return t, nil, err
		}
		bs, err := Broadcasts(t)
		return t, bs, err
	}
}

// Broadcasts encodes a transition's broadcasts, in seq order from
// t.FirstSeq.
func Broadcasts(t quiz.Transition) ([]protocol.Broadcast, error) {
	out := make([]protocol.Broadcast, 0, t.Broadcasts())
	add := func(typ string, data any) error {
		b, err := protocol.EncodeBroadcast(typ, t.FirstSeq+int64(len(out)), data)
		out = append(out, b)
		return err
	}
	if t.Started {
		if err := add(protocol.TypeSessionStarted, protocol.SessionStarted{StartedAt: quiz.Time(t.Now)}); err != nil {
			return nil, err
		}
	}
	if c := t.Closed; c != nil {
		if err := add(protocol.TypeQuestionClosed, protocol.QuestionClosed{QuestionID: c.Question.ID, Correct: c.CorrectOptions(),
			Distribution: c.Distribution, Answered: c.Answered, Participants: c.Participants}); err != nil {
			return nil, err
		}
		if err := add(protocol.TypeLeaderboard, protocol.Leaderboard{Top: c.Top()}); err != nil {
			return nil, err
		}
	}
	if o := t.Opened; o != nil {
		if err := add(protocol.TypeQuestionOpened, protocol.QuestionOpened{Question: protocol.Public(o.Question),
			OpenedAt: quiz.Time(o.OpenedAt), Deadline: quiz.Time(o.Deadline)}); err != nil {
			return nil, err
		}
	}
	if t.Ended {
		if err := add(protocol.TypeSessionEnded, protocol.SessionEnded{EndedAt: quiz.Time(t.Now)}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// envelope is what a committed command publishes: its broadcasts and,
// after a close, each participant's result.
func envelope(c postgres.Committed) protocol.Envelope {
	env := protocol.Envelope{Broadcasts: c.Broadcasts}
	if cl := c.Transition.Closed; cl != nil {
		env.Results = make(map[string][]byte, len(cl.Results))
		for _, r := range cl.Results {
			f, err := protocol.Encode(protocol.TypeResult, protocol.Result{QuestionID: cl.Question.ID, Correct: r.Correct,
				Points: r.Points, Score: r.Score, Rank: r.Rank})
			if err == nil {
				env.Results[r.UserID] = f
			}
		}
	}
	return env
}

// publish sends env after its commit. A failure is logged: the change is
// committed and nodes fill the gap from PostgreSQL on the next broadcast.
func (s *Service) publish(ctx context.Context, sessionID string, env protocol.Envelope) {
	if env.Empty() {
		return
	}
	ctx = context.WithoutCancel(ctx)
	var err error
	for attempt := range 3 {
		if err = s.pub.Publish(ctx, sessionID, env); err == nil {
			return
		}
		time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
	}
	s.log.Error("publish failed after commit", "session_id", sessionID, "err", err)
}

// CloseDue closes the session's question if it is past its deadline.
// Every node's hub timer and sweeper may call it at once: one of them
// closes the question, the others spend one cheap statement.
func (s *Service) CloseDue(ctx context.Context, schoolID, sessionID string) error {
	now := s.Now()
	c, ok, err := s.store.CloseDue(ctx, schoolID, sessionID, now, s.decide(ctx, quiz.CommandCloseDue, quiz.Actor{App: quiz.AppServer}, now))
	if err != nil || !ok {
		return err
	}
	s.publish(ctx, sessionID, envelope(c))
	return nil
}

// SweepDeadlines closes overdue questions of every session, every interval,
// until ctx ends. Every node runs it, so a question closes at its deadline
// even when the node that opened it is gone.
func (s *Service) SweepDeadlines(ctx context.Context, interval time.Duration) {
	background.Every(ctx, interval, false, s.sweep)
}

// sweepCallTimeout bounds each call of a sweep: a call stuck on a
// connection that will never answer (a PostgreSQL host gone, a dead TCP
// peer, which the kernel reports only after minutes) must not hold the
// node's sweeper once PostgreSQL answers again; the next pass retries.
const sweepCallTimeout = 5 * time.Second

func (s *Service) sweep(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, sweepCallTimeout)
	due, err := s.store.DueSessions(lctx, s.Now(), 100)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("deadline sweep failed", "err", err)
		}
		return
	}
	for _, ref := range due {
		cctx, cancel := context.WithTimeout(ctx, sweepCallTimeout)
		err := s.CloseDue(cctx, ref.SchoolID, ref.SessionID)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("closing overdue question failed", "session_id", ref.SessionID, "err", err)
		}
	}
}

// Kick removes a student from the session: their sockets close with 4403
// on every node and they cannot rejoin.
func (s *Service) Kick(ctx context.Context, id auth.Identity, sessionID, studentID string) error {
	a, err := s.Authorize(ctx, id, sessionID, policy.Manage)
	if err != nil {
		return err
	}
	if !quiz.ValidID(studentID) {
		return quiz.Errorf(quiz.CodeNotFound, "no such student in this classroom")
	}
	count, err := s.store.Kick(ctx, a.Session, studentID, s.Now())
	if err != nil {
		return err
	}
	s.counter.Participants(ctx, sessionID, count)
	f, err := protocol.Encode(protocol.TypeParticipants, protocol.Participants{Count: count, Connected: s.counter.Connected(ctx, sessionID),
		Joined: []protocol.Participant{}, Left: []string{studentID}})
	if err != nil {
		return err
	}
	s.publish(ctx, sessionID, protocol.Envelope{Kick: studentID, Teacher: [][]byte{f}})
	return nil
}

// Removed closes a student's sockets of the sessions with 4403 on every
// node, as a kick does, once they left the sessions' classroom.
func (s *Service) Removed(ctx context.Context, sessionIDs []string, studentID string) {
	for _, id := range sessionIDs {
		s.publish(ctx, id, protocol.Envelope{Kick: studentID})
	}
}

// Joined records a student's socket joining; it returns the participants.
func (s *Service) Joined(ctx context.Context, sess quiz.Session, studentID string) (int, error) {
	_, count, err := s.store.Join(ctx, sess, studentID, s.Now())
	if err != nil {
		return 0, err
	}
	s.counter.Participants(ctx, sess.ID, count)
	return count, nil
}

// Left records that a student's last socket on this node closed.
func (s *Service) Left(ctx context.Context, sess quiz.Session, studentID string) {
	if err := s.store.Left(context.WithoutCancel(ctx), sess, studentID, s.Now()); err != nil {
		s.log.Warn("recording student_left failed", "session_id", sess.ID, "err", err)
	}
}

// PublishTeacher sends an encoded frame to the session's teacher on
// whichever node.
func (s *Service) PublishTeacher(ctx context.Context, sessionID string, frame []byte) {
	s.publish(ctx, sessionID, protocol.Envelope{Teacher: [][]byte{frame}})
}

func (s *Service) quizQuestions(ctx context.Context, schoolID, quizID string, version int) ([]quiz.Question, error) {
	key := quizID + "/" + strconv.Itoa(version)
	s.mu.Lock()
	qs, ok := s.questions[key]
	s.mu.Unlock()
	if ok {
		return qs, nil
	}
	qs, err := s.store.Questions(ctx, schoolID, quizID, version)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.questions) > cacheLimit {
		s.questions = map[string][]quiz.Question{}
	}
	s.questions[key] = qs
	s.mu.Unlock()
	return qs, nil
}

func (s *Service) openedAt(ctx context.Context, sessionID, questionID string) (openedAt, error) {
	key := sessionID + "/" + questionID
	s.mu.Lock()
	o, ok := s.opened[key]
	s.mu.Unlock()
	if ok {
		return o, nil
	}
	at, deadline, err := s.store.Opened(ctx, sessionID, questionID)
	if err != nil {
		return openedAt{}, err
	}
	o = openedAt{at: at, deadline: deadline}
	s.mu.Lock()
	if len(s.opened) > cacheLimit {
		s.opened = map[string]openedAt{}
	}
	s.opened[key] = o
	s.mu.Unlock()
	return o, nil
}

// Answer submits a student's answer to the session's question. created is
// false for an identical re-send, which returns the original answer.
func (s *Service) Answer(ctx context.Context, id auth.Identity, sess quiz.Session, questionID string, choices []string, app quiz.App) (protocol.AnswerAccepted, bool, error) {
	received := s.Now()
	if id.Role != quiz.RoleStudent {
		return protocol.AnswerAccepted{}, false, quiz.Errorf(quiz.CodeForbidden, "only students answer")
	}
	qs, err := s.quizQuestions(ctx, sess.SchoolID, sess.QuizID, sess.QuizVersion)
	if err != nil {
		return protocol.AnswerAccepted{}, false, err
	}
	var q *quiz.Question
	for i := range qs {
		if qs[i].ID == questionID {
			q = &qs[i]
			break
		}
	}
	if q == nil {
		return protocol.AnswerAccepted{}, false, quiz.ErrNotOpen
	}
	sorted, err := quiz.NormalizeChoices(*q, choices)
	if err != nil {
		return protocol.AnswerAccepted{}, false, err
	}
	o, err := s.openedAt(ctx, sess.ID, q.ID)
	if errors.Is(err, quiz.ErrNotFound) {
		return protocol.AnswerAccepted{}, false, quiz.ErrNotOpen
	}
	if err != nil {
		return protocol.AnswerAccepted{}, false, err
	}
	elapsed := received.Sub(o.at)
	correct, points := quiz.Score(*q, sorted, elapsed)
	w, err := s.answers.Write(ctx, postgres.Answer{
		ID: uuid.NewString(), SchoolID: sess.SchoolID, SessionID: sess.ID, SessionCreatedAt: sess.CreatedAt,
		ClassroomID: sess.ClassroomID, QuizID: sess.QuizID, QuestionID: q.ID, QuestionIdx: q.Index,
		StudentID: id.UserID, Choices: sorted, Correct: correct, Points: points, ReceivedAt: received,
		ResponseMs: int(max(elapsed, 0).Milliseconds()), App: app,
	})
	if err != nil {
		return protocol.AnswerAccepted{}, false, err
	}
	accepted := protocol.AnswerAccepted{AnswerID: w.AnswerID, QuestionID: q.ID, ReceivedAt: quiz.Time(w.ReceivedAt)}
	switch w.Outcome {
	case postgres.Accepted:
		s.counter.Answered(ctx, sess.ID, q.ID, sorted)
		return accepted, true, nil
	case postgres.Existing:
		if quiz.SameChoices(w.Choices, sorted) {
			return accepted, false, nil
		}
		return protocol.AnswerAccepted{}, false, quiz.ErrAlreadyAnswered
	case postgres.NotOpen:
		return protocol.AnswerAccepted{}, false, quiz.ErrNotOpen
	case postgres.Kicked:
		return protocol.AnswerAccepted{}, false, quiz.Errorf(quiz.CodeForbidden, "you were removed from this session")
	default:
		return protocol.AnswerAccepted{}, false, quiz.ErrClosed
	}
}

// AnswerREST is the REST answer: it checks membership first (a socket did
// so at its handshake).
func (s *Service) AnswerREST(ctx context.Context, id auth.Identity, sessionID, questionID string, choices []string) (protocol.AnswerAccepted, bool, error) {
	a, err := s.Authorize(ctx, id, sessionID, policy.Join)
	if err != nil {
		return protocol.AnswerAccepted{}, false, err
	}
	if a.Teacher {
		return protocol.AnswerAccepted{}, false, quiz.Errorf(quiz.CodeForbidden, "only students answer")
	}
	return s.Answer(ctx, id, a.Session, questionID, choices, quiz.AppNotebook)
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/client"
	"github.com/quizcast/quizcast/internal/quiz"
)

// minter issues access tokens with the benchmark's JWT_SECRET, as a login
// would (a fresh login id each): see the package comment.
type minter struct{ tokens *auth.Tokens }

func newMinter() (*minter, error) {
	secret := os.Getenv("JWT_SECRET")
	if secret == "" {
		return nil, errors.New("JWT_SECRET is required (the servers' secret)")
	}
	// Issue needs no Redis; the servers check revocation in theirs.
	t, err := auth.NewTokens([]byte(secret), auth.MaxAccessTTL, nil)
	if err != nil {
		return nil, err
	}
	return &minter{tokens: t}, nil
}

func (m *minter) token(schoolID, userID string, role quiz.Role) (string, error) {
	tok, _, err := m.tokens.Issue(auth.Identity{UserID: userID, SchoolID: schoolID, LoginID: uuid.NewString(), Role: role})
	return tok, err
}

// parallel runs fn(i) for i in [0, n) on conc goroutines and returns the
// first error.
func parallel(ctx context.Context, n, conc int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// createSessions opens a session in the lobby for each classroom, as its
// teacher, over REST on the node the teacher will use.
func createSessions(ctx context.Context, m *minter, rooms []SeededClassroom, nodeOf func(int) string) ([]string, error) {
	ids := make([]string, len(rooms))
	err := parallel(ctx, len(rooms), 8, func(ctx context.Context, i int) error {
		r := rooms[i]
		tok, err := m.token(r.SchoolID, r.TeacherID, quiz.RoleTeacher)
		if err != nil {
			return err
		}
		snap, err := client.New(nodeOf(i)).With(tok).CreateSession(ctx, r.QuizID, r.ID)
		if err != nil {
			return fmt.Errorf("create session of classroom %s: %w", r.ID, err)
		}
		ids[i] = snap.ID
		return nil
	})
	return ids, err
}

// dial opens a session socket and waits for its welcome.
func dial(ctx context.Context, node, token, sessionID string, buffer int) (*client.Socket, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, status, err := client.New(node).With(token).Dial(dctx, sessionID, client.DialOptions{Buffer: buffer})
	if err != nil {
		return nil, fmt.Errorf("dial %s (HTTP %d): %w", node, status, err)
	}
	if _, err := s.Expect(dctx, "welcome"); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// playFlags are the flags of the subcommands that play classrooms over
// several nodes (run, sweep).
type playFlags struct {
	creds, nodes, pids, out   *string
	classrooms, students, dia *int
}

func addPlayFlags(fs *flag.FlagSet) *playFlags {
	return &playFlags{
		creds:      fs.String("creds", "credentials.json", "credentials file written by seed"),
		nodes:      fs.String("nodes", "http://127.0.0.1:8080,http://127.0.0.1:8081", "server nodes (loopback only)"),
		pids:       fs.String("pids", "", "PIDs of the node processes, in -nodes order (RSS and CPU from /proc)"),
		classrooms: fs.Int("classrooms", 334, "classrooms to play"),
		students:   fs.Int("students", 30, "students per classroom (≤ seeded)"),
		dia:        fs.Int("dial-concurrency", 64, "handshakes in flight"),
		out:        fs.String("json", "", "write the result as JSON to this file"),
	}
}

// playSetup is what the play flags resolve to.
type playSetup struct {
	nodes      []string
	pids       []int
	seeded     Seeded
	classrooms int
	students   int
}

// teacherNode is where room i's teacher plays: the nodes in turn.
func (ps playSetup) teacherNode(i int) string { return ps.nodes[i%len(ps.nodes)] }

// open mints the tokens and creates a session in the lobby for each of
// the first -classrooms rooms, each by its teacher on its teacher's node.
func (ps playSetup) open(ctx context.Context) (*minter, []SeededClassroom, []string, error) {
	m, err := newMinter()
	if err != nil {
		return nil, nil, nil, err
	}
	rooms := ps.seeded.Classrooms[:ps.classrooms]
	sessions, err := createSessions(ctx, m, rooms, ps.teacherNode)
	return m, rooms, sessions, err
}

// resolve checks the nodes (loopback only), the PIDs and -classrooms and
// -students against the credentials file.
func (f *playFlags) resolve() (playSetup, error) {
	var ps playSetup
	var err error
	if ps.nodes, err = nodeList(*f.nodes); err != nil {
		return ps, err
	}
	if ps.pids, err = parsePIDs(*f.pids); err != nil {
		return ps, err
	}
	if ps.seeded, err = loadSeeded(*f.creds); err != nil {
		return ps, err
	}
	ps.classrooms, ps.students = *f.classrooms, *f.students
	if ps.classrooms > len(ps.seeded.Classrooms) || ps.classrooms < 1 {
		return ps, fmt.Errorf("-classrooms: 1..%d seeded", len(ps.seeded.Classrooms))
	}
	if ps.students < 1 || ps.students > len(ps.seeded.Classrooms[0].Students) {
		return ps, fmt.Errorf("-students: 1..%d seeded", len(ps.seeded.Classrooms[0].Students))
	}
	return ps, nil
}

// fleet is the open sockets of N rooms: a teacher and S students each.
type fleet struct {
	teachers []*client.Socket   // by room; nil where the dial failed
	students [][]*client.Socket // [room][student]; nil where the dial failed
	connect  ConnectStats
	perNode  map[string]int
}

// connectRooms opens every room's teacher socket on teacherNode(i), then
// its students' with student j of room i on nodes[(i+j) % len(nodes)], so
// a room is split over the nodes and every broadcast crosses Redis. A
// failed dial is counted (connect.Failed, its error in firstErr if that is
// still empty), not fatal.
func connectRooms(ctx context.Context, m *minter, nodes []string, rooms []SeededClassroom, sessions []string,
	students, conc, teacherBuf, studentBuf int, teacherNode func(int) string, firstErr *atomic.Value,
) (*fleet, error) {
	f := &fleet{teachers: make([]*client.Socket, len(rooms)), students: make([][]*client.Socket, len(rooms)), perNode: map[string]int{}}
	var handshakes []time.Duration
	var mu sync.Mutex
	var failed atomic.Int64
	one := func(ctx context.Context, node, token, session string, buffer int) *client.Socket {
		t := time.Now()
		s, err := dial(ctx, node, token, session, buffer)
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		handshakes = append(handshakes, time.Since(t))
		f.perNode[node]++
		return s
	}
	start := time.Now()
	err := parallel(ctx, len(rooms), conc, func(ctx context.Context, i int) error {
		r := rooms[i]
		tok, err := m.token(r.SchoolID, r.TeacherID, quiz.RoleTeacher)
		if err != nil {
			return err
		}
		f.teachers[i] = one(ctx, teacherNode(i), tok, sessions[i], teacherBuf)
		f.students[i] = make([]*client.Socket, students)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = parallel(ctx, len(rooms)*students, conc, func(ctx context.Context, k int) error {
		i, j := k/students, k%students
		r := rooms[i]
		tok, err := m.token(r.SchoolID, r.Students[j].ID, quiz.RoleStudent)
		if err != nil {
			return err
		}
		f.students[i][j] = one(ctx, nodes[(i+j)%len(nodes)], tok, sessions[i], studentBuf)
		return nil
	})
	if err != nil {
		return nil, err
	}
	secs := time.Since(start).Seconds()
	f.connect = ConnectStats{Sockets: len(handshakes), Failed: int(failed.Load()), Seconds: secs,
		PerSecond: float64(len(handshakes)) / secs, Handshake: dist(handshakes)}
	return f, nil
}

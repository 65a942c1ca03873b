package main

import (
	"context"
	crand "crypto/rand"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/quizcast/quizcast/internal/reports"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/client"
	"github.com/quizcast/quizcast/internal/postgres"
	"github.com/quizcast/quizcast/internal/quiz"
)

// ReportsResult is the reports at scale: the seeding, the materialized
// view refreshes and the endpoints' latency.
type ReportsResult struct {
	Scenario     string           `json:"scenario"`
	Answers      int64            `json:"answers"`
	Sessions     int              `json:"sessions"`
	SeedSeconds  float64          `json:"seed_seconds"`
	SeedPerSec   float64          `json:"seed_rows_per_sec"`
	Partitions   []string         `json:"answer_partitions"`
	TableMiB     float64          `json:"answers_mib"`
	RollUp       RollUp           `json:"rollup"`
	Refreshes    []ViewRefresh    `json:"refreshes"`
	Available    bool             `json:"endpoints_available"`
	Endpoints    []EndpointTiming `json:"endpoints,omitempty"`
	Unavailable  string           `json:"unavailable,omitempty"`
	EndpointNote string           `json:"endpoint_note,omitempty"`
}

// RollUp is the one-shot roll-up of the ended sessions into the reports'
// history tables (internal/reports), after which the views hold only recent
// sessions.
type RollUp struct {
	Sessions     int     `json:"sessions"`
	Seconds      float64 `json:"seconds"`
	ShrinkSecond float64 `json:"views_shrink_seconds"`
}

// ViewRefresh is the time of one REFRESH MATERIALIZED VIEW.
type ViewRefresh struct {
	View       string  `json:"view"`
	Seconds    float64 `json:"seconds"`
	Concurrent float64 `json:"concurrently_seconds,omitempty"`
	Rows       int64   `json:"rows"`
}

// EndpointTiming is one report endpoint's latency, on distinct ids (cold)
// and on the same ids again (warm: whatever cache the server keeps).
type EndpointTiming struct {
	Path   string `json:"path"`
	Cold   Dist   `json:"cold"`
	Warm   Dist   `json:"warm"`
	Errors int    `json:"errors"`
}

func reportsCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("reports", flag.ExitOnError)
	creds := fs.String("creds", "credentials.json", "credentials file written by seed")
	node := fs.String("node", "http://127.0.0.1:8080", "node for the report endpoints (loopback only)")
	total := fs.Int64("answers", 10_000_000, "answers to seed (0: use what is there)")
	perSession := fs.Int("questions", 10, "questions run per seeded session")
	days := fs.Int("days", 120, "seeded sessions spread over this many past days")
	requests := fs.Int("requests", 100, "requests per report endpoint and pass")
	out := fs.String("json", "", "write the result as JSON to this file")
	fs.String("timeout", "12m", "give up after")
	_ = fs.Parse(args)
	ctx, cancel := bounded(ctx, fs)
	defer cancel()
	if err := loopback(*node); err != nil {
		return err
	}
	if *total < 0 || *total > 50_000_000 || *perSession < 1 || *days < 1 {
		return errors.New("reports: -answers 0..50M, -questions ≥ 1, -days ≥ 1")
	}
	seeded, err := loadSeeded(*creds)
	if err != nil {
		return err
	}
	if *perSession > len(seeded.Classrooms[0].Questions) {
		return fmt.Errorf("-questions: at most %d seeded", len(seeded.Classrooms[0].Questions))
	}
	pool, err := openDB(ctx, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	res := &ReportsResult{Scenario: "reports"}

	var sessions []seededSession
	if *total > 0 {
		start := time.Now()
		sessions, err = seedAnswers(ctx, pool, seeded, *total, *perSession, *days)
		if err != nil {
			return err
		}
		res.SeedSeconds = time.Since(start).Seconds()
		res.SeedPerSec = float64(*total) / res.SeedSeconds
		res.Sessions = len(sessions)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*), pg_total_relation_size('answers') FROM answers`).Scan(&res.Answers, new(int64)); err != nil {
		return err
	}
	var bytes int64
	rows, err := pool.Query(ctx, `SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'answers'::regclass ORDER BY 1`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		var size int64
		if err := rows.Scan(&name, &size); err != nil {
			return err
		}
		if size > 64<<10 {
			res.Partitions = append(res.Partitions, name)
		}
		bytes += size
	}
	if err := rows.Err(); err != nil {
		return err
	}
	res.TableMiB = float64(bytes) / (1 << 20)
	fmt.Printf("reports: %d answers (%.0f MiB with indexes) in %v, seeded in %.0fs (%.0f rows/s)\n",
		res.Answers, res.TableMiB, res.Partitions, res.SeedSeconds, res.SeedPerSec)

	// The seeded sessions have ended: roll them up into history (the
	// worker's job does the same once a minute; both take turns on a
	// lock), then let the views shrink to the recent sessions once.
	t := time.Now()
	if res.RollUp.Sessions, err = reports.RollUpEnded(ctx, pool, time.Now()); err != nil {
		return fmt.Errorf("roll up: %w", err)
	}
	res.RollUp.Seconds = time.Since(t).Seconds()
	t = time.Now()
	if err := shrinkViews(ctx, pool); err != nil {
		return err
	}
	res.RollUp.ShrinkSecond = time.Since(t).Seconds()
	fmt.Printf("roll-up: %d sessions in %.1fs; views shrunk in %.1fs\n", res.RollUp.Sessions, res.RollUp.Seconds, res.RollUp.ShrinkSecond)

	if res.Refreshes, err = refreshViews(ctx, pool); err != nil {
		return err
	}
	for _, r := range res.Refreshes {
		fmt.Printf("refresh %s (%d rows): %.1fs, concurrently %.1fs\n", r.View, r.Rows, r.Seconds, r.Concurrent)
	}
	if len(res.Refreshes) == 0 {
		fmt.Println("refresh: no materialized views in this schema")
	}

	m, err := newMinter()
	if err != nil {
		return err
	}
	if err := timeEndpoints(ctx, m, *node, seeded, sessions, *requests, res); err != nil {
		return err
	}
	return writeJSON(*out, res)
}

type seededSession struct {
	id        string
	uid       uuid.UUID
	room      int
	createdAt time.Time
}

type seededQuestion struct {
	id      uuid.UUID
	options []string
	correct string
}

// roomIDs are a classroom's ids parsed once: COPY then sends 16 bytes
// instead of parsing text ten million times.
type roomIDs struct {
	school, room, quiz uuid.UUID
	students           []uuid.UUID
	questions          []seededQuestion
}

func parseRooms(rooms []SeededClassroom, questions map[string][]seededQuestion) []roomIDs {
	out := make([]roomIDs, len(rooms))
	for i, r := range rooms {
		out[i] = roomIDs{school: uuid.MustParse(r.SchoolID), room: uuid.MustParse(r.ID), quiz: uuid.MustParse(r.QuizID),
			questions: questions[r.QuizID]}
		for _, u := range r.Students {
			out[i].students = append(out[i].students, uuid.MustParse(u.ID))
		}
	}
	return out
}

// fastUUID is a random (version 4) UUID from a fast non-cryptographic
// source: seeding ids need to be unique, not unpredictable.
func fastUUID(r *rand.ChaCha8) uuid.UUID {
	var u uuid.UUID
	_, _ = r.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// seedAnswers adds ended sessions, their run questions, participants and
// answers by COPY: the answers go through the parent table, so PostgreSQL
// routes each to its monthly partition, with every index and constraint of
// the real schema in place.
func seedAnswers(ctx context.Context, pool *pgxpool.Pool, seeded Seeded, total int64, perSession, days int) ([]seededSession, error) {
	rooms := seeded.Classrooms
	students := len(rooms[0].Students)
	perSess := int64(students * perSession)
	nSessions := int((total + perSess - 1) / perSess)
	now := time.Now().UTC()
	oldest := now.Add(-time.Duration(days) * 24 * time.Hour)
	if _, err := postgres.EnsurePartitions(ctx, pool, oldest, now); err != nil {
		return nil, err
	}
	questions, err := loadQuestions(ctx, pool, rooms, perSession)
	if err != nil {
		return nil, err
	}
	sessions := make([]seededSession, nSessions)
	span := now.Add(-time.Hour).Sub(oldest)
	for i := range sessions {
		id := uuid.New()
		sessions[i] = seededSession{id: id.String(), uid: id, room: i % len(rooms),
			createdAt: oldest.Add(time.Duration(rand.Int64N(int64(span)))).Truncate(time.Microsecond)}
	}
	// Sessions, run questions and participants first (the answers' foreign
	// key needs the sessions).
	var sessRows, sqRows, partRows [][]any
	for _, s := range sessions {
		r := rooms[s.room]
		started := s.createdAt.Add(time.Minute)
		ended := started.Add(time.Duration(perSession+1) * 30 * time.Second)
		sessRows = append(sessRows, []any{s.id, r.SchoolID, r.ID, r.QuizID, 1, r.TeacherID, "ended", int64(perSession * 3),
			perSession - 1, len(r.Questions), s.createdAt, started, ended})
		for q := range perSession {
			opened := started.Add(time.Duration(q) * 30 * time.Second)
			sqRows = append(sqRows, []any{r.SchoolID, s.id, q, r.Questions[q], opened, opened.Add(20 * time.Second), opened.Add(20 * time.Second)})
		}
		for _, u := range r.Students {
			partRows = append(partRows, []any{r.SchoolID, s.id, u.ID, started})
		}
	}
	err = copyAll(ctx, pool, []tableRows{
		{table: "sessions", columns: []string{"id", "school_id", "classroom_id", "quiz_id", "quiz_version", "teacher_id", "state", "seq",
			"current_index", "question_count", "created_at", "started_at", "ended_at"}, rows: sessRows},
		{table: "session_questions", columns: []string{"school_id", "session_id", "idx", "question_id", "opened_at", "deadline", "closed_at"}, rows: sqRows},
		{table: "session_participants", columns: []string{"school_id", "session_id", "student_id", "joined_at"}, rows: partRows},
	})
	if err != nil {
		return nil, err
	}
	// The answers: two COPY streams in parallel (one per core), each over
	// half of the sessions.
	var left atomic.Int64
	left.Store(total)
	half := (len(sessions) + 1) / 2
	err = parallel(ctx, 2, 2, func(ctx context.Context, part int) error {
		mine := sessions[part*half : min((part+1)*half, len(sessions))]
		var seed [32]byte
		_, _ = crand.Read(seed[:])
		src := &answerSource{rooms: parseRooms(rooms, questions), sessions: mine, perSession: perSession, left: &left,
			rnd: rand.NewChaCha8(seed)}
		_, err := pool.CopyFrom(ctx, pgx.Identifier{"answers"}, []string{"id", "school_id", "session_id", "session_created_at",
			"classroom_id", "quiz_id", "question_id", "question_idx", "student_id", "choices", "correct", "points",
			"received_at", "response_ms"}, src)
		if err != nil {
			return fmt.Errorf("copy answers: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `ANALYZE answers, sessions, session_questions, session_participants`); err != nil {
		return nil, err
	}
	return sessions, nil
}

func loadQuestions(ctx context.Context, pool *pgxpool.Pool, rooms []SeededClassroom, perSession int) (map[string][]seededQuestion, error) {
	quizIDs := make([]string, len(rooms))
	for i, r := range rooms {
		quizIDs[i] = r.QuizID
	}
	rows, err := pool.Query(ctx, `SELECT quiz_id::text, idx, id::text, options, correct FROM questions
		WHERE quiz_id = ANY($1::uuid[]) AND idx < $2 ORDER BY quiz_id, idx`, quizIDs, perSession)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]seededQuestion{}
	for rows.Next() {
		var quizID, id string
		var idx int
		var opts []quiz.Option
		var correct []string
		if err := rows.Scan(&quizID, &idx, &id, &opts, &correct); err != nil {
			return nil, err
		}
		q := seededQuestion{id: uuid.MustParse(id), correct: correct[0]}
		for _, o := range opts {
			q.options = append(q.options, o.ID)
		}
		out[quizID] = append(out[quizID], q)
	}
	return out, rows.Err()
}

// answerSource streams answers to COPY: every student of the session
// answers every run question, 60 % correctly, the total capped at left.
type answerSource struct {
	rooms      []roomIDs
	rnd        *rand.ChaCha8
	sessions   []seededSession
	perSession int
	left       *atomic.Int64

	s, q, u int
	row     []any
}

func (a *answerSource) Next() bool {
	if a.s >= len(a.sessions) || a.left.Add(-1) < 0 {
		return false
	}
	sess := a.sessions[a.s]
	r := a.rooms[sess.room]
	qu := r.questions[a.q]
	opened := sess.createdAt.Add(time.Minute + time.Duration(a.q)*30*time.Second)
	respMs := 500 + rand.IntN(15000)
	choice := qu.correct
	correct := rand.IntN(10) < 6
	if !correct {
		for _, o := range qu.options {
			if o != qu.correct {
				choice = o
				if rand.IntN(2) == 0 {
					break
				}
			}
		}
	}
	points := 0
	if correct {
		points = int(1000*(1-0.5*float64(respMs)/20000) + 0.5)
	}
	// [16]byte, not uuid.UUID: pgx encodes it directly, where uuid.UUID
	// goes through driver.Valuer, a string and a parse per value.
	a.row = []any{[16]byte(fastUUID(a.rnd)), [16]byte(r.school), [16]byte(sess.uid), sess.createdAt, [16]byte(r.room), [16]byte(r.quiz),
		[16]byte(qu.id), a.q, [16]byte(r.students[a.u]),
		[]string{choice}, correct, points, opened.Add(time.Duration(respMs) * time.Millisecond), respMs}
	// Next position: students within questions within sessions.
	a.u++
	if a.u == len(r.students) {
		a.u, a.q = 0, a.q+1
		if a.q == a.perSession {
			a.q, a.s = 0, a.s+1
		}
	}
	return true
}

func (a *answerSource) Values() ([]any, error) { return a.row, nil }
func (a *answerSource) Err() error             { return nil }

// shrinkViews refreshes every view plainly (and vacuums it), the first
// refresh after a large roll-up, so the timed refreshes that follow measure
// the steady state.
func shrinkViews(ctx context.Context, pool *pgxpool.Pool) error {
	rows, err := pool.Query(ctx, `SELECT format('%I.%I', schemaname, matviewname) FROM pg_matviews`)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, v := range names {
		if _, err := pool.Exec(ctx, `REFRESH MATERIALIZED VIEW `+v); err != nil {
			return fmt.Errorf("refresh %s: %w", v, err)
		}
		if _, err := pool.Exec(ctx, `VACUUM `+v); err != nil {
			return fmt.Errorf("vacuum %s: %w", v, err)
		}
	}
	return nil
}

// refreshViews times one refresh of every materialized view there is:
// CONCURRENTLY (what a live refresher runs) where the view has the unique
// index that needs, a plain REFRESH otherwise.
func refreshViews(ctx context.Context, pool *pgxpool.Pool) ([]ViewRefresh, error) {
	rows, err := pool.Query(ctx, `SELECT format('%I.%I', schemaname, matviewname),
			EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = format('%I.%I', schemaname, matviewname)::regclass AND i.indisunique)
		FROM pg_matviews ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	type view struct {
		name   string
		unique bool
	}
	views, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (view, error) {
		var v view
		return v, r.Scan(&v.name, &v.unique)
	})
	if err != nil {
		return nil, err
	}
	var out []ViewRefresh
	for _, v := range views {
		vr := ViewRefresh{View: v.name}
		t := time.Now()
		if v.unique {
			if _, err := pool.Exec(ctx, `REFRESH MATERIALIZED VIEW CONCURRENTLY `+v.name); err != nil {
				return nil, fmt.Errorf("refresh concurrently %s: %w", v.name, err)
			}
			vr.Concurrent = time.Since(t).Seconds()
		} else {
			if _, err := pool.Exec(ctx, `REFRESH MATERIALIZED VIEW `+v.name); err != nil {
				return nil, fmt.Errorf("refresh %s: %w", v.name, err)
			}
			vr.Seconds = time.Since(t).Seconds()
		}
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+v.name).Scan(&vr.Rows); err != nil {
			return nil, err
		}
		out = append(out, vr)
	}
	return out, nil
}

// timeEndpoints probes the report endpoints (they may not be deployed) and
// times each on distinct ids, then on the same ids again.
func timeEndpoints(ctx context.Context, m *minter, node string, seeded Seeded, sessions []seededSession, n int, res *ReportsResult) error {
	rooms := seeded.Classrooms
	teacher := func(r SeededClassroom) (*client.Client, error) {
		tok, err := m.token(r.SchoolID, r.TeacherID, quiz.RoleTeacher)
		return client.New(node).With(tok), err
	}
	probe, err := teacher(rooms[0])
	if err != nil {
		return err
	}
	_, err = probe.Do(ctx, http.MethodGet, "/api/v1/reports/classrooms/"+rooms[0].ID+"/engagement", nil, nil)
	var cerr *client.Error
	if errors.As(err, &cerr) && cerr.Status == http.StatusNotFound && strings.HasPrefix(cerr.Message, "no route") {
		res.Unavailable = "the report endpoints are not in this build (404 no route)"
		fmt.Println("reports endpoints: not available:", res.Unavailable)
		return nil
	}
	res.Available = true
	type target struct {
		room int
		path string
	}
	endpoints := []struct {
		name string
		ids  func(i int) target
	}{
		{"/api/v1/reports/students/{id}/performance", func(i int) target {
			r := i % len(rooms)
			return target{r, "/api/v1/reports/students/" + rooms[r].Students[i/len(rooms)%len(rooms[r].Students)].ID + "/performance"}
		}},
		{"/api/v1/reports/classrooms/{id}/engagement", func(i int) target {
			r := i % len(rooms)
			return target{r, "/api/v1/reports/classrooms/" + rooms[r].ID + "/engagement"}
		}},
		{"/api/v1/reports/quizzes/{id}/effectiveness", func(i int) target {
			r := i % len(rooms)
			return target{r, "/api/v1/reports/quizzes/" + rooms[r].QuizID + "/effectiveness"}
		}},
		{"/api/v1/reports/sessions/{id}", func(i int) target {
			if len(sessions) == 0 {
				return target{0, ""}
			}
			s := sessions[i*7919%len(sessions)]
			return target{s.room, "/api/v1/reports/sessions/" + s.id}
		}},
	}
	for _, e := range endpoints {
		et := EndpointTiming{Path: e.name}
		for pass := range 2 {
			var ds []time.Duration
			for i := range n {
				tg := e.ids(i)
				if tg.path == "" {
					continue
				}
				c, err := teacher(rooms[tg.room])
				if err != nil {
					return err
				}
				t := time.Now()
				if _, err := c.Do(ctx, http.MethodGet, tg.path, nil, nil); err != nil {
					et.Errors++
					if et.Errors == 1 {
						res.EndpointNote = e.name + ": " + err.Error()
					}
					continue
				}
				ds = append(ds, time.Since(t))
			}
			if pass == 0 {
				et.Cold = dist(ds)
			} else {
				et.Warm = dist(ds)
			}
		}
		fmt.Printf("report %s: cold p50 %.1f p95 %.1f ms; warm p50 %.1f p95 %.1f ms; errors %d\n",
			e.name, et.Cold.P50, et.Cold.P95, et.Warm.P50, et.Warm.P95, et.Errors)
		res.Endpoints = append(res.Endpoints, et)
	}
	return nil
}

package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/quiz"
)

// EventStore writes the analytics events the event worker consumes into the
// monthly-partitioned events table, each event once.
type EventStore struct {
	pool *pgxpool.Pool

	mu sync.Mutex
	// months holds the first instant of every month whose partition this
	// store has seen to exist, so EnsurePartitions runs once per month.
	months map[time.Time]bool
}

// NewEventStore returns the event store over pool.
func NewEventStore(pool *pgxpool.Pool) *EventStore {
	return &EventStore{pool: pool, months: map[time.Time]bool{}}
}

// One statement, so one transaction: the whole batch is stored or none of
// it. Redelivered events hit the primary key (event_id, occurred_at) — a
// redelivery carries the same occurred_at — and are skipped, also when the
// same event appears twice in one batch. RETURNING names the new ones.
const insertEventsSQL = `INSERT INTO events (event_id, name, occurred_at, school_id, classroom_id, session_id, quiz_id, user_id, app, data)
SELECT e.event_id::uuid, e.name, e.occurred_at, e.school_id::uuid, NULLIF(e.classroom_id, '')::uuid,
	NULLIF(e.session_id, '')::uuid, NULLIF(e.quiz_id, '')::uuid,
	-- An event still in flight (outbox or RabbitMQ) about a user erased
	-- since is stored without its user: an erased id never comes back.
	(SELECT u.id FROM users u WHERE u.id = NULLIF(e.user_id, '')::uuid), e.app, e.data::jsonb
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
	AS e(event_id, name, occurred_at, school_id, classroom_id, session_id, quiz_id, user_id, app, data)
ON CONFLICT (event_id, occurred_at) DO NOTHING
RETURNING event_id::text`

// Store inserts evs in one transaction and returns the ids of the events
// that were new; the others were stored before (duplicates). A failure that
// may pass on retry (connection lost, timeout, server shutting down,
// serialization) wraps quiz.ErrUnavailable; any other failure is about the
// data of some event in evs, and retrying the same batch will fail again.
func (s *EventStore) Store(ctx context.Context, evs []quiz.Event) ([]string, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	if err := s.ensureMonths(ctx, evs); err != nil {
		return nil, err
	}
	n := len(evs)
	ids, names, schools, classrooms, sessions, quizzes, users, apps, data :=
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	occurred := make([]time.Time, n)
	for i, e := range evs {
		b := []byte(e.RawData)
		if b == nil {
			d := e.Data
			if d == nil {
				d = map[string]any{}
			}
			var err error
			if b, err = json.Marshal(d); err != nil {
				return nil, fmt.Errorf("store events: encode data of %s: %w", e.EventID, err)
			}
		}
		ids[i], names[i], occurred[i], schools[i] = e.EventID, string(e.Name), e.OccurredAt, e.SchoolID
		classrooms[i], sessions[i], quizzes[i], users[i] = e.ClassroomID, e.SessionID, e.QuizID, e.UserID
		apps[i], data[i] = string(e.App), string(b)
	}
	rows, err := s.pool.Query(ctx, insertEventsSQL, ids, names, occurred, schools, classrooms, sessions, quizzes, users, apps, data)
	if err != nil {
		return nil, classifyStoreError(err)
	}
	fresh, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, classifyStoreError(err)
	}
	return fresh, nil
}

// ensureMonths makes sure the partition of every month in evs exists, so no
// insert fails for want of one (the daily upkeep creates them ahead, but an
// event may come from a month outside that window).
func (s *EventStore) ensureMonths(ctx context.Context, evs []quiz.Event) error {
	// The lock is held across the creation so that no concurrent Store sees
	// a month as present before its partition is committed; it is taken
	// once per month per process.
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range evs {
		t := e.OccurredAt.UTC()
		m := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		if s.months[m] {
			continue
		}
		if _, err := EnsurePartitions(ctx, s.pool, m, m); err != nil {
			return classifyStoreError(err)
		}
		s.months[m] = true
	}
	return nil
}

// classifyStoreError marks the failures worth retrying unchanged with
// quiz.ErrUnavailable. Data exceptions (class 22) and integrity violations
// (class 23) come from the events themselves; everything else — connection
// and protocol errors, timeouts, cancellations, resource and operator
// intervention classes, even a schema mismatch during a rolling deploy — is
// treated as an outage, so the worker waits instead of dead-lettering good
// events.
func classifyStoreError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code[:2] == "22" || pgErr.Code[:2] == "23") {
		return fmt.Errorf("store events: %w", err)
	}
	return fmt.Errorf("store events: %w: %w", quiz.ErrUnavailable, err)
}

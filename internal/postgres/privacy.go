package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ts renders a timestamptz column as the contract's RFC 3339 UTC with
// milliseconds (NULL stays NULL).
func ts(col string) string {
	return `to_char(` + col + ` AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
}

// exportSQL builds the whole export document of a student in one
// statement: everything stored with the student's id.
var exportSQL = `
SELECT json_build_object(
  'user', json_build_object('id', u.id, 'name', u.name, 'email', u.email, 'role', u.role,
      'school_id', u.school_id, 'active', u.deactivated_at IS NULL, 'created_at', ` + ts("u.created_at") + `),
  'enrolments', coalesce((SELECT json_agg(json_build_object('classroom_id', c.id, 'classroom_name', c.name,
      'subject', c.subject, 'grade', c.grade, 'enrolled_at', ` + ts("e.created_at") + `) ORDER BY e.created_at)
      FROM enrolments e JOIN classrooms c ON c.id = e.classroom_id
      WHERE e.school_id = u.school_id AND e.student_id = u.id), '[]'::json),
  'sessions', coalesce((SELECT json_agg(json_build_object('session_id', s.id, 'classroom_id', s.classroom_id,
      'quiz_id', s.quiz_id, 'quiz_version', s.quiz_version, 'quiz_title', v.title,
      'started_at', ` + ts("s.started_at") + `, 'ended_at', ` + ts("s.ended_at") + `,
      'joined_at', ` + ts("p.joined_at") + `, 'kicked_at', ` + ts("p.kicked_at") + `) ORDER BY p.joined_at)
      FROM session_participants p JOIN sessions s ON s.id = p.session_id
      JOIN quiz_versions v ON v.quiz_id = s.quiz_id AND v.version = s.quiz_version
      WHERE p.school_id = u.school_id AND p.student_id = u.id), '[]'::json),
  'answers', coalesce((SELECT json_agg(json_build_object('answer_id', a.id, 'session_id', a.session_id,
      'question_id', a.question_id, 'question_index', a.question_idx, 'question_text', q.text,
      'choices', a.choices, 'correct', a.correct, 'points', a.points,
      'received_at', ` + ts("a.received_at") + `, 'response_ms', a.response_ms) ORDER BY a.received_at)
      FROM answers a JOIN questions q ON q.id = a.question_id
      WHERE a.school_id = u.school_id AND a.student_id = u.id), '[]'::json),
  'events', coalesce((SELECT json_agg(json_build_object('event_id', ev.event_id, 'name', ev.name,
      'occurred_at', ` + ts("ev.occurred_at") + `, 'classroom_id', ev.classroom_id, 'session_id', ev.session_id,
      'quiz_id', ev.quiz_id, 'app', ev.app, 'data', ev.data) ORDER BY ev.occurred_at)
      FROM events ev WHERE ev.school_id = u.school_id AND ev.user_id = u.id), '[]'::json),
  'audit', coalesce((SELECT json_agg(json_build_object('id', al.id, 'at', ` + ts("al.at") + `,
      'actor_id', al.actor_id, 'action', al.action, 'subject_type', al.subject_type,
      'subject_id', al.subject_id, 'request_id', al.request_id) ORDER BY al.at)
      FROM audit_log al WHERE al.school_id = u.school_id AND (al.actor_id = u.id OR al.subject_id = u.id)), '[]'::json)
)::text
FROM users u
WHERE u.school_id = $1 AND u.id = $2 AND u.role = 'student'`

// Export returns everything stored about a student of the school as one
// JSON document; an id that is not a student of the school is
// quiz.ErrNotFound.
func (s *Store) Export(ctx context.Context, schoolID, studentID string) (json.RawMessage, error) {
	var doc string
	if err := s.pool.QueryRow(ctx, exportSQL, schoolID, studentID).Scan(&doc); err != nil {
		return nil, fmt.Errorf("export student %s: %w", studentID, mapError(err))
	}
	return json.RawMessage(doc), nil
}

// The erasure statements, in order, all in one transaction ($1 school, $2
// student, $3 the anonymous id that replaces the student's where rows stay).
const (
	eraseLockSQL = `SELECT id FROM users WHERE school_id = $1 AND id = $2 AND role = 'student' FOR UPDATE`
	// Answers stay, under an id that names no one: counts, rates and
	// per-student groupings (participants, completion) are unchanged.
	eraseAnswersSQL      = `UPDATE answers SET student_id = $3 WHERE school_id = $1 AND student_id = $2`
	eraseParticipantsSQL = `UPDATE session_participants SET student_id = $3 WHERE school_id = $1 AND student_id = $2
		RETURNING session_id::text`
	eraseStudentHistorySQL = `UPDATE report_student_sessions_history SET student_id = $3 WHERE school_id = $1 AND student_id = $2`
	eraseEventsSQL         = `UPDATE events SET user_id = $3 WHERE school_id = $1 AND user_id = $2`
	eraseOutboxSQL         = `UPDATE outbox SET payload = jsonb_set(payload, '{user_id}', to_jsonb($3::text))
		WHERE school_id = $1 AND payload->>'user_id' = $2::text`
	eraseAuditSetSQL     = `SELECT set_config('quizcast.audit_erasure', 'on', true)`
	eraseAuditActorSQL   = `UPDATE audit_log SET actor_id = NULL WHERE school_id = $1 AND actor_id = $2`
	eraseAuditSubjectSQL = `UPDATE audit_log SET subject_id = NULL WHERE school_id = $1 AND subject_id = $2`
	eraseAuditOffSQL     = `SELECT set_config('quizcast.audit_erasure', 'off', true)`
	eraseResetsSQL       = `DELETE FROM password_resets WHERE school_id = $1 AND user_id = $2`
	eraseRefreshSQL      = `DELETE FROM refresh_tokens WHERE school_id = $1 AND user_id = $2`
	eraseLoginsSQL       = `DELETE FROM logins WHERE school_id = $1 AND user_id = $2`
	eraseEnrolmentsSQL   = `DELETE FROM enrolments WHERE school_id = $1 AND student_id = $2`
	eraseUserSQL         = `DELETE FROM users WHERE school_id = $1 AND id = $2`
	broadcastsNamingSQL  = `SELECT session_id::text, seq, frame::text FROM session_broadcasts
		WHERE school_id = $1 AND session_id = ANY ($2::uuid[]) AND strpos(frame::text, $3::text) > 0`
	rewriteBroadcastSQL = `UPDATE session_broadcasts SET frame = $3::json WHERE session_id = $1 AND seq = $2`
	insertErasedSQL     = `INSERT INTO audit_log (school_id, actor_id, action, subject_type, subject_id, request_id)
		VALUES ($1, $2, 'student.erased', 'user', $3, $4)`
)

// Erase deletes a student of the school and every field that identifies
// them, in one transaction: the account, logins, reset codes and
// enrolments go; answers, participations, rolled-up report rows, stored
// events and pending outbox messages keep their rows under a fresh
// anonymous id; stored broadcasts lose the student's entries; the audit
// log keeps the id only as the subject of the student.erased entry
// appended here (actorID erased it during requestID). It returns the
// sessions the student took part in. An id that is not a student of the
// school is quiz.ErrNotFound.
func (s *Store) Erase(ctx context.Context, schoolID, studentID, actorID, requestID string) ([]string, error) {
	var sessions []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var id string
		if err := tx.QueryRow(ctx, eraseLockSQL, schoolID, studentID).Scan(&id); err != nil {
			return err
		}
		var anon string
		if err := tx.QueryRow(ctx, `SELECT gen_random_uuid()::text`).Scan(&anon); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, eraseAnswersSQL, schoolID, studentID, anon); err != nil {
			return fmt.Errorf("answers: %w", err)
		}
		rows, err := tx.Query(ctx, eraseParticipantsSQL, schoolID, studentID, anon)
		if err != nil {
			return fmt.Errorf("participants: %w", err)
		}
		if sessions, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return fmt.Errorf("participants: %w", err)
		}
		for _, q := range []string{eraseStudentHistorySQL, eraseEventsSQL, eraseOutboxSQL} {
			if _, err := tx.Exec(ctx, q, schoolID, studentID, anon); err != nil {
				return fmt.Errorf("anonymise: %w", err)
			}
		}
		if err := rewriteBroadcasts(ctx, tx, schoolID, studentID, sessions); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, eraseAuditSetSQL); err != nil {
			return err
		}
		for _, q := range []string{eraseAuditActorSQL, eraseAuditSubjectSQL} {
			if _, err := tx.Exec(ctx, q, schoolID, studentID); err != nil {
				return fmt.Errorf("audit: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, eraseAuditOffSQL); err != nil {
			return err
		}
		for _, q := range []string{eraseResetsSQL, eraseRefreshSQL, eraseLoginsSQL, eraseEnrolmentsSQL, eraseUserSQL} {
			if _, err := tx.Exec(ctx, q, schoolID, studentID); err != nil {
				return fmt.Errorf("delete: %w", err)
			}
		}
		_, err = tx.Exec(ctx, insertErasedSQL, schoolID, actorID, studentID, requestID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("erase student %s: %w", studentID, err)
	}
	return sessions, nil
}

// rewriteBroadcasts removes the student from the stored broadcasts of the
// sessions: leaderboard and participants entries naming them go.
func rewriteBroadcasts(ctx context.Context, tx pgx.Tx, schoolID, studentID string, sessions []string) error {
	if len(sessions) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, broadcastsNamingSQL, schoolID, sessions, studentID)
	if err != nil {
		return fmt.Errorf("broadcasts: %w", err)
	}
	type frame struct {
		session string
		seq     int64
		body    string
	}
	var frames []frame
	for rows.Next() {
		var f frame
		if err := rows.Scan(&f.session, &f.seq, &f.body); err != nil {
			return fmt.Errorf("broadcasts: %w", err)
		}
		frames = append(frames, f)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("broadcasts: %w", err)
	}
	for _, f := range frames {
		var v any
		if err := json.Unmarshal([]byte(f.body), &v); err != nil {
			return fmt.Errorf("broadcast %s/%d: %w", f.session, f.seq, err)
		}
		b, err := json.Marshal(WithoutUser(v, studentID))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, rewriteBroadcastSQL, f.session, f.seq, string(b)); err != nil {
			return fmt.Errorf("broadcast %s/%d: %w", f.session, f.seq, err)
		}
	}
	return nil
}

// WithoutUser returns the decoded JSON v without the user: array items
// that are objects with that user_id, or that are the id itself, are
// dropped; any other string equal to the id becomes "".
func WithoutUser(v any, userID string) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = WithoutUser(x, userID)
		}
		return t
	case []any:
		out := t[:0]
		for _, x := range t {
			if s, ok := x.(string); ok && s == userID {
				continue
			}
			if m, ok := x.(map[string]any); ok && m["user_id"] == userID {
				continue
			}
			out = append(out, WithoutUser(x, userID))
		}
		return out
	case string:
		if t == userID {
			return ""
		}
		return t
	default:
		return v
	}
}

// Retained is what a retention pass removed.
type Retained struct {
	Sessions          int
	DroppedPartitions []string
	// SessionIDs are the removed sessions (their Redis keys go too).
	SessionIDs []string
}

// Retention statements. Sessions before the horizon: started before it, or
// never started and created before it.
const (
	oldSessionsSQL = `SELECT id::text FROM sessions
		WHERE coalesce(started_at, created_at) < $1 LIMIT $2`
	partitionsSQL = `SELECT c.relname::text
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
		WHERE p.relname = $1`
	// A partition of answers can go whole when every session with answers
	// in it is before the horizon.
	answersPartitionBusySQL = `SELECT EXISTS (SELECT 1 FROM sessions
		WHERE created_at >= $1 AND created_at < $2 AND coalesce(started_at, created_at) >= $3)`
)

// deleteSessionsSQL removes every row about the sessions, children first.
var deleteSessionsSQL = []string{
	`DELETE FROM answers WHERE session_id = ANY ($1::uuid[])`,
	`DELETE FROM events WHERE session_id = ANY ($1::uuid[])`,
	`DELETE FROM outbox WHERE payload->>'session_id' = ANY ($1::text[])`,
	`DELETE FROM session_broadcasts WHERE session_id = ANY ($1::uuid[])`,
	`DELETE FROM session_participants WHERE session_id = ANY ($1::uuid[])`,
	`DELETE FROM session_questions WHERE session_id = ANY ($1::uuid[])`,
	`DELETE FROM report_student_sessions_history WHERE session_id = ANY ($1::uuid[])`,
	`DELETE FROM report_classroom_sessions_history WHERE session_id = ANY ($1::uuid[])`,
	`DELETE FROM report_question_stats_history WHERE session_id = ANY ($1::uuid[])`,
	`DELETE FROM sessions WHERE id = ANY ($1::uuid[])`,
}

// monthPartition reads the month of a partition from its name
// (parent_YYYY_MM, as quizcast_ensure_partitions names them).
func monthPartition(parent, name string) (from, to time.Time, ok bool) {
	m, err := time.Parse("2006_01", strings.TrimPrefix(name, parent+"_"))
	if err != nil || !strings.HasPrefix(name, parent+"_") {
		return time.Time{}, time.Time{}, false
	}
	return m, m.AddDate(0, 1, 0), true
}

// dropPartitionsBefore drops the monthly partitions of parent that end at
// or before horizon; busy, when given, keeps a partition that still holds
// data after the horizon.
func (s *Store) dropPartitionsBefore(ctx context.Context, parent string, horizon time.Time, busy func(from, to time.Time) (bool, error)) ([]string, error) {
	rows, err := s.pool.Query(ctx, partitionsSQL, parent)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", parent, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", parent, err)
	}
	var dropped []string
	for _, name := range names {
		from, to, ok := monthPartition(parent, name)
		if !ok || to.After(horizon) {
			continue
		}
		if busy != nil {
			b, err := busy(from, to)
			if err != nil {
				return dropped, err
			}
			if b {
				continue
			}
		}
		if _, err := s.pool.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
			return dropped, fmt.Errorf("drop %s: %w", name, err)
		}
		dropped = append(dropped, name)
	}
	return dropped, nil
}

// RemoveBefore removes everything about the sessions started before
// horizon (answers, events, outbox rows, broadcasts, participants, run
// questions, rolled-up report rows, the sessions), dropping the monthly
// partitions of answers and events that end by the horizon and deleting
// rows elsewhere in batches of batch sessions. Quizzes and classrooms stay.
func (s *Store) RemoveBefore(ctx context.Context, horizon time.Time, batch int) (Retained, error) {
	var out Retained
	var err error
	out.DroppedPartitions, err = s.dropPartitionsBefore(ctx, "answers", horizon, func(from, to time.Time) (bool, error) {
		var busy bool
		err := s.pool.QueryRow(ctx, answersPartitionBusySQL, from, to, horizon).Scan(&busy)
		return busy, err
	})
	if err != nil {
		return out, err
	}
	events, err := s.dropPartitionsBefore(ctx, "events", horizon, nil)
	out.DroppedPartitions = append(out.DroppedPartitions, events...)
	if err != nil {
		return out, err
	}
	for {
		var ids []string
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, oldSessionsSQL, horizon, batch)
			if err != nil {
				return err
			}
			if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || len(ids) == 0 {
				return err
			}
			for _, q := range deleteSessionsSQL {
				if _, err := tx.Exec(ctx, q, ids); err != nil {
					return fmt.Errorf("%s: %w", q, err)
				}
			}
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("remove sessions: %w", err)
		}
		out.Sessions += len(ids)
		out.SessionIDs = append(out.SessionIDs, ids...)
		if len(ids) < batch {
			return out, nil
		}
	}
}

// DropAuditBefore drops the audit log's monthly partitions that end by
// horizon: the audit log's own retention.
func (s *Store) DropAuditBefore(ctx context.Context, horizon time.Time) ([]string, error) {
	return s.dropPartitionsBefore(ctx, "audit_log", horizon, nil)
}

const purgeResetsSQL = `DELETE FROM password_resets WHERE expires_at < now()`

// PurgeExpiredResets deletes the reset codes that can no longer be used.
func (s *Store) PurgeExpiredResets(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, purgeResetsSQL)
	if err != nil {
		return 0, fmt.Errorf("purge resets: %w", mapError(err))
	}
	return tag.RowsAffected(), nil
}

// Exclusively runs fn while holding the session advisory lock named key,
// unless another session holds it: then it returns false at once. Nodes use
// it to take turns at a job that every node schedules.
func (s *Store) Exclusively(ctx context.Context, key string, fn func(context.Context) error) (bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", key, mapError(err))
	}
	defer conn.Release()
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, key).Scan(&ok); err != nil {
		return false, fmt.Errorf("lock %s: %w", key, mapError(err))
	}
	if !ok {
		return false, nil
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext($1))`, key) }()
	return true, fn(ctx)
}

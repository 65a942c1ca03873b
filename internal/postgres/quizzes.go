package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/quizcast/quizcast/internal/quiz"
)

const (
	insertQuizSQL = `INSERT INTO quizzes (school_id, owner_id) VALUES ($1, $2) RETURNING id, created_at`
	// now() is the transaction's start, the same in both tables: the
	// version's created_at is the quiz's updated_at.
	insertVersionSQL  = `INSERT INTO quiz_versions (school_id, quiz_id, version, title, description) VALUES ($1, $2, $3, $4, $5) RETURNING created_at`
	insertQuestionSQL = `INSERT INTO questions (id, school_id, quiz_id, quiz_version, idx, text, kind, options, correct, time_limit_s, points)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
)

// writeVersion inserts version v of quiz q (with its questions and the
// outbox event ev) inside tx, and fills q's version fields.
func writeVersion(ctx context.Context, tx pgx.Tx, q *quiz.Quiz, ev quiz.Event) error {
	if err := tx.QueryRow(ctx, insertVersionSQL, q.SchoolID, q.ID, q.Version, q.Title, q.Description).Scan(&q.UpdatedAt); err != nil {
		return fmt.Errorf("insert version: %w", err)
	}
	b := &pgx.Batch{}
	for i := range q.Questions {
		qu := &q.Questions[i]
		qu.Index = i
		b.Queue(insertQuestionSQL, qu.ID, q.SchoolID, q.ID, q.Version, qu.Index, qu.Text, string(qu.Kind),
			qu.Options, qu.Correct, qu.TimeLimitS, qu.Points)
	}
	ev.QuizID = q.ID
	ev.SchoolID = q.SchoolID
	ev.App = quiz.AppWhiteboard
	ev.Data = map[string]any{"version": q.Version, "question_count": len(q.Questions)}
	if err := queueEvents(b, ev); err != nil {
		return err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("insert questions: %w", err)
	}
	return nil
}

// CreateQuiz stores version 1 of a quiz owned by q.OwnerID, with its
// quiz_created event, in one transaction. The questions come with new ids of
// their own (question and option ids are never shared between versions).
func (s *Store) CreateQuiz(ctx context.Context, q quiz.Quiz, actorID string) (quiz.Quiz, error) {
	q.Version = 1
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, insertQuizSQL, q.SchoolID, q.OwnerID).Scan(&q.ID, &q.CreatedAt); err != nil {
			return fmt.Errorf("insert quiz: %w", err)
		}
		return writeVersion(ctx, tx, &q, quiz.Event{Name: quiz.EventQuizCreated, UserID: actorID})
	})
	if err != nil {
		return quiz.Quiz{}, fmt.Errorf("create quiz: %w", err)
	}
	return q, nil
}

// The row lock of this UPDATE orders concurrent edits: versions are
// consecutive and each edit builds on the last.
const bumpVersionSQL = `UPDATE quizzes SET current_version = current_version + 1, updated_at = now()
	WHERE school_id = $1 AND id = $2 RETURNING current_version, owner_id, created_at, archived_at`

var errArchived = &quiz.Error{Code: quiz.CodeConflict, Message: "the quiz is archived and cannot be edited"}

// UpdateQuiz stores q as the next version of quiz q.ID, with its
// quiz_updated event, in one transaction. Earlier versions stay as they
// were. An archived quiz is quiz.ErrConflict.
func (s *Store) UpdateQuiz(ctx context.Context, q quiz.Quiz, actorID string) (quiz.Quiz, error) {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var archived *time.Time
		if err := tx.QueryRow(ctx, bumpVersionSQL, q.SchoolID, q.ID).Scan(&q.Version, &q.OwnerID, &q.CreatedAt, &archived); err != nil {
			return fmt.Errorf("bump version: %w", err)
		}
		if archived != nil {
			return errArchived
		}
		return writeVersion(ctx, tx, &q, quiz.Event{Name: quiz.EventQuizUpdated, UserID: actorID})
	})
	if err != nil {
		return quiz.Quiz{}, fmt.Errorf("update quiz %s: %w", q.ID, err)
	}
	return q, nil
}

const (
	quizHeadSQL = `SELECT q.id, q.school_id, q.owner_id, v.version, v.title, v.description, q.created_at, v.created_at, q.archived_at
		FROM quizzes q JOIN quiz_versions v ON v.quiz_id = q.id
		WHERE q.school_id = $1 AND q.id = $2 AND v.version = coalesce($3, q.current_version)`
	questionsSQL = `SELECT id, idx, text, kind, options, correct, time_limit_s, points FROM questions
		WHERE school_id = $1 AND quiz_id = $2 AND quiz_version = $3 ORDER BY idx`
)

// Quiz reads the current version of a quiz of the school, archived or not.
func (s *Store) Quiz(ctx context.Context, schoolID, quizID string) (quiz.Quiz, error) {
	return s.quizVersion(ctx, schoolID, quizID, nil)
}

// QuizVersion reads one version of a quiz of the school: what a session
// started with it runs and reports on.
func (s *Store) QuizVersion(ctx context.Context, schoolID, quizID string, version int) (quiz.Quiz, error) {
	return s.quizVersion(ctx, schoolID, quizID, &version)
}

// quizVersion needs no transaction: a version never changes once written,
// so its questions can be read after its head.
func (s *Store) quizVersion(ctx context.Context, schoolID, quizID string, version *int) (quiz.Quiz, error) {
	var q quiz.Quiz
	err := s.pool.QueryRow(ctx, quizHeadSQL, schoolID, quizID, version).Scan(
		&q.ID, &q.SchoolID, &q.OwnerID, &q.Version, &q.Title, &q.Description, &q.CreatedAt, &q.UpdatedAt, &q.ArchivedAt)
	if err != nil {
		return quiz.Quiz{}, fmt.Errorf("quiz %s: %w", quizID, mapError(err))
	}
	rows, err := s.pool.Query(ctx, questionsSQL, schoolID, quizID, q.Version)
	if err != nil {
		return quiz.Quiz{}, fmt.Errorf("questions of quiz %s: %w", quizID, mapError(err))
	}
	q.Questions, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (quiz.Question, error) {
		var qu quiz.Question
		err := r.Scan(&qu.ID, &qu.Index, &qu.Text, &qu.Kind, &qu.Options, &qu.Correct, &qu.TimeLimitS, &qu.Points)
		return qu, err
	})
	if err != nil {
		return quiz.Quiz{}, fmt.Errorf("questions of quiz %s: %w", quizID, mapError(err))
	}
	return q, nil
}

// Archived quizzes leave the lists; they stay readable by id (reports,
// sessions already run).
const (
	listQuizzesSelect = `SELECT q.id, q.owner_id, v.version, v.title, v.description,
		(SELECT count(*) FROM questions x WHERE x.quiz_id = q.id AND x.quiz_version = v.version), q.created_at, v.created_at
		FROM quizzes q JOIN quiz_versions v ON v.quiz_id = q.id AND v.version = q.current_version
		WHERE q.school_id = $1 AND q.archived_at IS NULL AND (q.created_at, q.id) > ($2, $3)`
	listQuizzesOrder    = ` ORDER BY q.created_at, q.id LIMIT $4`
	listSchoolQuizzes   = listQuizzesSelect + listQuizzesOrder
	listOwnerQuizzesSQL = listQuizzesSelect + ` AND q.owner_id = $5` + listQuizzesOrder
)

// Quizzes lists the school's quizzes that are not archived, in creation
// order; ownerID, when set, keeps that teacher's only.
func (s *Store) Quizzes(ctx context.Context, schoolID, ownerID string, p quiz.Page) ([]quiz.QuizSummary, *quiz.Cursor, error) {
	t, id := afterTime(p)
	sql, args := listSchoolQuizzes, []any{schoolID, t, id, p.Limit + 1}
	if ownerID != "" {
		sql, args = listOwnerQuizzesSQL, append(args, ownerID)
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list quizzes: %w", mapError(err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (quiz.QuizSummary, error) {
		var q quiz.QuizSummary
		err := r.Scan(&q.ID, &q.OwnerID, &q.Version, &q.Title, &q.Description, &q.QuestionCount, &q.CreatedAt, &q.UpdatedAt)
		return q, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list quizzes: %w", mapError(err))
	}
	list, next := page(list, p.Limit, func(q quiz.QuizSummary) quiz.Cursor { return timeCursor(q.CreatedAt, q.ID) })
	return list, next, nil
}

const archiveQuizSQL = `UPDATE quizzes SET archived_at = coalesce(archived_at, now()) WHERE school_id = $1 AND id = $2`

// ArchiveQuiz archives a quiz of the school; archiving twice is a no-op.
func (s *Store) ArchiveQuiz(ctx context.Context, schoolID, quizID string) error {
	tag, err := s.pool.Exec(ctx, archiveQuizSQL, schoolID, quizID)
	if err != nil {
		return fmt.Errorf("archive quiz: %w", mapError(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("quiz %s: %w", quizID, quiz.ErrNotFound)
	}
	return nil
}

const quizOwnerSQL = `SELECT owner_id FROM quizzes WHERE school_id = $1 AND id = $2`

// QuizOwner returns the owner of a quiz of the school (policy.Facts).
func (s *Store) QuizOwner(ctx context.Context, schoolID, quizID string) (string, error) {
	var owner string
	if err := s.pool.QueryRow(ctx, quizOwnerSQL, schoolID, quizID).Scan(&owner); err != nil {
		return "", fmt.Errorf("quiz %s: %w", quizID, mapError(err))
	}
	return owner, nil
}

package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/quizcast/quizcast/internal/quiz"
)

// execer is what insertEvents needs: a transaction or a batch-capable conn.
type execer interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

const insertOutboxSQL = `INSERT INTO outbox (school_id, event_id, name, payload, created_at) VALUES ($1, $2, $3, $4, $5)`

// queueEvents adds the outbox rows of evs to b, filling event ids and times.
// Call it with the batch of the transaction that makes the change, so the
// events commit or roll back with it.
func queueEvents(b *pgx.Batch, evs ...quiz.Event) error {
	for i := range evs {
		e := &evs[i]
		if e.EventID == "" {
			e.EventID = uuid.NewString()
		}
		if e.OccurredAt.IsZero() {
			e.OccurredAt = time.Now().UTC()
		}
		if e.Data == nil {
			e.Data = map[string]any{}
		}
		payload, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", e.Name, err)
		}
		b.Queue(insertOutboxSQL, e.SchoolID, e.EventID, string(e.Name), payload, e.OccurredAt)
	}
	return nil
}

// insertEvents writes evs to the outbox inside tx.
func insertEvents(ctx context.Context, tx execer, evs ...quiz.Event) error {
	if len(evs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	if err := queueEvents(b, evs...); err != nil {
		return err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("insert outbox: %w", err)
	}
	return nil
}

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/quiz"
)

var _ auth.ResetStore = (*Store)(nil)

const putResetSQL = `INSERT INTO password_resets (user_id, school_id, code_hash, issued_by, expires_at)
VALUES ($1, $2, $3, NULLIF($4, '')::uuid, $5)
ON CONFLICT (user_id) DO UPDATE SET code_hash = EXCLUDED.code_hash, issued_by = EXCLUDED.issued_by,
	created_at = now(), expires_at = EXCLUDED.expires_at`

// PutReset stores the user's reset code hash, replacing any older code
// (auth.ResetStore).
func (s *Store) PutReset(ctx context.Context, user quiz.User, codeHash []byte, issuedBy string, expiresAt time.Time) error {
	if _, err := s.pool.Exec(ctx, putResetSQL, user.ID, user.SchoolID, codeHash, issuedBy, expiresAt); err != nil {
		return fmt.Errorf("put reset: %w", mapError(err))
	}
	return nil
}

const resetValidSQL = `SELECT EXISTS (SELECT 1 FROM password_resets WHERE user_id = $1 AND code_hash = $2 AND expires_at > now())`

// ResetValid reports whether codeHash is the user's pending code
// (auth.ResetStore).
func (s *Store) ResetValid(ctx context.Context, userID string, codeHash []byte) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, resetValidSQL, userID, codeHash).Scan(&ok); err != nil {
		return false, fmt.Errorf("reset valid: %w", mapError(err))
	}
	return ok, nil
}

const (
	spendResetSQL  = `DELETE FROM password_resets WHERE user_id = $1 AND code_hash = $2 AND expires_at > now()`
	setPasswordSQL = `UPDATE users SET password_hash = $3 WHERE school_id = $1 AND id = $2`
	revokeAllSQL   = `UPDATE logins SET revoked_at = coalesce(revoked_at, now())
		WHERE school_id = $1 AND user_id = $2 AND (revoked_at IS NULL OR revoked_at > now() - $3::interval)
		RETURNING id::text`
)

// revokeUserLogins revokes every login of the user and returns those that
// may still hold a live access token: the ones open until now and the ones
// revoked within the access token lifetime (so a retry marks them again).
func revokeUserLogins(ctx context.Context, tx pgx.Tx, schoolID, userID string, tokenTTL time.Duration) ([]string, error) {
	rows, err := tx.Query(ctx, revokeAllSQL, schoolID, userID, tokenTTL+time.Minute)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// RedeemReset spends the code, sets the password and revokes every login
// in one transaction (auth.ResetStore).
func (s *Store) RedeemReset(ctx context.Context, user quiz.User, codeHash []byte, passwordHash string, tokenTTL time.Duration) (bool, []string, error) {
	var ok bool
	var logins []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, spendResetSQL, user.ID, codeHash)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		ok = true
		if _, err := tx.Exec(ctx, setPasswordSQL, user.SchoolID, user.ID, passwordHash); err != nil {
			return err
		}
		logins, err = revokeUserLogins(ctx, tx, user.SchoolID, user.ID, tokenTTL)
		return err
	})
	if err != nil {
		return false, nil, fmt.Errorf("redeem reset: %w", err)
	}
	return ok, logins, nil
}

// RevokeUserLogins revokes every login of the user (auth.ResetStore).
func (s *Store) RevokeUserLogins(ctx context.Context, schoolID, userID string, tokenTTL time.Duration) ([]string, error) {
	var logins []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		logins, err = revokeUserLogins(ctx, tx, schoolID, userID, tokenTTL)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("revoke user logins: %w", err)
	}
	return logins, nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/quiz"
)

// Store holds the accounts, classrooms and quizzes of every school. Every
// query is scoped by school id.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store over pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, fn))
}

const userColumns = `id, school_id, name, email, role, created_at, deactivated_at IS NULL`

func scanUser(row pgx.Row, extra ...any) (quiz.User, error) {
	var u quiz.User
	dst := append([]any{&u.ID, &u.SchoolID, &u.Name, &u.Email, &u.Role, &u.CreatedAt, &u.Active}, extra...)
	if err := row.Scan(dst...); err != nil {
		return quiz.User{}, mapError(err)
	}
	return u, nil
}

const (
	insertSchoolSQL = `INSERT INTO schools (name) VALUES ($1) RETURNING id, name, created_at`
	insertUserSQL   = `INSERT INTO users (school_id, name, email, password_hash, role) VALUES ($1, $2, lower($3), $4, $5)
		RETURNING ` + userColumns
)

// CreateSchool creates a school and its first user in one transaction. An
// email already registered is quiz.ErrConflict.
func (s *Store) CreateSchool(ctx context.Context, schoolName string, admin quiz.User, passwordHash string) (quiz.School, quiz.User, error) {
	var school quiz.School
	var user quiz.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, insertSchoolSQL, schoolName).Scan(&school.ID, &school.Name, &school.CreatedAt); err != nil {
			return fmt.Errorf("insert school: %w", err)
		}
		var err error
		admin.SchoolID = school.ID
		user, err = scanUser(tx.QueryRow(ctx, insertUserSQL, admin.SchoolID, admin.Name, admin.Email, passwordHash, admin.Role))
		return err
	})
	if err != nil {
		return quiz.School{}, quiz.User{}, fmt.Errorf("create school: %w", err)
	}
	return school, user, nil
}

// CreateUser creates a user in u.SchoolID. An email already registered (in
// any school) is quiz.ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u quiz.User, passwordHash string) (quiz.User, error) {
	user, err := scanUser(s.pool.QueryRow(ctx, insertUserSQL, u.SchoolID, u.Name, u.Email, passwordHash, u.Role))
	if err != nil {
		return quiz.User{}, fmt.Errorf("create user: %w", err)
	}
	return user, nil
}

const userByEmailSQL = `SELECT ` + userColumns + `, password_hash FROM users WHERE lower(email) = lower($1)`

// UserByEmail finds a user of any school by email, with the password hash.
func (s *Store) UserByEmail(ctx context.Context, email string) (quiz.User, string, error) {
	var hash string
	u, err := scanUser(s.pool.QueryRow(ctx, userByEmailSQL, email), &hash)
	if err != nil {
		return quiz.User{}, "", fmt.Errorf("user by email: %w", err)
	}
	return u, hash, nil
}

const userSQL = `SELECT ` + userColumns + ` FROM users WHERE school_id = $1 AND id = $2`

// User reads a user of the school.
func (s *Store) User(ctx context.Context, schoolID, userID string) (quiz.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, userSQL, schoolID, userID))
	if err != nil {
		return quiz.User{}, fmt.Errorf("user %s: %w", userID, err)
	}
	return u, nil
}

const userRoleSQL = `SELECT role FROM users WHERE school_id = $1 AND id = $2`

// UserRole returns the role of a user of the school (policy.Facts).
func (s *Store) UserRole(ctx context.Context, schoolID, userID string) (quiz.Role, error) {
	var r quiz.Role
	if err := s.pool.QueryRow(ctx, userRoleSQL, schoolID, userID).Scan(&r); err != nil {
		return "", fmt.Errorf("user role %s: %w", userID, mapError(err))
	}
	return r, nil
}

const (
	insertLoginSQL   = `INSERT INTO logins (school_id, user_id) VALUES ($1, $2) RETURNING id`
	insertRefreshSQL = `INSERT INTO refresh_tokens (token_hash, school_id, login_id, user_id, expires_at) VALUES ($1, $2, $3, $4, $5)`
)

// CreateLogin starts a login of the user with its first refresh token.
func (s *Store) CreateLogin(ctx context.Context, user quiz.User, refreshHash []byte, expiresAt time.Time) (string, error) {
	var loginID string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, insertLoginSQL, user.SchoolID, user.ID).Scan(&loginID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, insertRefreshSQL, refreshHash, user.SchoolID, loginID, user.ID, expiresAt)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("create login: %w", err)
	}
	return loginID, nil
}

// The token row is locked so that two concurrent rotations of one token
// cannot both succeed: the second sees it spent.
const (
	refreshForUpdateSQL = `SELECT t.login_id, t.expires_at, t.spent_at IS NOT NULL, l.revoked_at IS NOT NULL,
		u.id, u.school_id, u.name, u.email, u.role, u.created_at, u.deactivated_at IS NULL
		FROM refresh_tokens t JOIN logins l ON l.id = t.login_id JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = $1 FOR UPDATE OF t, l`
	spendRefreshSQL = `UPDATE refresh_tokens SET spent_at = now() WHERE token_hash = $1`
	revokeLoginSQL  = `UPDATE logins SET revoked_at = now() WHERE school_id = $1 AND id = $2 AND revoked_at IS NULL`
)

var errBadRefresh = &quiz.Error{Code: quiz.CodeUnauthorized, Message: "the refresh token is invalid, expired or revoked"}

// RotateRefresh spends the refresh token hashed oldHash and stores newHash
// for the same login (auth.Store).
func (s *Store) RotateRefresh(ctx context.Context, oldHash, newHash []byte, expiresAt time.Time) (auth.Rotation, error) {
	var rot auth.Rotation
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var exp time.Time
		var spent, revoked bool
		u := &rot.User
		err := tx.QueryRow(ctx, refreshForUpdateSQL, oldHash).Scan(&rot.LoginID, &exp, &spent, &revoked,
			&u.ID, &u.SchoolID, &u.Name, &u.Email, &u.Role, &u.CreatedAt, &u.Active)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return errBadRefresh
		case err != nil:
			return err
		case spent:
			// Reuse: someone holds a copy. Revoke the login (again, if it
			// was: the caller then renews the Redis mark too) and commit.
			rot.Reused = true
			_, err := tx.Exec(ctx, revokeLoginSQL, u.SchoolID, rot.LoginID)
			return err
		case revoked:
			return errBadRefresh
		case !exp.After(time.Now()):
			return errBadRefresh
		}
		if _, err := tx.Exec(ctx, spendRefreshSQL, oldHash); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, insertRefreshSQL, newHash, u.SchoolID, rot.LoginID, u.ID, expiresAt)
		return err
	})
	if err != nil {
		return auth.Rotation{}, fmt.Errorf("rotate refresh token: %w", err)
	}
	return rot, nil
}

// RevokeLogin marks the login revoked (auth.Store). Revoking twice is fine.
func (s *Store) RevokeLogin(ctx context.Context, schoolID, loginID string) error {
	if _, err := s.pool.Exec(ctx, revokeLoginSQL, schoolID, loginID); err != nil {
		return fmt.Errorf("revoke login: %w", mapError(err))
	}
	return nil
}

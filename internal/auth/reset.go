package auth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/ratelimit"
)

// ResetTTL is how long a password reset code can be redeemed.
const ResetTTL = 24 * time.Hour

// NoPassword is the stored hash of an account created without a password
// (a roster import row without one): no password matches it, so the
// account can log in only after a reset code.
const NoPassword = "!"

// ResetStore is what password resets need from the database.
type ResetStore interface {
	// UserByEmail finds a user of any school with their password hash.
	UserByEmail(ctx context.Context, email string) (quiz.User, string, error)
	// PutReset stores the hash of the user's reset code, voiding any older
	// code of the user.
	PutReset(ctx context.Context, user quiz.User, codeHash []byte, issuedBy string, expiresAt time.Time) error
	// ResetValid reports whether codeHash is the user's pending, unexpired
	// code, without spending it.
	ResetValid(ctx context.Context, userID string, codeHash []byte) (bool, error)
	// RedeemReset spends the code, stores the new password hash and
	// revokes every login of the user in one transaction, returning the
	// logins whose access tokens may still be alive. ok is false when the
	// code is not (or no longer) pending.
	RedeemReset(ctx context.Context, user quiz.User, codeHash []byte, passwordHash string, tokenTTL time.Duration) (ok bool, logins []string, err error)
	// RevokeUserLogins revokes every login of the user and returns the
	// logins whose access tokens may still be alive.
	RevokeUserLogins(ctx context.Context, schoolID, userID string, tokenTTL time.Duration) ([]string, error)
}

// Auditor appends to the audit log.
type Auditor interface {
	Record(ctx context.Context, e quiz.AuditEntry) error
}

// Resets issues and redeems single-use password reset codes, and revokes
// every login of a user (deactivation, erasure, a redeemed code).
type Resets struct {
	store   ResetStore
	tokens  *Tokens
	limiter *ratelimit.Limiter
	audit   Auditor
}

// NewResets returns the password reset service.
func NewResets(store ResetStore, tokens *Tokens, limiter *ratelimit.Limiter, audit Auditor) *Resets {
	return &Resets{store: store, tokens: tokens, limiter: limiter, audit: audit}
}

// Issue stores a new reset code for user (voiding older ones) and returns
// it: the only time it exists in clear.
func (r *Resets) Issue(ctx context.Context, user quiz.User, issuedBy string) (string, time.Duration, error) {
	code, err := randomToken()
	if err != nil {
		return "", 0, err
	}
	if err := r.store.PutReset(ctx, user, HashToken(code), issuedBy, time.Now().Add(ResetTTL)); err != nil {
		return "", 0, fmt.Errorf("issue reset code: %w", err)
	}
	return code, ResetTTL, nil
}

var errBadReset = &quiz.Error{Code: quiz.CodeUnauthorized, Message: "wrong email or reset code, or the code has expired or been used"}

// Redeem sets a new password with a reset code and revokes every login of
// the user on every node. A wrong, expired or spent code (or an unknown
// email) is 401, spends nothing and counts as a failed login of the email
// from the client's address ip.
func (r *Resets) Redeem(ctx context.Context, email, code, newPassword, ip, requestID string) error {
	email = NormalizeEmail(email)
	if err := r.limiter.AccountBlocked(ctx, email, ip); err != nil {
		return err
	}
	user, _, err := r.store.UserByEmail(ctx, email)
	if errors.Is(err, quiz.ErrNotFound) {
		return r.failed(ctx, email, ip)
	}
	if err != nil {
		return err
	}
	codeHash := HashToken(code)
	valid, err := r.store.ResetValid(ctx, user.ID, codeHash)
	if err != nil {
		return err
	}
	if !valid {
		return r.failed(ctx, email, ip)
	}
	// Hashed only once the code is known good: a wrong code costs no bcrypt.
	hash, err := HashPassword(newPassword)
	if err != nil {
		return err
	}
	ok, logins, err := r.store.RedeemReset(ctx, user, codeHash, hash, r.tokens.TTL())
	if err != nil {
		return err
	}
	if !ok {
		return r.failed(ctx, email, ip)
	}
	if err := r.tokens.RevokeAll(ctx, logins); err != nil {
		return err
	}
	return r.audit.Record(ctx, quiz.AuditEntry{SchoolID: user.SchoolID, ActorID: user.ID, Action: quiz.AuditPasswordResetUsed,
		SubjectType: quiz.SubjectUser, SubjectID: user.ID, RequestID: requestID})
}

func (r *Resets) failed(ctx context.Context, email, ip string) error {
	if err := r.limiter.AccountFailed(ctx, email, ip); err != nil && !errors.Is(err, ratelimit.ErrLimited) {
		return err
	}
	return errBadReset
}

// RevokeUser revokes every login of the user: refresh tokens are refused
// by PostgreSQL, access tokens and open sockets (closed with 4401 by the
// nodes' revocation watch) by the Redis marks. Safe to repeat: the logins
// revoked within the access token lifetime are marked again.
func (r *Resets) RevokeUser(ctx context.Context, schoolID, userID string) error {
	logins, err := r.store.RevokeUserLogins(ctx, schoolID, userID, r.tokens.TTL())
	if err != nil {
		return fmt.Errorf("revoke logins: %w", err)
	}
	return r.tokens.RevokeAll(ctx, logins)
}

// RevokeAll marks every login of ids revoked in Redis, in one round trip.
func (t *Tokens) RevokeAll(ctx context.Context, loginIDs []string) error {
	if len(loginIDs) == 0 {
		return nil
	}
	pipe := t.rdb.Pipeline()
	for _, id := range loginIDs {
		pipe.Set(ctx, revokedPrefix+id, 1, t.ttl+time.Minute)
	}
	pipe.Incr(ctx, revocationEpochKey)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("%w: revoke logins: %w", quiz.ErrUnavailable, err)
	}
	return nil
}

// HashPasswords hashes many passwords side by side, at most one per CPU,
// through HashPassword; out[i] is the hash of passwords[i].
func HashPasswords(ctx context.Context, passwords []string) ([]string, error) {
	out := make([]string, len(passwords))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, p := range passwords {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			h, err := HashPassword(p)
			out[i] = h
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("hash passwords: %w", err)
	}
	return out, nil
}

package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/quizcast/quizcast/internal/quiz"
	"github.com/quizcast/quizcast/internal/ratelimit"
)

// Store is what the accounts service needs from the database.
type Store interface {
	// CreateSchool creates a school and its first user, an admin.
	CreateSchool(ctx context.Context, schoolName string, admin quiz.User, passwordHash string) (quiz.School, quiz.User, error)
	// UserByEmail finds a user of any school with their password hash.
	UserByEmail(ctx context.Context, email string) (quiz.User, string, error)
	// User reads a user of the school.
	User(ctx context.Context, schoolID, userID string) (quiz.User, error)
	// CreateLogin starts a login for the user with its first refresh token.
	CreateLogin(ctx context.Context, user quiz.User, refreshHash []byte, expiresAt time.Time) (string, error)
	// RotateRefresh spends the refresh token hashed oldHash and stores
	// newHash in its place. A spent token revokes its login and reports
	// Reused; an unknown, expired or revoked one is quiz.ErrUnauthorized.
	RotateRefresh(ctx context.Context, oldHash, newHash []byte, expiresAt time.Time) (Rotation, error)
	// RevokeLogin marks the login revoked: its refresh tokens stop working.
	RevokeLogin(ctx context.Context, schoolID, loginID string) error
}

// Rotation is the outcome of a refresh token rotation.
type Rotation struct {
	User    quiz.User
	LoginID string
	// Reused is set when the token had been spent already: the login is
	// revoked in the database and must be revoked in Redis too.
	Reused bool
}

// Pair is what a login or a refresh hands out.
type Pair struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
	User         quiz.User
}

// Service registers schools, logs users in and out and rotates refresh
// tokens.
type Service struct {
	store      Store
	tokens     *Tokens
	limiter    *ratelimit.Limiter
	hasher     *Hasher
	refreshTTL time.Duration
	// dummyHash is compared against for unknown emails, so they take as
	// long as a wrong password.
	dummyHash string
}

// NewService returns the accounts service.
// Every bcrypt computation goes through hasher, the node's bounded pool.
func NewService(store Store, tokens *Tokens, limiter *ratelimit.Limiter, hasher *Hasher, refreshTTL time.Duration) (*Service, error) {
	dummy, err := HashPassword("not a password of anyone")
	if err != nil {
		return nil, err
	}
	return &Service{store: store, tokens: tokens, limiter: limiter, hasher: hasher, refreshTTL: refreshTTL, dummyHash: dummy}, nil
}

// NormalizeEmail is the stored form of an email: trimmed, lower-case.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Register creates a school and its admin. Failed registrations (an email
// already taken) count against the email's limit like failed logins.
func (s *Service) Register(ctx context.Context, name, email, password, schoolName, ip string) (quiz.School, quiz.User, error) {
	email = NormalizeEmail(email)
	if err := s.limiter.AccountBlocked(ctx, email, ip); err != nil {
		return quiz.School{}, quiz.User{}, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return quiz.School{}, quiz.User{}, err
	}
	admin := quiz.User{Name: name, Email: email, Role: quiz.RoleAdmin}
	school, user, err := s.store.CreateSchool(ctx, schoolName, admin, hash)
	if errors.Is(err, quiz.ErrConflict) {
		if lerr := s.limiter.AccountFailed(ctx, email, ip); lerr != nil && !errors.Is(lerr, ratelimit.ErrLimited) {
			return quiz.School{}, quiz.User{}, lerr
		}
		return quiz.School{}, quiz.User{}, ErrEmailTaken
	}
	return school, user, err
}

// ErrEmailTaken answers the creation of an account whose email is
// registered already (in any school: logins are by email alone).
// The message does not say where: logins are by email alone, so the
// creation must fail, but nothing tells which school holds the email.
var ErrEmailTaken = &quiz.Error{Code: quiz.CodeConflict, Message: "this email cannot be used for a new account",
	Fields: map[string]string{"email": "cannot be used for a new account"}}

// ErrDeactivated refuses the login of an account an admin deactivated.
var ErrDeactivated = &quiz.Error{Code: quiz.CodeForbidden, Message: "this account is deactivated; ask the school's admin"}

var errBadLogin = &quiz.Error{Code: quiz.CodeUnauthorized, Message: "wrong email or password"}

// Login checks the password and starts a login. An unknown email and a
// wrong password answer alike and take alike; failures count per (email,
// client address) and per client address.
func (s *Service) Login(ctx context.Context, email, password, ip string) (Pair, error) {
	email = NormalizeEmail(email)
	if err := s.limiter.AccountBlocked(ctx, email, ip); err != nil {
		return Pair{}, err
	}
	user, hash, err := s.store.UserByEmail(ctx, email)
	known := err == nil
	switch {
	case errors.Is(err, quiz.ErrNotFound):
		hash = s.dummyHash
	case err != nil:
		return Pair{}, err
	}
	match, err := s.hasher.Check(ctx, hash, password)
	if err != nil {
		return Pair{}, err
	}
	if !known || !match {
		return Pair{}, s.failed(ctx, email, ip)
	}
	if !user.Active {
		// After the password check, so the answer tells nothing to
		// whoever does not hold it.
		return Pair{}, ErrDeactivated
	}
	refresh, err := randomToken()
	if err != nil {
		return Pair{}, err
	}
	loginID, err := s.store.CreateLogin(ctx, user, HashToken(refresh), time.Now().Add(s.refreshTTL))
	if err != nil {
		return Pair{}, err
	}
	return s.pair(user, loginID, refresh)
}

// failed counts a failed login and answers it.
func (s *Service) failed(ctx context.Context, email, ip string) error {
	if err := s.limiter.AccountFailed(ctx, email, ip); err != nil && !errors.Is(err, ratelimit.ErrLimited) {
		return err
	}
	return errBadLogin
}

func (s *Service) pair(user quiz.User, loginID, refresh string) (Pair, error) {
	access, _, err := s.tokens.Issue(Identity{UserID: user.ID, SchoolID: user.SchoolID, LoginID: loginID, Role: user.Role})
	if err != nil {
		return Pair{}, err
	}
	return Pair{AccessToken: access, RefreshToken: refresh, ExpiresIn: s.tokens.TTL(), User: user}, nil
}

// Refresh spends a refresh token for a new pair of the same login. A token
// presented twice revokes the whole login: whoever holds the other copy
// (thief or owner) must log in again.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (Pair, error) {
	next, err := randomToken()
	if err != nil {
		return Pair{}, err
	}
	rot, err := s.store.RotateRefresh(ctx, HashToken(refreshToken), HashToken(next), time.Now().Add(s.refreshTTL))
	if err != nil {
		return Pair{}, err
	}
	if rot.Reused {
		if err := s.tokens.Revoke(ctx, rot.LoginID); err != nil {
			return Pair{}, err
		}
		return Pair{}, quiz.Errorf(quiz.CodeUnauthorized, "the refresh token was already used; the login is revoked")
	}
	// The access token sees the block before the refresh does: a login
	// revoked in Redis alone (a failed database write) stays revoked.
	revoked, err := s.tokens.IsRevoked(ctx, rot.LoginID)
	if err != nil {
		return Pair{}, err
	}
	if revoked {
		return Pair{}, ErrRevoked
	}
	return s.pair(rot.User, rot.LoginID, next)
}

// Logout revokes the caller's login: its access tokens fail at once on
// every node, its refresh tokens are refused. Other logins are untouched.
func (s *Service) Logout(ctx context.Context, id Identity) error {
	// Redis first: it is what every node checks on every request.
	if err := s.tokens.Revoke(ctx, id.LoginID); err != nil {
		return err
	}
	if err := s.store.RevokeLogin(ctx, id.SchoolID, id.LoginID); err != nil {
		return fmt.Errorf("revoke login: %w", err)
	}
	return nil
}

// Me returns the caller's account.
func (s *Service) Me(ctx context.Context, id Identity) (quiz.User, error) {
	return s.store.User(ctx, id.SchoolID, id.UserID)
}

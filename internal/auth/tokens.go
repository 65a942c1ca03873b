package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/quiz"
)

// MaxAccessTTL is the longest access token lifetime the contract allows.
const MaxAccessTTL = 15 * time.Minute

// TicketTTL is how long a WebSocket ticket can be redeemed.
const TicketTTL = 30 * time.Second

const (
	issuer          = "quizcast"
	revokedPrefix   = "qc:revoked:login:"
	ticketPrefix    = "qc:wsticket:"
	minSecretLength = 32
)

// claims are the access token's JWT claims: sub is the user id, sid the
// login id that revocation is keyed on.
type claims struct {
	jwt.RegisteredClaims
	SchoolID string    `json:"sch"`
	Role     quiz.Role `json:"role"`
	LoginID  string    `json:"sid"`
}

// Tokens mints and verifies access tokens (HS256 JWTs), keeps the per-login
// revocation marks in Redis, and issues single-use WebSocket tickets. Every
// node built with the same secret and Redis accepts the same tokens and
// honours the same revocations.
type Tokens struct {
	secret []byte
	kid    string
	// previous is the key being rotated out (nil outside a rotation):
	// tokens it signed are accepted until they expire, none are signed.
	previous    []byte
	previousKid string
	ttl         time.Duration
	rdb         redis.UniversalClient
	parser      *jwt.Parser
	now         func() time.Time
}

// NewTokens returns Tokens signing with secret (at least 32 bytes) for
// access tokens that live ttl (at most MaxAccessTTL).
func NewTokens(secret []byte, ttl time.Duration, rdb redis.UniversalClient) (*Tokens, error) {
	if len(secret) < minSecretLength {
		return nil, fmt.Errorf("JWT secret must be at least %d bytes", minSecretLength)
	}
	if ttl <= 0 || ttl > MaxAccessTTL {
		return nil, fmt.Errorf("access token lifetime %s outside (0, %s]", ttl, MaxAccessTTL)
	}
	t := &Tokens{secret: secret, kid: KeyID(secret), ttl: ttl, rdb: rdb}
	t.UseClock(time.Now)
	return t, nil
}

// clockLeeway is how far apart the clocks that issue and check a token may
// be: nodes read PostgreSQL's clock (internal/clock), so they agree to
// within milliseconds.
const clockLeeway = time.Second

// UseClock makes t issue and check tokens by now (a node passes its
// internal/clock: a token another node issued is then not "used before
// issued" or expired early on a node whose wall clock stepped).
func (t *Tokens) UseClock(now func() time.Time) {
	t.now = now
	// The algorithm is pinned: a token claiming "none", RS256 (with the
	// secret as a "public key") or anything else fails.
	t.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(issuer),
		jwt.WithTimeFunc(now),
		// Claims are whole seconds and the issuing node's clock may be a
		// few milliseconds ahead of the checking one's: without a leeway a
		// token issued just after a second boundary is "used before
		// issued" on another node for those milliseconds.
		jwt.WithLeeway(clockLeeway),
	)
}

// KeyID names a signing key in the tokens' "kid" header without giving
// it away: the first 8 bytes of its SHA-256, in hex.
func KeyID(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:8])
}

// AcceptPrevious makes t also accept tokens signed with previous, the key
// of JWT_PREVIOUS_SECRET during a rotation (operations.md).
func (t *Tokens) AcceptPrevious(previous []byte) error {
	if len(previous) < minSecretLength {
		return fmt.Errorf("previous JWT secret must be at least %d bytes", minSecretLength)
	}
	t.previous, t.previousKid = previous, KeyID(previous)
	return nil
}

// key picks the verification key of a token by its "kid" header; a token
// without one (signed before kids existed) is tried with the current key.
func (t *Tokens) key(tok *jwt.Token) (any, error) {
	kid, _ := tok.Header["kid"].(string)
	switch {
	case kid == "" || kid == t.kid:
		return t.secret, nil
	case t.previous != nil && kid == t.previousKid:
		return t.previous, nil
	default:
		return nil, errors.New("unknown key id")
	}
}

// TTL is the access token lifetime.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Issue mints an access token for id; id.ExpiresAt is ignored and set from
// the lifetime. It returns the token and its expiry.
func (t *Tokens) Issue(id Identity) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(t.ttl)
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, fmt.Errorf("token id: %w", err)
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   id.UserID,
			ExpiresAt: jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ID:        hex.EncodeToString(jti),
		},
		SchoolID: id.SchoolID,
		Role:     id.Role,
		LoginID:  id.LoginID,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = t.kid
	s, err := tok.SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	return s, c.ExpiresAt.Time, nil
}

var errBadToken = &quiz.Error{Code: quiz.CodeUnauthorized, Message: "the access token is invalid or expired"}

// Parse checks the token's signature, algorithm and times and returns its
// identity, without the revocation check (see Verify).
func (t *Tokens) Parse(token string) (Identity, error) {
	var c claims
	_, err := t.parser.ParseWithClaims(token, &c, t.key)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", errBadToken, err)
	}
	if c.Subject == "" || c.SchoolID == "" || c.LoginID == "" || c.NotBefore == nil ||
		(c.Role != quiz.RoleAdmin && c.Role != quiz.RoleTeacher && c.Role != quiz.RoleStudent) {
		return Identity{}, fmt.Errorf("%w: incomplete claims", errBadToken)
	}
	return Identity{UserID: c.Subject, SchoolID: c.SchoolID, LoginID: c.LoginID, Role: c.Role, ExpiresAt: c.ExpiresAt.Time}, nil
}

// Verify returns the identity of a valid access token whose login has not
// been revoked. It costs one Redis EXISTS; when Redis does not answer it
// fails closed with quiz.ErrUnavailable.
func (t *Tokens) Verify(ctx context.Context, token string) (Identity, error) {
	id, err := t.Parse(token)
	if err != nil {
		return Identity{}, err
	}
	return t.unlessRevoked(ctx, id)
}

// unlessRevoked returns id if its login is not revoked.
func (t *Tokens) unlessRevoked(ctx context.Context, id Identity) (Identity, error) {
	revoked, err := t.IsRevoked(ctx, id.LoginID)
	if err != nil {
		return Identity{}, err
	}
	if revoked {
		return Identity{}, ErrRevoked
	}
	return id, nil
}

// ErrRevoked answers a token or ticket of a revoked login.
var ErrRevoked = &quiz.Error{Code: quiz.CodeUnauthorized, Message: "the login has been revoked"}

// IsRevoked reports whether the login has been revoked (logout or refresh
// token reuse). A live socket calls it to re-check its identity.
func (t *Tokens) IsRevoked(ctx context.Context, loginID string) (bool, error) {
	n, err := t.rdb.Exists(ctx, revokedPrefix+loginID).Result()
	if err != nil {
		return false, fmt.Errorf("%w: revocation check: %w", quiz.ErrUnavailable, err)
	}
	return n > 0, nil
}

// Revoke makes every access token of the login fail on every node at once.
// The mark outlives the longest-lived access token the login can hold; the
// login's refresh tokens are refused by PostgreSQL (logins.revoked_at).
func (t *Tokens) Revoke(ctx context.Context, loginID string) error {
	pipe := t.rdb.Pipeline()
	pipe.Set(ctx, revokedPrefix+loginID, 1, t.ttl+time.Minute)
	pipe.Incr(ctx, revocationEpochKey)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("%w: revoke login: %w", quiz.ErrUnavailable, err)
	}
	return nil
}

// ticketKey stores a ticket by its hash, so a Redis dump holds no ticket.
func ticketKey(ticket string) string {
	return ticketPrefix + hex.EncodeToString(HashToken(ticket))
}

// IssueTicket returns a single-use WebSocket ticket standing for id, valid
// for TicketTTL on any node.
func (t *Tokens) IssueTicket(ctx context.Context, id Identity) (string, time.Duration, error) {
	ticket, err := randomToken()
	if err != nil {
		return "", 0, err
	}
	data, err := json.Marshal(id)
	if err != nil {
		return "", 0, fmt.Errorf("encode ticket: %w", err)
	}
	if err := t.rdb.Set(ctx, ticketKey(ticket), data, TicketTTL).Err(); err != nil {
		return "", 0, fmt.Errorf("%w: store ticket: %w", quiz.ErrUnavailable, err)
	}
	return ticket, TicketTTL, nil
}

var errBadTicket = &quiz.Error{Code: quiz.CodeUnauthorized, Message: "the ticket is invalid, expired or already used"}

// RedeemTicket spends a ticket (GETDEL: the first redeemer on any node wins)
// and returns the identity it was issued for, if its login is not revoked.
func (t *Tokens) RedeemTicket(ctx context.Context, ticket string) (Identity, error) {
	if ticket == "" || len(ticket) > 128 {
		return Identity{}, errBadTicket
	}
	data, err := t.rdb.GetDel(ctx, ticketKey(ticket)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Identity{}, errBadTicket
	}
	if err != nil {
		return Identity{}, fmt.Errorf("%w: redeem ticket: %w", quiz.ErrUnavailable, err)
	}
	var id Identity
	if err := json.Unmarshal(data, &id); err != nil {
		return Identity{}, fmt.Errorf("decode ticket: %w", err)
	}
	return t.unlessRevoked(ctx, id)
}

// randomToken returns 32 random bytes, base64url without padding.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken is the stored form of an opaque token: its SHA-256.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

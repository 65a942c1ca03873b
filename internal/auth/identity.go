// Package auth holds identity: password hashing, JWT access tokens, refresh
// tokens with rotation and reuse detection, revocation, WebSocket tickets and
// the Gin middleware that authenticates requests.
package auth

import (
	"context"
	"time"

	"github.com/quizcast/quizcast/internal/quiz"
)

// Identity is who is calling, as proven by an access token.
type Identity struct {
	UserID    string
	SchoolID  string
	LoginID   string
	Role      quiz.Role
	ExpiresAt time.Time
}

type identityKey struct{}

// WithIdentity returns a context carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity of the request, if authenticated.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

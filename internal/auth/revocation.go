package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/quiz"
)

// revocationEpochKey counts revocations: every Revoke and RevokeAll raises
// it, so a node whose sockets' logins were all fine at epoch n has nothing
// to look up while the epoch is still n.
const revocationEpochKey = "qc:revoked:epoch"

// RevocationEpoch reads the revocation counter (0 before the first
// revocation): one GET, where checking every socket's login is one EXISTS
// per login.
func (t *Tokens) RevocationEpoch(ctx context.Context) (int64, error) {
	n, err := t.rdb.Get(ctx, revocationEpochKey).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%w: revocation epoch: %w", quiz.ErrUnavailable, err)
	}
	return n, nil
}

// RevokedLogins reports which of the logins are revoked, in one Redis round
// trip, for the periodic check of open sockets.
func (t *Tokens) RevokedLogins(ctx context.Context, loginIDs []string) (map[string]bool, error) {
	pipe := t.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(loginIDs))
	for i, id := range loginIDs {
		cmds[i] = pipe.Exists(ctx, revokedPrefix+id)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("%w: revocation check: %w", quiz.ErrUnavailable, err)
	}
	out := make(map[string]bool, len(loginIDs))
	for i, id := range loginIDs {
		out[id] = cmds[i].Val() > 0
	}
	return out, nil
}

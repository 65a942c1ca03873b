package auth

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/quiz"
)

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

// Package ratelimit holds the request limits that must hold across nodes:
// counters in Redis, one fixed one-minute window per key.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quizcast/quizcast/internal/quiz"
)

// keyPrefix starts every counter's Redis key.
const keyPrefix = "qc:rl:"

// Window is the length of every limit's counting window.
const Window = time.Minute

// ErrLimited matches (errors.Is) every refusal of a Limiter.
var ErrLimited = &quiz.Error{Code: quiz.CodeRateLimited, Message: "too many requests, retry later"}

// Limits are the per-minute limits (config.Server's rate settings).
type Limits struct {
	// LoginPerIP bounds login, register and refresh attempts per client
	// address; generous, as a whole school may share one address.
	LoginPerIP int
	// LoginFailuresPerAccount bounds failed logins (and registrations) per
	// email and client address: someone elsewhere failing with an email
	// never locks its owner out.
	LoginFailuresPerAccount int
	// LoginFailuresPerIP bounds failed logins per client address, whatever
	// the emails tried (0: 10 times LoginFailuresPerAccount).
	LoginFailuresPerIP int
	// APIPerUser bounds authenticated requests per user.
	APIPerUser int
	// HandshakesPerUser bounds WebSocket handshakes per user (0: 60).
	HandshakesPerUser int
	// HandshakesPerIP bounds WebSocket handshakes per client address
	// (0: 2000; a whole school may share one address).
	HandshakesPerIP int
}

// takeScript counts one hit and starts the window on the first; it returns
// the count and the milliseconds left in the window. One round trip, atomic.
const takeScript = `
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}`

// Limiter enforces Limits with counters in Redis shared by every node.
// When Redis does not answer it fails closed (503), as the token
// revocation check does.
type Limiter struct {
	rdb    redis.UniversalClient
	limits Limits
	take   *redis.Script
}

// New returns a Limiter over rdb.
func New(rdb redis.UniversalClient, limits Limits) *Limiter {
	if limits.HandshakesPerUser <= 0 {
		limits.HandshakesPerUser = 60
	}
	if limits.HandshakesPerIP <= 0 {
		limits.HandshakesPerIP = 2000
	}
	if limits.LoginFailuresPerIP <= 0 {
		limits.LoginFailuresPerIP = 10 * limits.LoginFailuresPerAccount
	}
	return &Limiter{rdb: rdb, limits: limits, take: redis.NewScript(takeScript)}
}

// LoginIP counts one login/register/refresh attempt from ip.
func (l *Limiter) LoginIP(ctx context.Context, ip string) error {
	return l.hit(ctx, "ip:"+ip, l.limits.LoginPerIP)
}

// AccountBlocked refuses a login for email from ip while the failures of
// that email from that address, or of that address with any email, are
// over their limits, without counting.
func (l *Limiter) AccountBlocked(ctx context.Context, email, ip string) error {
	keys := []string{keyPrefix + accountKey(email, ip), keyPrefix + failedIPKey(ip)}
	limits := []int{l.limits.LoginFailuresPerAccount, l.limits.LoginFailuresPerIP}
	res, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Get(ctx, k)
			p.PTTL(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("%w: rate limit: %w", quiz.ErrUnavailable, err)
	}
	for i := range keys {
		n, _ := res[2*i].(*redis.StringCmd).Int()
		ttl := res[2*i+1].(*redis.DurationCmd).Val()
		// Blocked once the failures reach the limit: this attempt would be
		// one more.
		if err := verdict(n+1, limits[i], ttl); err != nil {
			return err
		}
	}
	return nil
}

// AccountFailed counts one failed login (or registration) for email from
// ip, and one for ip.
func (l *Limiter) AccountFailed(ctx context.Context, email, ip string) error {
	err1 := l.hit(ctx, accountKey(email, ip), l.limits.LoginFailuresPerAccount)
	err2 := l.hit(ctx, failedIPKey(ip), l.limits.LoginFailuresPerIP)
	if err1 != nil {
		return err1
	}
	return err2
}

// HandshakeIP counts one WebSocket handshake from ip, on every node.
func (l *Limiter) HandshakeIP(ctx context.Context, ip string) error {
	return l.hit(ctx, "wsip:"+ip, l.limits.HandshakesPerIP)
}

// HandshakeUser counts one admitted WebSocket handshake of the user.
func (l *Limiter) HandshakeUser(ctx context.Context, userID string) error {
	return l.hit(ctx, "wsuser:"+userID, l.limits.HandshakesPerUser)
}

// APIUser counts one authenticated request of the user.
func (l *Limiter) APIUser(ctx context.Context, userID string) error {
	return l.hit(ctx, "user:"+userID, l.limits.APIPerUser)
}

// accountKey keys an email and client address by their hash: no
// addresses in Redis.
func accountKey(email, ip string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email)) + "\x00" + ip))
	return "account:" + hex.EncodeToString(sum[:16])
}

func failedIPKey(ip string) string { return "failip:" + ip }

func (l *Limiter) hit(ctx context.Context, key string, limit int) error {
	res, err := l.take.Run(ctx, l.rdb, []string{keyPrefix + key}, Window.Milliseconds()).Int64Slice()
	if err != nil {
		return fmt.Errorf("%w: rate limit: %w", quiz.ErrUnavailable, err)
	}
	return verdict(int(res[0]), limit, time.Duration(res[1])*time.Millisecond)
}

// verdict is nil while count is within limit, else rate_limited with the
// seconds until the window ends.
func verdict(count, limit int, left time.Duration) error {
	if count <= limit {
		return nil
	}
	secs := int((left + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return &quiz.Error{Code: quiz.CodeRateLimited, Message: ErrLimited.Message, RetryAfter: secs}
}

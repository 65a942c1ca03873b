package reports

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// GenerationKey holds the cache generation: part of every cache key, bumped
// after every view refresh, so one INCR invalidates every cached answer at
// once (old entries are never read again and expire by their TTL).
const GenerationKey = "qc:reports:gen"

// DefaultCacheTTL bounds how long an answer may be served if an
// invalidation is lost (Redis restarted between a refresh and its INCR).
const DefaultCacheTTL = 60 * time.Second

// Cache keeps JSON report answers in Redis, keyed by the caller's scope.
// Redis trouble never fails a report: the cache then reads as a miss.
type Cache struct {
	rdb     redis.UniversalClient
	ttl     time.Duration
	lookups *prometheus.CounterVec
}

// NewCache returns a cache on rdb with entries living ttl (0: the default),
// its counter registered on reg.
func NewCache(rdb redis.UniversalClient, ttl time.Duration, reg prometheus.Registerer) *Cache {
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	c := &Cache{rdb: rdb, ttl: ttl, lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "quizcast_report_cache_lookups_total",
		Help: "Report cache lookups by result (hit, miss, error).",
	}, []string{"result"})}
	reg.MustRegister(c.lookups)
	for _, result := range []string{"hit", "miss", "error"} {
		c.lookups.WithLabelValues(result)
	}
	return c
}

// CacheKey names one answer: the caller (school, role, user: two callers
// may be allowed different parts of the same subject) and the request.
type CacheKey struct {
	SchoolID string
	Role     string
	UserID   string
	Params   string
}

// Get returns the cached answer for k, if any, and the full key under which
// a fresh answer should be put (empty when Redis cannot be used).
func (c *Cache) Get(ctx context.Context, k CacheKey) ([]byte, string, bool) {
	gen, err := c.rdb.Get(ctx, GenerationKey).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		c.lookups.WithLabelValues("error").Inc()
		return nil, "", false
	}
	sum := sha256.Sum256([]byte(k.Params))
	key := fmt.Sprintf("qc:reports:%d:%s:%s:%s:%s", gen, k.SchoolID, k.Role, k.UserID, hex.EncodeToString(sum[:16]))
	val, err := c.rdb.Get(ctx, key).Bytes()
	switch {
	case err == nil:
		c.lookups.WithLabelValues("hit").Inc()
		return val, key, true
	case errors.Is(err, redis.Nil):
		c.lookups.WithLabelValues("miss").Inc()
		return nil, key, false
	default:
		c.lookups.WithLabelValues("error").Inc()
		return nil, "", false
	}
}

// Put stores an answer under a key from Get. The key carries the generation
// read before the answer was computed: if a refresh bumped it meanwhile, the
// entry is simply never read.
func (c *Cache) Put(ctx context.Context, key string, val []byte) error {
	if key == "" {
		return nil
	}
	if err := c.rdb.Set(ctx, key, val, c.ttl).Err(); err != nil {
		return fmt.Errorf("cache report: %w", err)
	}
	return nil
}

// Invalidate makes every cached answer stale.
func (c *Cache) Invalidate(ctx context.Context) error {
	if err := c.rdb.Incr(ctx, GenerationKey).Err(); err != nil {
		return fmt.Errorf("invalidate report cache: %w", err)
	}
	return nil
}

package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/quiz"
)

// Service answers report requests: it looks the subject up in the caller's
// school, authorizes, then serves the answer from the cache or the store.
type Service struct {
	store *Store
	cache *Cache
	log   *slog.Logger
}

// NewService returns the report service; cache may be nil (no caching).
func NewService(store *Store, cache *Cache, log *slog.Logger) *Service {
	return &Service{store: store, cache: cache, log: log}
}

// authorize finds the subject of q for the caller of ctx and decides.
// Authorization always reads PostgreSQL (a few index probes), even when the
// answer is cached: a removed enrolment takes effect at once.
func (s *Service) authorize(ctx context.Context, q Query) (auth.Identity, *Subject, Scope, error) {
	id, ok := auth.FromContext(ctx)
	if !ok {
		return id, nil, Scope{}, quiz.ErrUnauthorized
	}
	sub, err := s.store.Subject(ctx, q.Kind, id.SchoolID, q.SubjectID, id.UserID)
	if err != nil {
		return id, nil, Scope{}, err
	}
	scope, err := Authorize(id, sub)
	return id, sub, scope, err
}

// Report returns the JSON answer of q for the caller of ctx.
func (s *Service) Report(ctx context.Context, q Query) ([]byte, error) {
	id, sub, scope, err := s.authorize(ctx, q)
	if err != nil {
		return nil, err
	}
	var key string
	if s.cache != nil {
		var body []byte
		var hit bool
		body, key, hit = s.cache.Get(ctx, CacheKey{SchoolID: id.SchoolID, Role: string(id.Role), UserID: id.UserID, Params: q.cacheParams()})
		if hit {
			return body, nil
		}
	}
	var rep any
	switch q.Kind {
	case KindPerformance:
		rep, err = s.store.Performance(ctx, scope, *sub.Student, q)
	case KindEngagement:
		rep, err = s.store.Engagement(ctx, scope, *sub.Classroom, q)
	case KindEffectiveness:
		rep, err = s.store.Effectiveness(ctx, scope, *sub.Quiz, q)
	case KindSession:
		rep, err = s.store.Session(ctx, scope, *sub.Session, q)
	default:
		err = fmt.Errorf("unknown report %q", q.Kind)
	}
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(rep)
	if err != nil {
		return nil, fmt.Errorf("encode %s report: %w", q.Kind, err)
	}
	if s.cache != nil {
		if err := s.cache.Put(ctx, key, body); err != nil {
			s.log.WarnContext(ctx, "report cache put failed", "err", err)
		}
	}
	return body, nil
}

// ExportCSV streams the CSV download of q for the caller of ctx. open is
// called with the file name once the first bytes are ready; an error
// returned before that is the response, one returned after it cut the
// download short.
func (s *Service) ExportCSV(ctx context.Context, q Query, open func(filename string) io.Writer) error {
	_, sub, scope, err := s.authorize(ctx, q)
	if err != nil {
		return err
	}
	name := CSVFilename(q.Kind, q.SubjectID)
	return s.store.WriteCSV(ctx, scope, sub, q, func() io.Writer { return open(name) })
}

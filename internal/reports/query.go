// Package reports serves the teachers' reports of the REST API (api/openapi.yaml, docs/reports.md):
// student performance, classroom engagement, content effectiveness (item
// analysis) and the session summary. The figures come from materialized
// views (migrations/00003_report_views.sql) that the event worker refreshes
// through a Refresher when events that affect them arrive; answers are cached
// in Redis per caller and invalidated by every refresh.
package reports

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/quizcast/quizcast/internal/quiz"
)

// Kind names one of the four reports.
type Kind string

// The reports of §7.
const (
	KindPerformance   Kind = "performance"
	KindEngagement    Kind = "engagement"
	KindEffectiveness Kind = "effectiveness"
	KindSession       Kind = "session"
)

// Paging limits of the contract (§1).
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// Query is one report request as the client asked it, validated.
type Query struct {
	Kind      Kind
	SubjectID string
	// From and To bound the sessions' start time: From <= started_at < To.
	// Zero means unbounded.
	From, To time.Time
	Limit    int
	Cursor   string
	// CSV asks for the CSV download instead of JSON.
	CSV bool
}

// ParseQuery validates the request's parameters (§1 and §7): from/to as
// RFC 3339, limit 1..200 (default 50), an opaque cursor, format=csv|json or
// an Accept header asking for text/csv. Failures are validation errors
// naming the parameter.
func ParseQuery(kind Kind, subjectID string, v url.Values, accept string) (Query, error) {
	q := Query{Kind: kind, SubjectID: subjectID, Limit: DefaultLimit, Cursor: v.Get("cursor")}
	fields := map[string]string{}
	parseTime := func(name string) time.Time {
		s := v.Get(name)
		if s == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			fields[name] = "must be an RFC 3339 timestamp such as 2026-11-21T10:05:23.123Z"
			return time.Time{}
		}
		return t.UTC()
	}
	q.From, q.To = parseTime("from"), parseTime("to")
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		fields["to"] = "must be after from"
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			fields["limit"] = fmt.Sprintf("must be an integer between 1 and %d", MaxLimit)
		}
		q.Limit = n
	}
	if q.Cursor != "" {
		if _, err := quiz.DecodeCursor(q.Cursor); err != nil {
			fields["cursor"] = "is not a cursor of this report"
		}
	}
	switch v.Get("format") {
	case "csv":
		q.CSV = true
	case "", "json":
		q.CSV = v.Get("format") == "" && acceptsCSV(accept)
	default:
		fields["format"] = "must be one of json csv"
	}
	if len(fields) > 0 {
		return Query{}, quiz.Invalid(fields)
	}
	return q, nil
}

// acceptsCSV reports whether an Accept header prefers text/csv to JSON: it
// names text/csv and does not name application/json before it.
func acceptsCSV(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt := strings.TrimSpace(strings.SplitN(part, ";", 2)[0])
		switch strings.ToLower(mt) {
		case "text/csv":
			return true
		case "application/json":
			return false
		}
	}
	return false
}

// Bounds of the from/to filter when the client gives none: wide enough for
// any session, concrete so the index conditions need no OR.
func minTime() time.Time { return time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC) }
func maxTime() time.Time { return time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) }

// span returns the from/to bounds to give the SQL.
func (q Query) span() (from, to time.Time) {
	from, to = q.From, q.To
	if from.IsZero() {
		from = minTime()
	}
	if to.IsZero() {
		to = maxTime()
	}
	return from, to
}

// lastUUID sorts after every session id: the "no cursor" position of a
// descending list.
const lastUUID = "ffffffff-ffff-ffff-ffff-ffffffffffff"

// sessionCursor returns where a descending list of sessions resumes.
func (q Query) sessionCursor() (time.Time, string) {
	if q.Cursor == "" {
		return maxTime(), lastUUID
	}
	c, _ := quiz.DecodeCursor(q.Cursor) // validated by ParseQuery
	return c.Time, c.ID
}

// questionCursor returns where a list of questions (version descending,
// index ascending) resumes.
func (q Query) questionCursor() (version, index int) {
	if q.Cursor == "" {
		return 1<<31 - 1, -1
	}
	c, _ := quiz.DecodeCursor(q.Cursor)
	return c.Version, c.Index
}

// cacheParams is the canonical form of the parameters that change an
// answer, for the cache key.
func (q Query) cacheParams() string {
	from, to := q.span()
	return fmt.Sprintf("%s|%s|%d|%d|%d|%s", q.Kind, q.SubjectID, from.UnixMicro(), to.UnixMicro(), q.Limit, q.Cursor)
}

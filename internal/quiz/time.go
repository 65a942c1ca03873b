package quiz

import (
	"fmt"
	"time"
)

// TimeLayout is the contract's timestamp: RFC 3339, UTC, milliseconds
// ("2026-11-21T10:05:23.123Z").
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Time is a timestamp that encodes in TimeLayout; the one timestamp type
// of every JSON answer (REST, WebSocket, reports). Use *Time with
// omitempty for optional ones.
type Time time.Time

// FormatTime formats t in TimeLayout.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// String formats t in TimeLayout.
func (t Time) String() string { return FormatTime(time.Time(t)) }

// MarshalJSON writes t in TimeLayout.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.String() + `"`), nil
}

// UnmarshalJSON reads any RFC 3339 timestamp.
func (t *Time) UnmarshalJSON(b []byte) error {
	v, err := time.Parse(`"`+time.RFC3339Nano+`"`, string(b))
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	*t = Time(v.UTC())
	return nil
}

// TimePtr is nil for nil, else the time as a *Time.
func TimePtr(t *time.Time) *Time {
	if t == nil {
		return nil
	}
	v := Time(*t)
	return &v
}

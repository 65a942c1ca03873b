package rabbitmq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/quizcast/quizcast/internal/quiz"
)

const (
	// MaxEventAge is how old an event may be and still be stored: older
	// ones are refused rather than create partitions for long-gone months.
	MaxEventAge = 2 * 365 * 24 * time.Hour
	// MaxClockSkew is how far in the future an event may claim to be.
	MaxClockSkew = time.Hour
)

var eventNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// DecodeEvent parses and checks one message body as a §8 event. Unknown
// fields are ignored (a newer producer may add some); unknown event names
// that look like names are kept, so a new kind of event is stored before
// the worker learns about it. now bounds occurred_at. data is checked to be
// a JSON object and returned as its text in RawData (Data stays nil): the
// worker stores it as it came, numbers exactly as sent.
func DecodeEvent(body []byte, now time.Time) (quiz.Event, error) {
	// The outer data (shallower) takes the "data" key from the embedded
	// Event's map.
	var w struct {
		quiz.Event
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return quiz.Event{}, fmt.Errorf("not a JSON event: %w", err)
	}
	e := w.Event
	var problems []error
	canonical := func(field string, v *string, required bool) {
		if *v == "" {
			if required {
				problems = append(problems, fmt.Errorf("%s is missing", field))
			}
			return
		}
		id, err := uuid.Parse(*v)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s %q is not a uuid", field, *v))
			return
		}
		*v = id.String()
	}
	canonical("event_id", &e.EventID, true)
	canonical("school_id", &e.SchoolID, true)
	canonical("classroom_id", &e.ClassroomID, false)
	canonical("session_id", &e.SessionID, false)
	canonical("quiz_id", &e.QuizID, false)
	canonical("user_id", &e.UserID, false)
	if !eventNamePattern.MatchString(string(e.Name)) {
		problems = append(problems, fmt.Errorf("name %q is missing or malformed", e.Name))
	}
	switch {
	case e.OccurredAt.IsZero():
		problems = append(problems, errors.New("occurred_at is missing"))
	case e.OccurredAt.Before(now.Add(-MaxEventAge)) || e.OccurredAt.After(now.Add(MaxClockSkew)):
		problems = append(problems, fmt.Errorf("occurred_at %s is out of range", e.OccurredAt.Format(time.RFC3339)))
	}
	switch e.App {
	case quiz.AppWhiteboard, quiz.AppNotebook, quiz.AppServer:
	case "":
		problems = append(problems, errors.New("app is missing"))
	default:
		problems = append(problems, fmt.Errorf("app %q is unknown", e.App))
	}
	data := bytes.TrimSpace(w.Data)
	switch {
	case len(data) == 0 || string(data) == "null":
		data = json.RawMessage("{}")
	case data[0] != '{':
		problems = append(problems, errors.New("data is not an object"))
	case !utf8.Valid(data):
		// The decoder leaves a raw value's bytes alone; PostgreSQL would
		// refuse them at every delivery.
		problems = append(problems, errors.New("data is not valid UTF-8"))
	}
	if err := errors.Join(problems...); err != nil {
		return quiz.Event{}, err
	}
	e.RawData = data
	return e, nil
}

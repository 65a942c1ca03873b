package quiz

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Page asks for one page of a keyset-paged list.
type Page struct {
	// Limit is the page size (1..200).
	Limit int
	// After is the position of the last item of the previous page; nil for
	// the first page.
	After *Cursor
}

// Cursor is a position in a list ordered by a sort key and then by id: a
// time for lists in creation order, a text for lists in name order, a
// quiz version and question index for lists of questions.
type Cursor struct {
	Time    time.Time `json:"t,omitzero"`
	Text    string    `json:"s,omitempty"`
	ID      string    `json:"id"`
	Version int       `json:"v,omitempty"`
	Index   int       `json:"i,omitempty"`
}

// maxCursorBytes bounds a decoded cursor: ours are far smaller.
const maxCursorBytes = 1024

// ErrBadCursor answers a cursor this server did not make (§1: 422).
var ErrBadCursor = Invalid(map[string]string{"cursor": "is not a cursor this list returned"})

// Encode makes the cursor opaque to clients.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c) // a struct of a time, strings and ints always encodes
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor is the one decoder of the cursors clients send back. It
// checks every field as the queries will read it, so nothing PostgreSQL
// would refuse gets past it: a canonical id, a text without NUL or invalid
// UTF-8, a time within PostgreSQL's timestamptz range, a version and index
// that fit an int4. Any failure is ErrBadCursor.
func DecodeCursor(s string) (Cursor, error) {
	if s == "" || len(s) > maxCursorBytes*4/3+4 {
		return Cursor{}, ErrBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > maxCursorBytes {
		return Cursor{}, ErrBadCursor
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var c Cursor
	if err := dec.Decode(&c); err != nil || dec.More() {
		return Cursor{}, ErrBadCursor
	}
	if err := c.check(); err != nil {
		return Cursor{}, ErrBadCursor
	}
	c.ID, _ = ParseID(c.ID)
	return c, nil
}

var (
	minCursorTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxCursorTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

func (c Cursor) check() error {
	switch {
	case !ValidID(c.ID):
		return errors.New("id")
	case !utf8.ValidString(c.Text) || strings.ContainsRune(c.Text, 0) || len(c.Text) > 400:
		return errors.New("text")
	case !c.Time.IsZero() && (c.Time.Before(minCursorTime) || c.Time.After(maxCursorTime)):
		return errors.New("time")
	case c.Version < 0 || c.Version > math.MaxInt32 || c.Index < 0 || c.Index > math.MaxInt32:
		return errors.New("number")
	}
	return nil
}

package postgres

import (
	"time"

	"github.com/quizcast/quizcast/internal/quiz"
)

// Keyset paging: lists are ordered by (sort key, id) and a page starts
// strictly after the cursor. Without a cursor the position is before every
// row (the zero time or the empty text, and the zero uuid), so every list query
// has the same shape and uses its index.
const zeroUUID = "00000000-0000-0000-0000-000000000000"

// afterTime returns the (time, id) a time-ordered page starts after.
func afterTime(p quiz.Page) (time.Time, string) {
	if p.After == nil {
		return time.Time{}, zeroUUID
	}
	return p.After.Time, p.After.ID
}

// afterText returns the (text, id) a text-ordered page starts after.
func afterText(p quiz.Page) (string, string) {
	if p.After == nil {
		return "", zeroUUID
	}
	return p.After.Text, p.After.ID
}

// page trims rows fetched with limit+1 to the page and returns the cursor of
// the next page, nil on the last.
func page[T any](rows []T, limit int, cursor func(T) quiz.Cursor) ([]T, *quiz.Cursor) {
	if len(rows) <= limit {
		return rows, nil
	}
	rows = rows[:limit]
	c := cursor(rows[len(rows)-1])
	return rows, &c
}

// timeCursor is the cursor after an item created at t with id.
func timeCursor(t time.Time, id string) quiz.Cursor { return quiz.Cursor{Time: t, ID: id} }

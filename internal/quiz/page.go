package quiz

import "time"

// Page asks for one page of a keyset-paged list.
type Page struct {
	// Limit is the page size (1..200).
	Limit int
	// After is the position of the last item of the previous page; nil for
	// the first page.
	After *Cursor
}

// Cursor is a position in a list ordered by a sort key and then by id: a
// time for lists in creation order, a text for lists in name order.
type Cursor struct {
	Time time.Time `json:"t,omitzero"`
	Text string    `json:"s,omitempty"`
	ID   string    `json:"id"`
}

package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/quizcast/quizcast/internal/auth"
	"github.com/quizcast/quizcast/internal/quiz"
)

// Page sizes of the contract (§1).
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// List is the contract's list shape; NextCursor is absent on the last page.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// NewList returns the page items (never null in JSON) with the cursor of
// the next page.
func NewList[T any](items []T, next *quiz.Cursor) List[T] {
	if items == nil {
		items = []T{}
	}
	return List[T]{Items: items, NextCursor: EncodeCursor(next)}
}

// mapList converts the items of a page and wraps them in a List.
func mapList[S, T any](items []S, next *quiz.Cursor, conv func(S) T) List[T] {
	out := make([]T, len(items))
	for i, it := range items {
		out[i] = conv(it)
	}
	return NewList(out, next)
}

// Lister fetches one page of a list for the caller.
type Lister[T any] func(ctx context.Context, id auth.Identity, p quiz.Page) ([]T, *quiz.Cursor, error)

// servePage answers a paged list request: the caller, ?limit= and ?cursor=,
// the page from list, each item rendered by conv.
func servePage[T, J any](c *gin.Context, list Lister[T], conv func(T) J) {
	id, ok := caller(c)
	if !ok {
		return
	}
	p, err := ParsePage(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	items, next, err := list(c.Request.Context(), id, p)
	if err != nil {
		WriteError(c, err)
		return
	}
	c.JSON(http.StatusOK, mapList(items, next, conv))
}

// ParsePage reads ?limit= (1..200, default 50) and ?cursor= (as returned in
// next_cursor); anything else is a validation error on that parameter.
func ParsePage(c *gin.Context) (quiz.Page, error) {
	p := quiz.Page{Limit: DefaultLimit}
	if s, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return quiz.Page{}, quiz.Invalid(map[string]string{"limit": "must be an integer from 1 to 200"})
		}
		p.Limit = n
	}
	if s := c.Query("cursor"); s != "" {
		cur, err := DecodeCursor(s)
		if err != nil {
			return quiz.Page{}, err
		}
		p.After = cur
	}
	return p, nil
}

// EncodeCursor makes a position opaque to clients ("" for nil).
func EncodeCursor(c *quiz.Cursor) string {
	if c == nil {
		return ""
	}
	return c.Encode()
}

// DecodeCursor reads a cursor made by EncodeCursor (quiz.DecodeCursor).
func DecodeCursor(s string) (*quiz.Cursor, error) {
	c, err := quiz.DecodeCursor(s)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

package admin

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/quizcast/quizcast/internal/quiz"
)

// MaxRosterRows is the most data rows a roster import takes.
const MaxRosterRows = 1000

// RosterEntry is one data row of a roster file as written.
type RosterEntry struct {
	Row      int
	Name     string
	Email    string
	Password string
	// HasPassword: the file has a password column and this row fills it.
	HasPassword bool
}

// ParsedRoster is a roster file read in full: the rows that passed the
// per-row checks and the errors of the others, by row number.
type ParsedRoster struct {
	Rows   []RosterEntry
	Errors []quiz.RowError
}

// ParseRoster reads a roster CSV (RFC 4180, UTF-8 with or without BOM, CRLF
// or LF): a header row naming name and email, and optionally password, in
// any order and case, then 1..MaxRosterRows data rows. A file-level
// problem (header, row count, not CSV) is a validation error and nothing is
// applied; a row-level one is an error of that row. Emails come back
// normalised; an email seen on an earlier row is an error of the later row.
// The body is read as a stream; a reader error (the body limit) is
// returned as is.
func ParseRoster(r io.Reader) (ParsedRoster, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // checked here, per row, with a row number
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return ParsedRoster{}, fileError("the file is empty: want a header row name,email[,password]")
	}
	if err != nil {
		return ParsedRoster{}, csvError(err)
	}
	cols, err := rosterColumns(header)
	if err != nil {
		return ParsedRoster{}, err
	}
	var out ParsedRoster
	seen := map[string]int{}
	row := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && !errors.Is(pe.Err, csv.ErrFieldCount) {
				return ParsedRoster{}, csvError(err)
			}
			if !errors.As(err, &pe) {
				return ParsedRoster{}, err
			}
		}
		row++
		if row > MaxRosterRows {
			return ParsedRoster{}, &quiz.Error{Code: quiz.CodeValidation,
				Message: fmt.Sprintf("the file has more than %d data rows; nothing was imported", MaxRosterRows),
				Fields:  map[string]string{"body": fmt.Sprintf("at most %d data rows", MaxRosterRows)}}
		}
		e, rowErr := rosterEntry(row, rec, cols)
		if rowErr == nil {
			if first, dup := seen[e.Email]; dup {
				rowErr = &quiz.RowError{Row: row, Field: "email", Message: fmt.Sprintf("already on row %d of this file", first)}
			} else {
				seen[e.Email] = row
			}
		}
		if rowErr != nil {
			out.Errors = append(out.Errors, *rowErr)
			continue
		}
		out.Rows = append(out.Rows, e)
	}
	if row == 0 {
		return ParsedRoster{}, fileError("the file has no data rows: want 1 to 1000 after the header")
	}
	return out, nil
}

type columns struct{ name, email, password int }

func rosterColumns(header []string) (columns, error) {
	c := columns{name: -1, email: -1, password: -1}
	for i, h := range header {
		var slot *int
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "name":
			slot = &c.name
		case "email":
			slot = &c.email
		case "password":
			slot = &c.password
		default:
			return c, fileError(fmt.Sprintf("unknown column %q: the header names name, email and optionally password", truncate(h, 40)))
		}
		if *slot >= 0 {
			return c, fileError(fmt.Sprintf("column %q appears twice in the header", strings.ToLower(strings.TrimSpace(h))))
		}
		*slot = i
	}
	switch {
	case c.name < 0:
		return c, fileError("the header has no name column")
	case c.email < 0:
		return c, fileError("the header has no email column")
	}
	return c, nil
}

func rosterEntry(row int, rec []string, c columns) (RosterEntry, *quiz.RowError) {
	fail := func(field, msg string) (RosterEntry, *quiz.RowError) {
		return RosterEntry{}, &quiz.RowError{Row: row, Field: field, Message: msg}
	}
	want := max(c.name, c.email, c.password) + 1
	if len(rec) != want && !(len(rec) > want && allBlank(rec[want:])) {
		return fail("row", fmt.Sprintf("has %d fields, the header %d", len(rec), want))
	}
	for _, f := range rec {
		if !utf8.ValidString(f) {
			return fail("row", "is not valid UTF-8")
		}
		if strings.ContainsRune(f, 0) {
			return fail("row", "contains a NUL byte")
		}
	}
	e := RosterEntry{Row: row, Name: strings.TrimSpace(rec[c.name]), Email: strings.ToLower(strings.TrimSpace(rec[c.email]))}
	if c.password >= 0 && rec[c.password] != "" {
		e.Password, e.HasPassword = rec[c.password], true
	}
	switch n := utf8.RuneCountInString(e.Name); {
	case n == 0:
		return fail("name", "is required")
	case n > 200:
		return fail("name", "must be at most 200 characters")
	}
	if !validEmail(e.Email) {
		return fail("email", "must be a valid email")
	}
	if e.HasPassword {
		if n := utf8.RuneCountInString(e.Password); n < 8 || n > 128 {
			return fail("password", "must be 8 to 128 characters")
		}
	}
	return e, nil
}

func allBlank(fs []string) bool {
	for _, f := range fs {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// validEmail accepts a bare address (no display name) of at most 254 bytes.
func validEmail(s string) bool {
	if s == "" || len(s) > 254 || strings.ContainsAny(s, " <>,") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

func fileError(msg string) *quiz.Error {
	return &quiz.Error{Code: quiz.CodeValidation, Message: msg + "; nothing was imported", Fields: map[string]string{"body": msg}}
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fileError(fmt.Sprintf("not valid CSV at line %d: %v", pe.Line, pe.Err))
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

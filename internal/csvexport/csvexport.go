// Package csvexport writes the CSV files Quizcast hands out (report
// downloads and any other export) so that opening one in a spreadsheet
// never runs anything: every cell that a spreadsheet would read as a
// formula is neutralised (OWASP "CSV Injection"), the rest is RFC 4180 as
// encoding/csv writes it.
package csvexport

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// Cell neutralises one cell: a value starting with =, +, -, @, a tab or a
// carriage return gets a leading single quote, which spreadsheets show as
// text and never evaluate. A plain number (such as -0.25) is left alone:
// it is no formula, and the reader needs it as a number.
func Cell(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return s
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "\t\r") && strings.Trim(s, "+-.0123456789eE") == "" {
		return s
	}
	return "'" + s
}

// Writer is a csv.Writer that neutralises every cell it writes.
type Writer struct {
	w   *csv.Writer
	buf []string
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w)} }

// Write writes one record, each cell neutralised.
func (w *Writer) Write(record []string) error {
	w.buf = w.buf[:0]
	for _, c := range record {
		w.buf = append(w.buf, Cell(c))
	}
	return w.w.Write(w.buf)
}

// Flush writes what is buffered to the underlying writer.
func (w *Writer) Flush() { w.w.Flush() }

// Error reports an error of an earlier Write or Flush.
func (w *Writer) Error() error { return w.w.Error() }

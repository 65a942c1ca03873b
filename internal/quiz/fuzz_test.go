package quiz

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
)

// FuzzParseID: whatever the input, an accepted id is the canonical lower
// case 36-character form, PostgreSQL's uuid input would take it (Go's
// parser agrees on the value), and parsing it again changes nothing.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"0b8c5a6e-6f1d-4d39-9a57-3c2b1f0e9d7a", "0B8C5A6E-6F1D-4D39-9A57-3C2B1F0E9D7A",
		"urn:uuid:0b8c5a6e-6f1d-4d39-9a57-3c2b1f0e9d7a", "{0b8c5a6e-6f1d-4d39-9a57-3c2b1f0e9d7a}",
		"0b8c5a6e6f1d4d399a573c2b1f0e9d7a", "0b8c5a6e-6f1d-4d39-9a57-3c2b1f0e9d7\x00", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := ParseID(s)
		if !ok {
			return
		}
		if len(id) != 36 || id != strings.ToLower(s) {
			t.Fatalf("ParseID(%q) = %q", s, id)
		}
		u, err := uuid.Parse(id)
		if err != nil || u.String() != id {
			t.Fatalf("ParseID accepted %q, uuid says %v %v", s, u, err)
		}
		if again, ok := ParseID(id); !ok || again != id {
			t.Fatalf("not stable: %q", id)
		}
	})
}

// FuzzDecodeCursor: a cursor that decodes holds only what the queries can
// take (canonical id, text PostgreSQL can store, int4 numbers), and
// encodes back to a cursor that decodes to the same position.
func FuzzDecodeCursor(f *testing.F) {
	id := "0b8c5a6e-6f1d-4d39-9a57-3c2b1f0e9d7a"
	f.Add(Cursor{ID: id, Text: "Ann"}.Encode())
	f.Add(Cursor{ID: id, Version: 3, Index: 2}.Encode())
	f.Add("eyJpZCI6InVybjp1dWlkOjBiOGM1YTZlLTZmMWQtNGQzOS05YTU3LTNjMmIxZjBlOWQ3YSJ9")
	f.Add("!!!")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := DecodeCursor(s)
		if err != nil {
			if err != ErrBadCursor {
				t.Fatalf("error outside the vocabulary: %v", err)
			}
			return
		}
		if !ValidID(c.ID) || strings.ContainsRune(c.Text, 0) || !utf8.ValidString(c.Text) ||
			c.Version < 0 || c.Version > 1<<31-1 || c.Index < 0 || c.Index > 1<<31-1 {
			t.Fatalf("accepted a cursor the queries cannot take: %+v", c)
		}
		again, err := DecodeCursor(c.Encode())
		if err != nil || !again.Time.Equal(c.Time) || again.ID != c.ID || again.Text != c.Text || again.Version != c.Version || again.Index != c.Index {
			t.Fatalf("round trip: %+v -> %+v (%v)", c, again, err)
		}
	})
}

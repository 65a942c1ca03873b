package admin

import (
	"strconv"
	"strings"
	"testing"

	"github.com/quizcast/quizcast/internal/quiz"
)

func TestParseRoster(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       string
		rows     int
		errs     string // row:field list
		fileFail bool
	}{
		{"lf", "name,email\nA,a@x.org\n", 1, "", false},
		{"crlf and bom", "\uFEFFname,email\r\nA,a@x.org\r\nB,b@x.org", 2, "", false},
		{"any order and case", "EMAIL,Password,Name\na@x.org,password1,A\n", 1, "", false},
		{"quoted comma and newline", "name,email\n\"Doe, \"\"J\"\"\nJr\",a@x.org\n", 1, "", false},
		{"duplicate email later row", "name,email\nA,a@x.org\nB,A@X.ORG\n", 1, "2:email", false},
		{"nul byte", "name,email\nA\x00,a@x.org\n", 0, "1:row", false},
		{"invalid utf-8", "name,email\nA\xff,a@x.org\n", 0, "1:row", false},
		{"short password", "name,email,password\nA,a@x.org,short\n", 0, "1:password", false},
		{"empty password means none", "name,email,password\nA,a@x.org,\n", 1, "", false},
		{"missing field", "name,email\nA\n", 0, "1:row", false},
		{"display name email", "name,email\nA,A <a@x.org>\n", 0, "1:email", false},
		{"unknown column", "name,email,age\n", 0, "", true},
		{"missing email column", "name,password\n", 0, "", true},
		{"empty", "", 0, "", true},
		{"header only", "name,email\n", 0, "", true},
		{"bare quote", "name,email\nA\"b,a@x.org\n", 0, "", true},
		{"1001 rows", "name,email\n" + strings.Repeat("A,a@x.org\n", 1001), 0, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseRoster(strings.NewReader(tc.in))
			if tc.fileFail {
				if e, ok := quiz.AsError(err); !ok || e.Code != quiz.CodeValidation {
					t.Fatalf("want a validation error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var errs []string
			for _, e := range p.Errors {
				errs = append(errs, strings.Join([]string{strconv.Itoa(e.Row), e.Field}, ":"))
			}
			if len(p.Rows) != tc.rows || strings.Join(errs, " ") != tc.errs {
				t.Fatalf("rows %d errors %v, want %d %q (%+v)", len(p.Rows), errs, tc.rows, tc.errs, p)
			}
		})
	}
}

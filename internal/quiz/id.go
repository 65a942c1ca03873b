package quiz

// ParseID accepts an id in the canonical 36-character UUID form only
// (8-4-4-4-12 hex digits, either case) and returns it in lower case. Go's
// uuid.Parse also takes "urn:uuid:…", "{…}" and 32 bare digits, which
// PostgreSQL refuses or reads differently: every id from a client goes
// through this parser at the edge, so no such form reaches a query.
func ParseID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	var b [36]byte
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
		default:
			switch {
			case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
			case 'A' <= c && c <= 'F':
				c += 'a' - 'A'
			default:
				return "", false
			}
		}
		b[i] = c
	}
	return string(b[:]), true
}

// ValidID reports whether s is an id in canonical form.
func ValidID(s string) bool {
	_, ok := ParseID(s)
	return ok
}

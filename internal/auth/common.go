package auth

import (
	"strings"
	"unicode/utf8"
)

// commonPasswords are passwords of 8 characters or more found at the top
// of breach corpora (NIST SP 800-63B 5.1.1.2: refuse values known to be
// commonly used or compromised). Compared in lower case.
var commonPasswords = map[string]bool{}

func init() {
	for _, p := range strings.Fields(commonPasswordList) {
		commonPasswords[p] = true
	}
}

const commonPasswordList = `
12345678 123456789 1234567890 12345678910 123123123 11111111 00000000
87654321 11223344 12341234 12121212 123321123 147258369 159753258 987654321
password password1 password12 password123 password1234 passw0rd p@ssw0rd p@ssword
qwertyui qwertyuiop qwerty123 qwerty12 1q2w3e4r 1q2w3e4r5t 1qaz2wsx zaq12wsx
asdfghjk asdfghjkl zxcvbnm1 zxcvbnma abcd1234 abc12345 abcdefgh 1234abcd
iloveyou iloveyou1 sunshine sunshine1 princess princess1 football football1
baseball basketball superman batman123 starwars trustno1 welcome1 welcome123
letmein1 letmein123 whatever dragon123 monkey123 shadow123 master123 michael1
jennifer jordan23 computer internet mercedes samsung1 cookie123 chocolate
butterfly liverpool chelsea1 arsenal1 pokemon1 minecraft fortnite charlie1
corvette 1234qwer q1w2e3r4 q1w2e3r4t5 a1b2c3d4 changeme changeme1 default1
administrator admin123 admin1234 adminadmin root1234 secret123 test1234
testtest guest123 student1 student123 teacher1 teacher123 school123 classroom
quizcast quizcast1 quizcast123 qwertyqwerty 123qweasd qweasdzxc password!
`

// WeakPassword reports why password may not be used, or "" if it may: a
// known common password, or a run of one repeated character.
func WeakPassword(password string) string {
	lower := strings.ToLower(password)
	if commonPasswords[lower] {
		return "is a commonly used password; choose another"
	}
	first, _ := utf8.DecodeRuneInString(lower)
	if strings.Count(lower, string(first)) == utf8.RuneCountInString(lower) {
		return "is one character repeated; choose another"
	}
	return ""
}

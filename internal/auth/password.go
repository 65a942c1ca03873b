package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// PasswordCost is the bcrypt cost of stored password hashes.
const PasswordCost = 10

// prehash maps a password of any length (the contract allows 128
// characters, bcrypt reads 72 bytes) to 44 bytes of base64, so every
// character counts and no NUL byte reaches bcrypt.
func prehash(password string) []byte {
	sum := sha256.Sum256([]byte(password))
	out := make([]byte, base64.StdEncoding.EncodedLen(len(sum)))
	base64.StdEncoding.Encode(out, sum[:])
	return out
}

// HashPassword returns the bcrypt hash to store for password.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword(prehash(password), PasswordCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether password matches hash. bcrypt compares in
// constant time.
func CheckPassword(hash, password string) bool {
	err := bcrypt.CompareHashAndPassword([]byte(hash), prehash(password))
	return err == nil
}

package users

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Hash is a parsed password hash.
type Hash interface {
	// Verify reports whether password matches, in constant time with
	// respect to the stored key.
	Verify(password string) bool
	// Algorithm is "argon2id" or "bcrypt".
	Algorithm() string
	// Fingerprint is a digest of the hash (never of a password): it
	// changes whenever the password is changed, so sessions can be tied
	// to the password they were started with.
	Fingerprint() []byte
}

// ErrUnsupportedHash wraps every reason ParseHash refuses a hash.
var ErrUnsupportedHash = errors.New("users: unsupported password hash")

// ParseHash accepts an argon2id PHC string ("$argon2id$v=19$m=…,t=…,p=…$salt$key",
// as `caddy hash-password --algorithm argon2id` prints) or a bcrypt hash
// ("$2a$", "$2b$", "$2y$", cost ≥ 10, as `caddy hash-password` prints), each
// also base64-encoded. Anything else is refused with an error that says what
// is wrong and never contains the hash.
func ParseHash(s string) (Hash, error) {
	if !strings.HasPrefix(s, "$") {
		if inner, ok := unwrapBase64(s); ok {
			s = inner
		}
	}
	switch {
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2id(s)
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		return parseBcrypt(s)
	}
	return nil, fmt.Errorf("%w: %s; use argon2id or bcrypt (caddy hash-password)", ErrUnsupportedHash, describe(s))
}

// unwrapBase64 decodes a base64-wrapped hash; it succeeds only when the
// result looks like a hash ("$…" or "{SCHEME}…"), so a plain-text password
// that happens to be valid base64 is still described as plain text.
func unwrapBase64(s string) (string, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil && (strings.HasPrefix(string(b), "$") || strings.HasPrefix(string(b), "{")) {
			return string(b), true
		}
	}
	return "", false
}

// describe names the scheme of a refused hash, so the operator knows what
// to replace, without repeating any of it.
func describe(s string) string {
	prefixes := []struct{ prefix, name string }{
		{"$1$", "md5-crypt"},
		{"$apr1$", "Apache md5-crypt"},
		{"$5$", "sha256-crypt"},
		{"$6$", "sha512-crypt"},
		{"$y$", "yescrypt"},
		{"$7$", "scrypt"},
		{"$scrypt$", "scrypt"},
		{"$pbkdf2", "PBKDF2"},
		{"$argon2i$", "argon2i (only argon2id is accepted)"},
		{"$argon2d$", "argon2d (only argon2id is accepted)"},
		{"$2$", "an early bcrypt variant"},
		{"$2x$", "a bcrypt variant with a known bug"},
		{"{SHA}", "unsalted SHA-1"},
		{"{SSHA}", "salted SHA-1"},
		{"{MD5}", "unsalted MD5"},
		{"{PLAIN}", "plain text"},
	}
	for _, p := range prefixes {
		if strings.HasPrefix(s, p.prefix) {
			return p.name + " is not accepted"
		}
	}
	if s == "" {
		return "it is empty"
	}
	if isHex(s) {
		switch len(s) {
		case 32:
			return "an unsalted MD5 digest is not accepted"
		case 40:
			return "an unsalted SHA-1 digest is not accepted"
		case 64:
			return "an unsalted SHA-256 digest is not accepted"
		case 128:
			return "an unsalted SHA-512 digest is not accepted"
		}
	}
	return "not an argon2id or bcrypt hash (a plain-text password?)"
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("0123456789abcdefABCDEF", rune(s[i])) {
			return false
		}
	}
	return true
}

func fingerprint(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

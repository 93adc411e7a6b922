package recovery

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor"
)

// DefaultCount is how many codes a user gets at a time.
const DefaultCount = 10

// maxCount bounds Generate against a misconfigured count.
const maxCount = 100

// alphabet is Crockford's base32: digits and lower-case letters without i,
// l, o and u, so no two symbols look alike.
const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

const (
	codeLen   = 12 // 12 symbols × 5 bits = 60 bits
	groupLen  = 4  // shown as xxxx-xxxx-xxxx
	maxTyping = 64 // Normalize looks at no more than this
)

var errCount = errors.New("recovery: code count out of range")

// Generate returns n distinct codes of 60 bits each from crypto/rand,
// formatted for humans as three dash-separated groups, e.g. "k7qm-2xvb-9tfr".
func Generate(n int) ([]string, error) {
	if n < 1 || n > maxCount {
		return nil, fmt.Errorf("%w: %d", errCount, n)
	}
	codes := make([]string, 0, n)
	seen := make(map[string]bool, n)
	raw := make([]byte, codeLen)
	for len(codes) < n {
		if _, err := rand.Read(raw); err != nil {
			return nil, fmt.Errorf("recovery: generate: %w", err)
		}
		// 256 is a multiple of 32, so the low 5 bits of a random byte pick
		// every symbol with the same probability.
		for i, b := range raw {
			raw[i] = alphabet[b&31]
		}
		if code := string(raw); !seen[code] {
			seen[code] = true
			codes = append(codes, format(code))
		}
	}
	return codes, nil
}

func format(code string) string {
	var b strings.Builder
	for i := 0; i < len(code); i += groupLen {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(code[i : i+groupLen])
	}
	return b.String()
}

// Normalize returns the form of code that is hashed: 12 lower-case symbols,
// no separators. It ignores case, spaces and dashes, and reads the look-alikes
// o as 0 and i, l as 1. Anything else is factor.ErrMalformed.
func Normalize(code string) (string, error) {
	malformed := fmt.Errorf("recovery: a code is %d letters and digits: %w", codeLen, factor.ErrMalformed)
	if len(code) > maxTyping {
		return "", malformed
	}
	out := make([]byte, 0, codeLen)
	// Byte by byte on purpose: strings.ToLower would turn the Kelvin sign
	// into a "k" and accept it.
	for i := 0; i < len(code); i++ {
		c := code[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		switch c {
		case ' ', '\t', '\n', '\r', '-':
			continue
		case 'o':
			c = '0'
		case 'i', 'l':
			c = '1'
		}
		if strings.IndexByte(alphabet, c) < 0 || len(out) == codeLen {
			return "", malformed
		}
		out = append(out, c)
	}
	if len(out) != codeLen {
		return "", malformed
	}
	return string(out), nil
}

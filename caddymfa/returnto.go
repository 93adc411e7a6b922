package caddymfa

import (
	"net/url"
	"strings"
)

const maxReturnTo = 2048

// safeReturnTo returns s if it is a path on this site, else "/". Only a
// single leading slash followed by a non-slash is accepted, checked again
// after each round of percent-decoding, so no encoding of "//host",
// "/\host", a scheme or a header break survives.
func safeReturnTo(s string) string {
	if s == "" || len(s) > maxReturnTo || s[0] != '/' {
		return "/"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	cur := s
	for range 3 {
		if !plainPath(cur) {
			return "/"
		}
		next, err := url.PathUnescape(cur)
		if err != nil {
			return "/"
		}
		if next == cur {
			return s
		}
		cur = next
	}
	// Still changing after three rounds: nobody legitimate encodes that deep.
	return "/"
}

// plainPath: starts with exactly one slash, no backslash, no control
// character.
func plainPath(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

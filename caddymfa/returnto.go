package caddymfa

import (
	"net/url"
	"strings"
)

// safeReturnTo returns s if it is a path on this site, else "/". Only a
// single leading slash followed by a non-slash is accepted, checked again
// after each round of percent-decoding, so no encoding of "//host",
// "/\host", a scheme or a header break survives.
//
// Only the path before "?" decides where the browser goes; the query is
// kept as it came (a search for "a\r\nb" is the query "q=a%0D%0Ab"), with
// no raw control character or space. No length cap: every return_to is
// read from a request, which the server's limits already bound, and a
// long URL cut to "/" would lose the request kept for it.
func safeReturnTo(s string) string {
	path, query, hasQuery := strings.Cut(s, "?")
	if path == "" || path[0] != '/' || (hasQuery && !plainQuery(query)) {
		return "/"
	}
	u, err := url.Parse(path)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	cur := path
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

// plainQuery: no control character or space, which no request line
// carries and which could break a header or an attribute.
func plainQuery(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

package main

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestRequestHeaders holds the request shapes to their header counts,
// which the benchmark's reading of map growth depends on.
func TestRequestHeaders(t *testing.T) {
	c := credentials{token: "tok", cookie: "tok"}
	for _, tc := range []struct {
		auth, request string
		want          int
		first         string
	}{
		{"cookie", "browser", 8, "Cookie: " + sessionCookie + "=tok; app_theme=dark; app_lang=en"},
		{"cookie", "chrome", 15, "Cookie: " + sessionCookie + "=tok; app_theme=dark; app_lang=en"},
		{"cookie", "minimal", 1, "Cookie: " + sessionCookie + "=tok"},
		{"bearer", "chrome", 15, "Authorization: Bearer tok"},
	} {
		h := c.headers(tc.auth, tc.request)
		if len(h) != tc.want || h[0] != tc.first {
			t.Errorf("%s/%s: %d headers starting %q, want %d starting %q", tc.auth, tc.request, len(h), h[0], tc.want, tc.first)
		}
		seen := map[string]bool{}
		for _, line := range h {
			name, value, ok := strings.Cut(line, ": ")
			if !ok || name == "" || value == "" || seen[strings.ToLower(name)] {
				t.Errorf("%s/%s: header line %q is malformed or repeated", tc.auth, tc.request, line)
			}
			seen[strings.ToLower(name)] = true
		}
	}
}

// TestMadeUpToken: the A/A control's session looks like a real one (three
// base64url parts, as long) and is new each time.
func TestMadeUpToken(t *testing.T) {
	a, b := madeUpToken(), madeUpToken()
	if len(a) != 443 || strings.Count(a, ".") != 2 || a == b {
		t.Errorf("made-up tokens %q and %q: want two different 443-character tokens of three parts", a, b)
	}
	for _, part := range strings.Split(a, ".") {
		if _, err := base64.RawURLEncoding.DecodeString(part); err != nil {
			t.Errorf("part %q of a made-up token is not base64url: %v", part, err)
		}
	}
}

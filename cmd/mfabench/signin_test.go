package main

import (
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

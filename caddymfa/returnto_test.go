package caddymfa

import (
	"strings"
	"testing"
)

func TestSafeReturnTo(t *testing.T) {
	cases := map[string]string{
		"/":                              "/",
		"/reports/q3?x=1&y=2":            "/reports/q3?x=1&y=2",
		"/a%20b":                         "/a%20b",
		"/path#frag":                     "/path#frag",
		"":                               "/",
		"https://evil.test":              "/",
		"//evil.test":                    "/",
		"/\\evil.test":                   "/",
		"\\\\evil.test":                  "/",
		"https:evil.test":                "/",
		"/%2F%2Fevil.test":               "/",
		"/%2f%2fevil.test":               "/",
		"/%252F%252Fevil.test":           "/",
		"/%5Cevil.test":                  "/",
		"HTTPS://evil.test":              "/",
		"https://ok.test@evil.test":      "/",
		"javascript:alert(1)":            "/",
		"/x%0d%0aSet-Cookie:a=b":         "/",
		"/x\r\nSet-Cookie:a=b":           "/",
		" //evil.test":                   "/",
		"\t/x":                           "/",
		"/%":                             "/",
		"/" + string(make([]byte, 3000)): "/",
		// The query cannot change where the browser goes: kept as it came.
		"/search?q=line1%0D%0Aline2":           "/search?q=line1%0D%0Aline2",
		"/files?dir=C%3A%5Cshare":              "/files?dir=C%3A%5Cshare",
		"/find?q=100%":                         "/find?q=100%",
		"/find?q=%zz&r=%":                      "/find?q=%zz&r=%",
		"/find?next=//evil.test":               "/find?next=//evil.test",
		"/find?dir=C:\\share":                  "/find?dir=C:\\share",
		"/?x":                                  "/?x",
		"/long?q=" + strings.Repeat("a", 5000): "/long?q=" + strings.Repeat("a", 5000),
		// ... but its path is still checked, and raw breaks anywhere refused.
		"//evil.test?x=1":        "/",
		"/%2F%2Fevil.test?x=1":   "/",
		"/\\evil.test?x=1":       "/",
		"https://evil.test?/x":   "/",
		"?/x":                    "/",
		"/x?a\r\nSet-Cookie:a=b": "/",
		"/x?a b":                 "/",
		"/x?a\tb":                "/",
		"/x?a\x7fb":              "/",
	}
	for in, want := range cases {
		if got := safeReturnTo(in); got != want {
			t.Errorf("safeReturnTo(%.80q) = %.80q, want %.80q", in, got, want)
		}
	}
}

func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{"/", "//evil", "/%2F%2Fx", "/a?b#c", "https://x", "/\\x", "/q?a=%0D%0A", "/q?a\\b", "//x?y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := safeReturnTo(s)
		if got == "/" {
			return
		}
		if got != s {
			t.Fatalf("safeReturnTo(%q) changed the input to %q", s, got)
		}
		path, query, _ := strings.Cut(got, "?")
		if !plainPath(path) || !plainQuery(query) {
			t.Fatalf("safeReturnTo(%q) accepted a non-plain path or query", s)
		}
	})
}

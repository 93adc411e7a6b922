package caddymfa

import "testing"

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
	}
	for in, want := range cases {
		if got := safeReturnTo(in); got != want {
			t.Errorf("safeReturnTo(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{"/", "//evil", "/%2F%2Fx", "/a?b#c", "https://x", "/\\x"} {
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
		if !plainPath(got) {
			t.Fatalf("safeReturnTo(%q) accepted a non-plain path", s)
		}
	})
}

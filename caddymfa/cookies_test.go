package caddymfa

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// cookieValue scans the Cookie header itself; it must find exactly what
// net/http's r.Cookie finds.
var cookieLines = [][]string{
	nil,
	{""},
	{"__Host-mfa_session=tok"},
	{"a=1; __Host-mfa_session=tok; b=2"},
	{"  __Host-mfa_session = tok  ;"},
	{`__Host-mfa_session="quoted"`},
	{`__Host-mfa_session="`},
	{"__Host-mfa_session=bad\\value; __Host-mfa_session=good"},
	{"__Host-mfa_session=a\"b", "__Host-mfa_session=second"},
	{"__Host-mfa_session=first; __Host-mfa_session=second"},
	{"x=1", "__Host-mfa_session=tok"},
	{"__host-mfa_session=wrongcase"},
	{"__Host-mfa_session"},
	{"__Host-mfa_session="},
	{"__Host-mfa_session=a=b=c"},
	{";;; ;__Host-mfa_session=t;;"},
	{"\t__Host-mfa_session=tab\t"},
	{"__Host-mfa_session=caf\xc3\xa9"},
	{strings.Repeat("a=1;", 3000) + "__Host-mfa_session=toomany"},
}

func TestCookieValueAsNetHTTP(t *testing.T) {
	for _, lines := range cookieLines {
		r := &http.Request{Header: http.Header{}}
		if lines != nil {
			r.Header["Cookie"] = lines
		}
		want := ""
		if c, err := r.Cookie("__Host-mfa_session"); err == nil {
			want = c.Value
		}
		if got := cookieValue(r, "__Host-mfa_session"); got != want {
			t.Errorf("Cookie %q: cookieValue %q, r.Cookie %q", truncate(strings.Join(lines, " | "), 80), got, want)
		}
		// A value vouched for skips only the byte check.
		if got := findCookie(r, "__Host-mfa_session", func(string) bool { return false }); got != want {
			t.Errorf("Cookie %q: findCookie %q, r.Cookie %q", truncate(strings.Join(lines, " | "), 80), got, want)
		}
	}
}

func FuzzCookieValue(f *testing.F) {
	for _, lines := range cookieLines {
		if len(lines) == 1 {
			f.Add(lines[0])
		}
	}
	f.Fuzz(func(t *testing.T, line string) {
		r := &http.Request{Header: http.Header{"Cookie": {line}}}
		want := ""
		if c, err := r.Cookie("__Host-mfa_session"); err == nil {
			want = c.Value
		}
		if got := cookieValue(r, "__Host-mfa_session"); got != want {
			t.Fatalf("cookieValue %q, r.Cookie %q", got, want)
		}
		checkScanAgrees(t, []string{line})
		if strings.Count(line, ";") >= maxCookies-1 {
			return // net/http reads none of them; stripping may change that
		}
		// After stripping, none of ours is left and every other cookie is.
		before := r.Cookies()
		newCookieNames("").stripOurCookies(r)
		var kept []string
		for _, c := range before {
			if !newCookieNames("").isOurs(c.Name) {
				kept = append(kept, c.Name+"="+c.Value)
			}
		}
		var after []string
		for _, c := range r.Cookies() {
			after = append(after, c.Name+"="+c.Value)
		}
		if !slices.Equal(kept, after) {
			t.Fatalf("after stripping: %q, want %q", after, kept)
		}
	})
}

func TestStripOurCookies(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want []string // nil: no Cookie header left
	}{
		{[]string{"a=1; b=2"}, []string{"a=1; b=2"}},
		{[]string{"__Host-mfa_session=t"}, nil},
		{[]string{"__Host-mfa_session=t; a=1; b=2"}, []string{"a=1; b=2"}},
		{[]string{"a=1; b=2; __Host-mfa_session=t"}, []string{"a=1; b=2"}},
		{[]string{"a=1; __Host-mfa_session=t; b=2"}, []string{"a=1; b=2"}},
		{[]string{"a=1;__Host-mfa_pending=p;  b=2 ; __Host-mfa_csrf=c; c=3"}, []string{"a=1; b=2; c=3"}},
		{[]string{" __Host-mfa_session =t; a=1"}, []string{"a=1"}},
		{[]string{"__Host-mfa_session=t", "a=1", "__Host-mfa_csrf=x"}, []string{"a=1"}},
		{[]string{"__Host-mfa_session=t; __Host-mfa_csrf=x"}, nil},
		{[]string{"__Secure-mfa_session=other-scheme; a=1"}, []string{"__Secure-mfa_session=other-scheme; a=1"}},
	} {
		r := &http.Request{Header: http.Header{"Cookie": slices.Clone(c.in)}}
		newCookieNames("").stripOurCookies(r)
		if got := r.Header["Cookie"]; !slices.Equal(got, c.want) || (c.want == nil) != (got == nil) {
			t.Errorf("Cookie %q: stripped to %q, want %q", c.in, got, c.want)
		}
	}
}

// checkScanAgrees holds the single walk of the hot path to the three it
// replaces: findCookie for the session, a cookie named resumeCookie, and
// stripOurCookies for what goes upstream.
func checkScanAgrees(t *testing.T, lines []string) {
	t.Helper()
	cn := newCookieNames("")
	mk := func() *http.Request {
		r := &http.Request{Header: http.Header{}}
		if lines != nil {
			r.Header["Cookie"] = slices.Clone(lines)
		}
		return r
	}
	r := mk()
	for _, known := range []func(string) bool{nil, func(v string) bool { return v == "vouched\\" }} {
		sc := cn.scan(r, known)
		if want := findCookie(r, cn.session, known); sc.session != want {
			t.Errorf("Cookie %q: scan found session %q, findCookie %q", truncate(strings.Join(lines, " | "), 80), sc.session, want)
		}
	}
	sc := cn.scan(r, nil)
	wantResume := false
	for _, c := range r.Cookies() {
		wantResume = wantResume || c.Name == resumeCookie
	}
	if cookieCountOK(lines) && sc.resume != wantResume {
		t.Errorf("Cookie %q: scan says resume %v, want %v", truncate(strings.Join(lines, " | "), 80), sc.resume, wantResume)
	}
	want := mk()
	cn.stripOurCookies(want)
	got := mk()
	cn.stripScanned(got, cn.scan(got, nil))
	if g, w := got.Header["Cookie"], want.Header["Cookie"]; !slices.Equal(g, w) || (g == nil) != (w == nil) {
		t.Errorf("Cookie %q: stripScanned made %q, stripOurCookies %q", truncate(strings.Join(lines, " | "), 80), g, w)
	}
}

func TestCookieScanAgrees(t *testing.T) {
	more := [][]string{
		{"a=1; b=2"},
		{"__Host-mfa_session=t; a=1; b=2"},
		{"a=1; b=2; __Host-mfa_session=t"},
		{"a=1; __Host-mfa_session=t; b=2"},
		{"a=1;__Host-mfa_pending=p;  b=2 ; __Host-mfa_csrf=c; c=3"},
		{"__Host-mfa_session=t; __Host-mfa_resume=r1; a=1"},
		{"a=1; __Host-mfa_resume=r1"},
		{"__Host-mfa_session=t", "__Host-mfa_resume=r1"},
		{"x=__Host-mfa_resume; a=1"},
		{"__Host-mfa_session=vouched\\; a=1"},
		{"__Host-mfa_session=t; __Host-mfa_csrf=x"},
		{"__Secure-mfa_session=other-scheme; a=1"},
		{"a=1; __Host-mfa_session=t; b=2; __Host-mfa_csrf=x; c=3"},
		{" ; ;"},
		{"__Host-mfa_session=; __Host-mfa_session=second"},
		{`__Host-mfa_session=""; __Host-mfa_session=second`},
		{"__Host-mfa_session=", "__Host-mfa_session=second"},
	}
	for _, lines := range append(slices.Clone(cookieLines), more...) {
		checkScanAgrees(t, lines)
	}
}

// cookieCountOK skips counting for short lines; around the limit it must
// still say what net/http does (no cookie at all beyond 3000).
func TestCookieCountOK(t *testing.T) {
	many := func(n int) string { return strings.Repeat("a=1;", n-1) + "a=1" }
	for _, c := range []struct {
		lines []string
		want  bool
	}{
		{[]string{"a=1; b=2"}, true},
		{[]string{strings.Repeat("x", 5000)}, true},
		{[]string{"a=" + strings.Repeat("x", 5000) + "; b=2"}, true},
		{[]string{many(maxCookies)}, true},
		{[]string{many(maxCookies + 1)}, false},
		{[]string{many(1500), many(1500)}, true},
		{[]string{many(1500), many(1501)}, false},
		{[]string{strings.Repeat(";", maxCookies-1)}, true},
		{[]string{strings.Repeat(";", maxCookies)}, false},
	} {
		n := 0
		for _, l := range c.lines {
			n += strings.Count(l, ";") + 1
		}
		if got := cookieCountOK(c.lines); got != c.want || got != (n <= maxCookies) {
			t.Errorf("cookieCountOK(%d lines, %d cookies) = %v, want %v", len(c.lines), n, got, c.want)
		}
	}
	r := &http.Request{Header: http.Header{"Cookie": {many(maxCookies + 1)}}}
	if len(r.Cookies()) != 0 {
		t.Errorf("net/http reads %d cookies beyond its limit; the rule here has changed", len(r.Cookies()))
	}
	r.Header["Cookie"] = []string{many(maxCookies)}
	if len(r.Cookies()) != maxCookies {
		t.Errorf("net/http reads %d cookies at its limit, want %d", len(r.Cookies()), maxCookies)
	}
}

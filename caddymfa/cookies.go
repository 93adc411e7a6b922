package caddymfa

import (
	"net/http"
	"net/textproto"
	"strings"
	"time"
)

// cookieNames are our cookies. They carry the __Host- prefix, which makes
// browsers insist on Secure, Path=/ and no Domain, so a sibling subdomain
// can neither read nor overwrite them. Only the session cookie, when
// cookie_domain shares it across sibling sites, is __Secure- with a Domain.
type cookieNames struct {
	domain  string
	session string
	pending string
	csrf    string
}

func newCookieNames(domain string) cookieNames {
	cn := cookieNames{
		domain:  domain,
		session: "__Host-mfa_session",
		pending: "__Host-mfa_pending",
		csrf:    "__Host-mfa_csrf",
	}
	if domain != "" {
		cn.session = "__Secure-mfa_session"
	}
	return cn
}

// isOurs reports whether a cookie name is one of ours (stripped upstream).
func (cn cookieNames) isOurs(name string) bool {
	return name == cn.session || name == cn.pending || name == cn.csrf || name == deviceCookie || name == resumeCookie
}

func (cn cookieNames) make(name, value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	if cn.domain != "" && name == cn.session {
		c.Domain = cn.domain
	}
	if !expires.IsZero() {
		c.Expires = expires.UTC()
	}
	return c
}

func (cn cookieNames) clear(name string) *http.Cookie {
	c := cn.make(name, "", time.Time{})
	c.MaxAge = -1
	return c
}

// cookieValue returns the value of the named cookie, "" if absent: what
// r.Cookie(name) finds, without parsing every cookie into a new object.
func cookieValue(r *http.Request, name string) string {
	return findCookie(r, name, nil)
}

// cookieScan is what one walk over a request's Cookie lines finds for
// the hot path, where three walks used to be: the session cookie's value
// (what findCookie gives), whether a resume cookie is there, and, when a
// single line came, that line without our cookies (what stripOurCookies
// makes of it).
type cookieScan struct {
	session string
	found   bool // a session cookie was taken (its value may be "")
	resume  bool

	line    string // the single Cookie line walked; "" for none or several
	kept    string // line without our cookies, when they were one stretch
	dropped bool   // line had cookies of ours
	gap     bool   // the kept cookies are not one stretch of line
}

// scan walks r's Cookie lines once. known is as for findCookie.
func (cn cookieNames) scan(r *http.Request, known func(string) bool) cookieScan {
	lines := r.Header["Cookie"]
	var sc cookieScan
	if len(lines) == 0 {
		return sc
	}
	for _, line := range lines {
		first, last, dropped, gap := cn.scanLine(line, &sc, known)
		if len(lines) == 1 {
			sc.line, sc.dropped, sc.gap = line, dropped, gap
			if first >= 0 {
				sc.kept = line[first:last]
			}
		}
	}
	if !cookieCountOK(lines) {
		// net/http reads no cookie at all then.
		sc.session, sc.found = "", false
	}
	return sc
}

// scanLine walks one Cookie line: it returns where the stretch of cookies
// not ours begins and ends (first < 0: none), whether any of ours came,
// and whether the kept cookies are not one stretch (gap). Unless sc is
// nil it also notes the session and resume cookies in sc, as scan does.
func (cn cookieNames) scanLine(line string, sc *cookieScan, known func(string) bool) (first, last int, dropped, gap bool) {
	first, last = -1, -1
	after := false // one of ours came after a kept cookie
	for off := 0; off < len(line); {
		part, start, next := nextCookie(line, off)
		off = next
		if part == "" {
			continue
		}
		n, v, _ := strings.Cut(part, "=")
		if name := textproto.TrimString(n); cn.isOurs(name) {
			switch {
			case sc == nil:
			case name == cn.session && !sc.found:
				// The first valid one counts, even if empty, as for
				// findCookie and net/http.
				sc.session, sc.found = acceptCookieValue(v, known)
			case name == resumeCookie:
				sc.resume = true
			}
			dropped = true
			after = after || first >= 0
			continue
		}
		gap = gap || after
		if first < 0 {
			first = start
		}
		last = start + len(part)
	}
	return first, last, dropped, gap
}

// stripScanned is stripOurCookies for a request scanned with sc, without
// walking the Cookie line again when sc already says what to keep.
func (cn cookieNames) stripScanned(r *http.Request, sc cookieScan) {
	lines := r.Header["Cookie"]
	if len(lines) == 0 {
		return
	}
	if sc.line == "" || sc.gap || len(lines) != 1 || lines[0] != sc.line {
		cn.stripOurCookies(r)
		return
	}
	switch {
	case !sc.dropped:
	case sc.kept == "":
		delete(r.Header, "Cookie")
	default:
		lines[0] = sc.kept
	}
}

// findCookie is cookieValue; known, if given, vouches for values that need
// no check of their bytes (see sessionCookie).
func findCookie(r *http.Request, name string, known func(string) bool) string {
	lines := r.Header["Cookie"]
	if name == "" || len(lines) == 0 || !cookieCountOK(lines) {
		return ""
	}
	for _, line := range lines {
		for off := 0; off < len(line); {
			var part string
			part, _, off = nextCookie(line, off)
			n, v, _ := strings.Cut(part, "=")
			if part == "" || textproto.TrimString(n) != name {
				continue
			}
			if v, ok := acceptCookieValue(v, known); ok {
				return v
			}
		}
	}
	return ""
}

// maxCookies is net/http's limit: a request with more cookies has none.
const maxCookies = 3000

func cookieCountOK(lines []string) bool {
	// A line holds at most one cookie more than it has bytes, so short
	// lines (every browser's) need no count.
	size := 0
	for _, line := range lines {
		size += len(line) + 1
	}
	if size <= maxCookies {
		return true
	}
	n := 0
	for _, line := range lines {
		n += strings.Count(line, ";") + 1
	}
	return n <= maxCookies
}

// nextCookie reads the cookie at off in a Cookie line: the part up to the
// next ";" with spaces trimmed ("" if blank), where it starts, and the
// offset after it.
func nextCookie(line string, off int) (part string, start, next int) {
	end := strings.IndexByte(line[off:], ';')
	if end < 0 {
		end = len(line)
	} else {
		end += off
	}
	start = off
	for start < end && isSpace(line[start]) {
		start++
	}
	stop := end
	for stop > start && isSpace(line[stop-1]) {
		stop--
	}
	return line[start:stop], start, end + 1
}

// isSpace is textproto's idea of space around header parts.
func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// acceptCookieValue unquotes a cookie's raw value and reports whether it
// is one net/http would read: its bytes are valid, or known (when given)
// vouches for it.
func acceptCookieValue(v string, known func(string) bool) (string, bool) {
	if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if known != nil && known(v) || validCookieValue(v) {
		return v, true
	}
	return "", false
}

// validCookieValue checks the bytes of an unquoted cookie value, as
// net/http does.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if !cookieValueByte[v[i]] {
			return false
		}
	}
	return true
}

var cookieValueByte = func() (ok [256]bool) {
	for b := 0x20; b < 0x7f; b++ {
		ok[b] = b != '"' && b != ';' && b != '\\'
	}
	return ok
}()

// stripOurCookies removes our cookies from the Cookie header so the
// upstream never sees a session token. A cookie is ours by its name as
// net/http reads it (spaces around it trimmed).
func (cn cookieNames) stripOurCookies(r *http.Request) {
	lines := r.Header["Cookie"]
	kept := lines[:0] // rewritten in place: the slice is this request's own
	changed := false
	for _, line := range lines {
		l, same := cn.withoutOurs(line)
		changed = changed || !same
		if l != "" {
			kept = append(kept, l)
		}
	}
	switch {
	case !changed:
	case len(kept) == 0:
		delete(r.Header, "Cookie")
	default:
		clear(lines[len(kept):])
		r.Header["Cookie"] = kept
	}
}

// withoutOurs returns line without our cookies and whether it is
// unchanged. When the kept cookies are one stretch of the line (ours came
// first or last, the usual case) that stretch is returned as it is, with
// nothing allocated.
func (cn cookieNames) withoutOurs(line string) (string, bool) {
	first, last, dropped, gap := cn.scanLine(line, nil, nil)
	switch {
	case !dropped:
		return line, true
	case first < 0:
		return "", false
	case gap:
		return cn.joinKept(line), false
	}
	return line[first:last], false
}

// joinKept rebuilds line from the cookies that are not ours.
func (cn cookieNames) joinKept(line string) string {
	var b strings.Builder
	b.Grow(len(line))
	for off := 0; off < len(line); {
		var part string
		part, _, off = nextCookie(line, off)
		if name, _, _ := strings.Cut(part, "="); part == "" || cn.isOurs(textproto.TrimString(name)) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(part)
	}
	return b.String()
}

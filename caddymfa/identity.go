package caddymfa

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// identity is what the upstream learns about the signed-in user.
type identity struct {
	User   string
	Email  string
	Name   string
	Groups []string
}

// identityOf completes a user name with the directory's facts; users who
// come from identity_from and are not in the directory have a name only.
func (h *Handler) identityOf(user string) identity {
	id := identity{User: user}
	if u, ok := h.dir.Lookup(user); ok {
		id.Email, id.Name, id.Groups = u.Email, u.DisplayName, u.Groups
	}
	return id
}

// stripIdentityHeaders removes every client-sent copy of the identity
// headers: any case, any count, and with "_" for "-" (which CGI-style
// upstreams treat alike). It also drops identity header names from
// Connection, which would otherwise make the proxy remove our own values.
func (h *Handler) stripIdentityHeaders(r *http.Request) {
	for name := range r.Header {
		if h.stripSet.mayHave(name) && h.isIdentityHeader(name) {
			delete(r.Header, name)
		}
	}
	conn := r.Header["Connection"]
	if !h.namesIdentityHeader(conn) {
		return // the usual case: nothing to rewrite, nothing allocated
	}
	var kept []string
	for _, line := range conn {
		for tok := range strings.SplitSeq(line, ",") {
			if tok = strings.TrimSpace(tok); tok != "" && !h.isIdentityHeader(tok) {
				kept = append(kept, tok)
			}
		}
	}
	r.Header.Del("Connection")
	if len(kept) > 0 {
		r.Header.Set("Connection", strings.Join(kept, ", "))
	}
}

// namesIdentityHeader reports whether Connection lines name an identity
// header. Every request with a Connection header (keep-alive) asks, so
// it splits by hand and compares only names of a length that can match.
func (h *Handler) namesIdentityHeader(lines []string) bool {
	for _, line := range lines {
		for rest := line; ; {
			tok, more, found := strings.Cut(rest, ",")
			if tok = strings.TrimSpace(tok); h.stripSet.mayHave(tok) && h.isIdentityHeader(tok) {
				return true
			}
			if !found {
				break
			}
			rest = more
		}
	}
	return false
}

// nameFilter rules out most header names before they are compared with
// every identity header name: by length, then by first byte (in either
// case, "_" standing for "-"). A browser's request has a dozen or more
// headers and every one is asked.
type nameFilter struct {
	lengths lengthSet
	first   [4]uint64 // the bytes a name can start with
}

func newNameFilter(names []string) nameFilter {
	var f nameFilter
	for _, n := range names {
		f.lengths |= 1 << min(len(n), 63)
		if n == "" {
			continue
		}
		// Every byte sameHeaderName takes for n's first one.
		for b := 0; b < 256; b++ {
			if lowerDash(byte(b)) == lowerDash(n[0]) {
				f.first[b>>6] |= 1 << (b & 63)
			}
		}
	}
	return f
}

// mayHave reports whether name can be one of the names; false is certain.
func (f *nameFilter) mayHave(name string) bool {
	return f.lengths.has(len(name)) && f.first[name[0]>>6]&(1<<(name[0]&63)) != 0
}

// lengthSet is a set of string lengths; lengths from 63 on share a bit.
type lengthSet uint64

func (s lengthSet) has(n int) bool { return s&(1<<min(n, 63)) != 0 }

func (h *Handler) isIdentityHeader(name string) bool {
	for _, n := range h.strip {
		if sameHeaderName(name, n) {
			return true
		}
	}
	return false
}

// sameHeaderName compares header names ignoring case and treating "_" as
// "-".
func sameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := lowerDash(a[i]), lowerDash(b[i])
		if ca != cb {
			return false
		}
	}
	return true
}

func lowerDash(c byte) byte {
	switch {
	case c == '_':
		return '-'
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	}
	return c
}

func validHeaderName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// setIdentity hands the verified identity to the upstream (headers) and to
// later handlers and logs (placeholders).
func (h *Handler) setIdentity(r *http.Request, s session) {
	p := h.identityFor(s)
	// One array per request: the strings are shared, the slices are not,
	// since a later handler (a header replace) may write into them.
	vals := make([]string, len(p.headers))
	for i, hd := range p.headers {
		vals[i] = hd.value
		r.Header[hd.name] = vals[i : i+1 : i+1]
	}
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil {
		return
	}
	// An earlier handler's static value would shadow our provider.
	repl.Delete("http.auth.user.id")
	repl.Map(p.placeholder)
}

// preparedIdentity is a session's identity as setIdentity hands it on,
// worked out once per cached token.
type preparedIdentity struct {
	headers []identityHeader
	// Placeholder values, boxed once so that reading one allocates nothing.
	user, email, name, groups, amr, sid, authTime, mfaTime any
	// placeholder is lookup as a value, made once.
	placeholder caddy.ReplacerFunc
}

// lookup answers {http.auth.user.id} and {mfa.*}.
func (p *preparedIdentity) lookup(key string) (any, bool) {
	switch key {
	case "http.auth.user.id", "mfa.user":
		return p.user, true
	case "mfa.email":
		return p.email, true
	case "mfa.name":
		return p.name, true
	case "mfa.groups":
		return p.groups, true
	case "mfa.amr":
		return p.amr, true
	case "mfa.session_id":
		return p.sid, true
	case "mfa.auth_time":
		return p.authTime, true
	case "mfa.mfa_time":
		return p.mfaTime, true
	}
	return nil, false
}

type identityHeader struct {
	name  string // canonical, so it can be a map key of http.Header
	value string
}

// identityFor returns the prepared identity of s: the one kept with its
// cache entry when s is that entry's session, else a new one.
func (h *Handler) identityFor(s session) *preparedIdentity {
	e := s.cached
	if e == nil || !e.s.sameIdentity(&s) {
		return h.prepareIdentity(s)
	}
	if p := e.ident.Load(); p != nil {
		return p
	}
	p := h.prepareIdentity(s)
	e.ident.Store(p) // racing requests just store equal copies
	return p
}

// sameIdentity reports whether o shows what s shows upstream.
func (s *session) sameIdentity(o *session) bool {
	return s.User == o.User && s.SID == o.SID && s.AuthTime.Equal(o.AuthTime) &&
		s.MFATime.Equal(o.MFATime) && slices.Equal(s.AMR, o.AMR)
}

func (h *Handler) prepareIdentity(s session) *preparedIdentity {
	id := h.identityOf(s.User)
	groups, methods := strings.Join(id.Groups, ","), strings.Join(s.AMR, ",")
	authTime, mfaTime := formatTime(s.AuthTime), formatTime(s.MFATime)
	p := &preparedIdentity{headers: make([]identityHeader, 0, 7)}
	for _, hd := range []identityHeader{
		{h.hdr.User, id.User},
		{h.hdr.Email, id.Email},
		{h.hdr.Name, id.Name},
		{h.hdr.Groups, groups},
		{h.hdr.Methods, methods},
		{h.hdr.AuthTime, authTime},
		{h.hdr.MFATime, mfaTime},
	} {
		if hd.name != "" && hd.value != "" {
			p.headers = append(p.headers, identityHeader{http.CanonicalHeaderKey(hd.name), hd.value})
		}
	}
	p.user, p.email, p.name, p.groups = id.User, id.Email, id.Name, groups
	p.amr, p.sid, p.authTime, p.mfaTime = methods, s.SID, authTime, mfaTime
	p.placeholder = p.lookup
	return p
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

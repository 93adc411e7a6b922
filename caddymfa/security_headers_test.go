package caddymfa

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// SECURITY.md item 36: every page kind and every JSON answer that carries
// a token or secret is never cached, framed or sniffed, and pages run only
// the script and style their nonce allows.

var nonceAttr = regexp.MustCompile(`nonce="([^"]+)"`)

func checkPageHeaders(t *testing.T, name string, r response) string {
	t.Helper()
	for h, want := range map[string]string{
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s: %s = %q, want %q", name, h, got, want)
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s: Content-Type %q", name, ct)
	}
	csp := r.Header.Get("Content-Security-Policy")
	directives := map[string]string{}
	for d := range strings.SplitSeq(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	for d, want := range map[string]string{
		"object-src":      "'none'",
		"base-uri":        "'none'",
		"frame-ancestors": "'none'",
		"form-action":     "'self'",
	} {
		if directives[d] != want {
			t.Errorf("%s: CSP %s = %q, want %q (CSP %q)", name, d, directives[d], want, csp)
		}
	}
	if ds := directives["default-src"]; ds != "'none'" && ds != "'self'" {
		t.Errorf("%s: CSP default-src = %q", name, ds)
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "*") {
		t.Errorf("%s: CSP allows too much: %q", name, csp)
	}
	nonces := nonceAttr.FindAllStringSubmatch(r.Body, -1)
	if len(nonces) == 0 {
		t.Errorf("%s: no nonce on the page", name)
		return ""
	}
	for _, n := range nonces {
		if !strings.Contains(directives["script-src"], "'nonce-"+n[1]+"'") || !strings.Contains(directives["style-src"], "'nonce-"+n[1]+"'") {
			t.Errorf("%s: page nonce %q not the CSP's (%q)", name, n[1], csp)
		}
	}
	return nonces[0][1]
}

func checkJSONHeaders(t *testing.T, name string, r response) {
	t.Helper()
	for h, want := range map[string]string{
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s: %s = %q, want %q", name, h, got, want)
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q", name, ct)
	}
}

func TestEveryPageKindHasSecurityHeaders(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	pages := map[string]response{}
	c := g.client()
	pages["sign-in in place (401)"] = c.get("/reports")
	pages["sign-in page (200)"] = c.get("/_mfa/login")
	r := c.signInBrowser("/", "alice", "alice-password")
	pages["redirect after sign-in (303)"] = r
	enroll := c.get("/")
	pages["enroll page"] = enroll
	secret := elementAttr(t, enroll.Body, "secret", "data-value")
	form := formFields(t, enroll.Body, "/_mfa/enroll/confirm")
	form.Set("code", codeAt(t, secret, g.clock.Now()))
	codesPage := c.postForm("/_mfa/enroll/confirm", form)
	mustStatus(t, codesPage, http.StatusOK)
	pages["recovery codes page"] = codesPage
	codes := listItems(t, codesPage.Body, "codes")
	logout := c.get("/_mfa/logout")
	pages["logout page"] = logout
	pages["signed-out page"] = c.postForm("/_mfa/logout", formFields(t, logout.Body, "/_mfa/logout"))

	g.clock.Advance(time.Minute)
	b := g.client()
	b.signInBrowser("/", "alice", "alice-password")
	challenge := b.get("/")
	pages["challenge page"] = challenge
	pages["wrong code page"] = b.postForm("/_mfa/verify", with2(formFields(t, challenge.Body, "/_mfa/verify"), "code", "000000"))
	pages["recovery code accepted page"] = b.postForm("/_mfa/verify", with2(formFields(t, challenge.Body, "/_mfa/verify"), "recovery_code", codes[0]))
	for range 5 {
		g.client().verifyBrowser("/", "alice", "alice-password", url.Values{"code": {"000000"}})
	}
	pages["locked page (429)"] = g.client().verifyBrowser("/", "alice", "alice-password", url.Values{"code": {"000000"}})
	pages["not found (404)"] = c.get("/_mfa/nope")
	pages["wrong method (405)"] = c.get("/_mfa/verify")
	pages["forged form (403)"] = c.postForm("/_mfa/login", url.Values{"username": {"alice"}, "password": {"x"}})
	pages["wrong content type (415)"] = c.do(mustRequest(t, "POST", g.base+"/_mfa/login", "text/plain", "username=alice"))

	want := map[string]int{"locked page (429)": 429, "not found (404)": 404, "wrong method (405)": 405, "forged form (403)": 403, "wrong content type (415)": 415}
	seen := map[string]string{}
	for name, p := range pages {
		if st, ok := want[name]; ok && p.StatusCode != st {
			t.Errorf("%s: status %d, want %d", name, p.StatusCode, st)
		}
		if p.StatusCode == http.StatusSeeOther {
			if p.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: Cache-Control %q", name, p.Header.Get("Cache-Control"))
			}
			continue
		}
		nonce := checkPageHeaders(t, name, p)
		if other, dup := seen[nonce]; dup && nonce != "" {
			t.Errorf("%s and %s share the nonce %q", name, other, nonce)
		}
		seen[nonce] = name
	}
}

func TestJSONAnswersCarryingTokensAreNotStored(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	answers := map[string]response{}
	r, m := c.api("POST", "login", map[string]string{"username": "alice", "password": "alice-password"})
	answers["login (mfa_token)"] = r
	tok := m["mfa_token"].(string)
	r, m = c.api("POST", "enroll/totp", map[string]string{"mfa_token": tok})
	answers["enroll (secret)"] = r
	secret := m["secret"].(string)
	r, m = c.api("POST", "enroll/totp/confirm", map[string]string{"mfa_token": tok, "factor_id": m["factor_id"].(string), "code": codeAt(t, secret, g.clock.Now())})
	answers["confirm (tokens, recovery codes)"] = r
	access := m["access_token"].(string)
	r, _ = c.api("GET", "session", nil, "Authorization", "Bearer "+access)
	answers["session (renewed token)"] = r
	g.clock.Advance(time.Minute)
	tok = c.loginAPI("alice", "alice-password")
	r, _ = c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": "000000"})
	answers["wrong code (401)"] = r
	r, _ = c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": codeAt(t, secret, g.clock.Now())})
	answers["verify (tokens)"] = r
	answers["challenge (401)"] = g.client().get("/", "Accept", "application/json")
	for name, r := range answers {
		checkJSONHeaders(t, name, r)
	}
	r, _ = c.api("POST", "logout", nil, "Authorization", "Bearer "+access)
	mustStatus(t, r, http.StatusNoContent)
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("logout: Cache-Control %q", r.Header.Get("Cache-Control"))
	}
}

func with2(v url.Values, key, value string) url.Values {
	out := cloneValues(v)
	out.Set(key, value)
	return out
}

func mustRequest(t *testing.T, method, url, ctype, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", "text/html")
	return req
}

// TestLogoOriginInCSP: a branding logo given as an https URL shows, so its
// origin (and only its origin) joins the pages' img-src; without one the
// pages load images from the site and data: URLs only.
func TestLogoOriginInCSP(t *testing.T) {
	imgSrc := func(r response) string {
		for d := range strings.SplitSeq(r.Header.Get("Content-Security-Policy"), ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(d), "img-src "); ok {
				return v
			}
		}
		return ""
	}
	g := startGateway(t, policyMFA(t, "branding {\n logo https://cdn.example.com/brand/logo.png?v=2\n }"))
	page := g.client().get("/_mfa/login")
	mustStatus(t, page, http.StatusOK)
	if got := imgSrc(page); got != "'self' data: https://cdn.example.com" {
		t.Errorf("img-src with an https logo = %q", got)
	}
	if !strings.Contains(page.Body, `src="https://cdn.example.com/brand/logo.png?v=2"`) {
		t.Error("the login page does not show the logo")
	}
	plain := startGateway(t, defaultMFA(t)).client().get("/_mfa/login")
	if got := imgSrc(plain); got != "'self' data:" {
		t.Errorf("img-src without a logo = %q", got)
	}
}

func TestImgSources(t *testing.T) {
	for logo, want := range map[string]string{
		"":                                   "'self' data:",
		"/_mfa/assets/logo.png":              "'self' data:",
		"data:image/png;base64,AAAA":         "'self' data:",
		"https://cdn.example.com":            "'self' data: https://cdn.example.com",
		"https://cdn.example.com:8443/l.png": "'self' data: https://cdn.example.com:8443",
		"https://cdn.example.com#x":          "'self' data: https://cdn.example.com",
		"https://[::1]/logo.png":             "'self' data:",
		"https://a.example;script-src/x":     "'self' data:",
	} {
		if got := imgSources(logo); got != want {
			t.Errorf("imgSources(%q) = %q, want %q", logo, got, want)
		}
	}
}

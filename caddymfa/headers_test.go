package caddymfa

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

func TestClientIdentityHeadersNeverReachUpstream(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	_, _, token := c.enrollAPI("alice", "alice-password")

	// Caddy drops headers spelled with "_" unless allowlisted:
	// TestUnderscoreIdentityHeadersLetThroughByCaddy sends those with the
	// allowlist set, where only the plugin stands in their way.
	spoofs := []struct {
		name string
		hdr  []string
	}{
		{"canonical", []string{"Remote-User", "admin"}},
		{"lower case", []string{"remote-user", "admin"}},
		{"upper case", []string{"REMOTE-USER", "admin"}},
		{"duplicates", []string{"Remote-User", "admin", "Remote-User", "root"}},
		{"groups", []string{"Remote-Groups", "superusers"}},
		{"email", []string{"remote-email", "boss@example.com"}},
		{"methods", []string{"Remote-MFA-Methods", "hwk"}},
		{"hop-by-hop trick", []string{"Connection", "close, Remote-User"}},
	}
	for _, s := range spoofs {
		t.Run(s.name, func(t *testing.T) {
			before := g.up.count()
			hdr := append([]string{"Authorization", "Bearer " + token}, s.hdr...)
			mustStatus(t, c.get("/", hdr...), http.StatusOK)
			if g.up.count() != before+1 {
				t.Fatal("request did not reach upstream")
			}
			seen := g.up.last(t)
			want := map[string]string{"Remote-User": "alice", "Remote-Groups": "admins,dev", "Remote-Email": "alice@example.com", "Remote-Mfa-Methods": "pwd,otp,mfa"}
			for name, vals := range seen.Header {
				for w, v := range want {
					if sameHeaderName(name, w) && (len(vals) != 1 || vals[0] != v || name != http.CanonicalHeaderKey(w)) {
						t.Errorf("upstream got %s: %q (want exactly one %s: %q)", name, vals, w, v)
					}
				}
				if strings.Contains(strings.ToLower(name), "remote_") {
					t.Errorf("upstream got spoofed %s: %q", name, vals)
				}
			}
			for w := range want {
				if seen.Header.Get(w) == "" {
					t.Errorf("upstream got no %s", w)
				}
			}
		})
	}

	// Without a session nothing is proxied, spoofed header or not.
	before := g.up.count()
	mustStatus(t, g.client().get("/", "Remote-User", "admin"), http.StatusUnauthorized)
	if g.up.count() != before {
		t.Error("unauthenticated request with Remote-User reached upstream")
	}
}

func TestUnknownBearerFallsBackToCookie(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	c.enrollBrowser("/", "alice", "alice-password")
	// A bearer token meant for the app itself is not ours: the cookie
	// session decides and the app's token is passed on untouched.
	r := c.get("/", "Authorization", "Bearer app-own-token")
	mustStatus(t, r, http.StatusOK)
	if got := g.up.last(t).Header.Get("Authorization"); got != "Bearer app-own-token" {
		t.Errorf("upstream Authorization = %q", got)
	}
}

func TestRenamedAndDisabledHeadersAreStillStripped(t *testing.T) {
	a, _ := userHashes(t)
	g := startGateway(t, `mfa {
		secret `+testSecret+`
		user alice `+a+`
		store file {STORE}
		headers {
			user X-Forwarded-User
			groups off
		}
	}`)
	c := g.client()
	_, _, token := c.enrollAPI("alice", "alice-password")
	mustStatus(t, c.get("/", "Authorization", "Bearer "+token, "Remote-User", "admin", "Remote-Groups", "root", "X-Forwarded-User", "admin"), http.StatusOK)
	seen := g.up.last(t)
	if got := seen.Header.Values("X-Forwarded-User"); len(got) != 1 || got[0] != "alice" {
		t.Errorf("X-Forwarded-User = %q", got)
	}
	if got := seen.Header.Values("Remote-User"); len(got) != 0 {
		t.Errorf("renamed default header still reached upstream: %q", got)
	}
	if got := seen.Header.Values("Remote-Groups"); len(got) != 0 {
		t.Errorf("disabled header reached upstream: %q", got)
	}
	if seen.Header.Get("Remote-Email") != "" {
		// alice has no email in this config
		t.Errorf("Remote-Email = %q", seen.Header.Get("Remote-Email"))
	}
}

// With no headers block the upstream gets Authelia's four headers, and
// the three MFA headers, not sent by default, are still stripped.
func TestDefaultHeadersAreAutheliasFour(t *testing.T) {
	a, _ := userHashes(t)
	g := startGateway(t, `mfa {
		secret `+testSecret+`
		user alice `+a+` {
			email alice@example.com
			name "Alice Doe"
			groups admins dev
		}
		store file {STORE}
	}`)
	c := g.client()
	_, _, token := c.enrollAPI("alice", "alice-password")
	mustStatus(t, c.get("/", "Authorization", "Bearer "+token,
		"Remote-MFA-Methods", "hwk", "remote-auth-time", "2001-01-01T00:00:00Z", "Remote_MFA_Time", "2001-01-01T00:00:00Z"), http.StatusOK)
	seen := g.up.last(t)
	for name, want := range map[string]string{
		"Remote-User": "alice", "Remote-Email": "alice@example.com", "Remote-Name": "Alice Doe", "Remote-Groups": "admins,dev",
	} {
		if got := seen.Header.Values(name); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want [%q]", name, got, want)
		}
	}
	for name := range seen.Header {
		for _, off := range []string{"Remote-MFA-Methods", "Remote-Auth-Time", "Remote-MFA-Time"} {
			if sameHeaderName(name, off) {
				t.Errorf("upstream got %s: %q, which is not sent by default", name, seen.Header[name])
			}
		}
	}
}

// namesIdentityHeader splits Connection lines by hand on the hot path; it
// must find exactly what a plain split and trim of every token finds.
func TestNamesIdentityHeader(t *testing.T) {
	h := newBenchHandler(t, nil)
	reference := func(lines []string) bool {
		for _, line := range lines {
			for _, tok := range strings.Split(line, ",") {
				if h.isIdentityHeader(strings.TrimSpace(tok)) {
					return true
				}
			}
		}
		return false
	}
	for _, c := range []struct {
		lines []string
		want  bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"keep-alive"}, false},
		{[]string{"close, Remote-User"}, true},
		{[]string{"Remote-User"}, true},
		{[]string{"remote_user,close"}, true},
		{[]string{"keep-alive", " REMOTE-GROUPS "}, true},
		{[]string{",,, ,Remote-Email,"}, true},
		{[]string{"Remote-Users, Remote-Use, X-Remote-User"}, false},
		{[]string{"close,\tRemote-Name\t"}, true},
		{[]string{"Upgrade, keep-alive,"}, false},
		{[]string{"Remote-Mfa-Methods"}, true},
	} {
		if got := h.namesIdentityHeader(c.lines); got != c.want || got != reference(c.lines) {
			t.Errorf("namesIdentityHeader(%q) = %v, want %v (reference %v)", c.lines, got, c.want, reference(c.lines))
		}
	}
}

// Caddy drops every client header with "_" in its name unless the
// operator lets it through (expected_underscore_headers). Let identity
// spellings through, and the handler must still remove each of them.
func TestUnderscoreIdentityHeadersLetThroughByCaddy(t *testing.T) {
	g := startGatewayWith(t, `servers {
		expected_underscore_headers x_app_hint remote_user remote_mfa_methods remote_mfa-methods remote-auth_time
	}`, defaultMFA(t))
	c := g.client()
	_, _, token := c.enrollAPI("alice", "alice-password")
	mustStatus(t, c.get("/", "Authorization", "Bearer "+token, "X_App_Hint", "kept",
		"Remote_User", "admin", "REMOTE_MFA_METHODS", "hwk", "remote_mfa-methods", "hwk", "remote-auth_time", "0"), http.StatusOK)
	seen := g.up.last(t)
	if seen.Header.Get("X_app_hint") != "kept" {
		t.Fatalf("Caddy did not let the allowed underscore header through, so this test shows nothing: %v", seen.Header)
	}
	for name, vals := range seen.Header {
		if strings.Contains(name, "_") && name != "X_app_hint" {
			t.Errorf("upstream got spoofed %s: %q", name, vals)
		}
	}
	if got := seen.Header.Values("Remote-User"); len(got) != 1 || got[0] != "alice" {
		t.Errorf("upstream got Remote-User %q, want exactly alice", got)
	}
}

// FuzzStripIdentityHeaders: whatever header name a client sends, once a
// server has canonicalized it, stripIdentityHeaders removes it exactly when
// it is an identity header in some spelling (any case, "_" for "-"), which
// the reference here decides without the handler's filters (length, first
// byte) or its byte-wise comparison; other headers stay.
func FuzzStripIdentityHeaders(f *testing.F) {
	for _, s := range []string{"remote_user", "REMOTE-MFA_METHODS", "Remote-Usr", "X-Remote-User",
		"remote-auth_time", "Remote-Groups", "accept", "remote user", "Remote-Name_", "rEmOtE_eMaIl"} {
		f.Add(s)
	}
	h := newBenchHandler(f, nil)
	reference := func(key string) bool {
		for _, n := range h.strip {
			if strings.EqualFold(strings.ReplaceAll(key, "_", "-"), strings.ReplaceAll(n, "_", "-")) {
				return true
			}
		}
		return false
	}
	f.Fuzz(func(t *testing.T, name string) {
		key := http.CanonicalHeaderKey(name)
		if !httpguts.ValidHeaderFieldName(key) || key == "Accept" {
			return // a server refuses the request (or it is the control header)
		}
		want := reference(key)
		r := &http.Request{Header: http.Header{key: {"spoof"}, "Accept": {"*/*"}}}
		h.stripIdentityHeaders(r)
		if _, kept := r.Header[key]; kept == want {
			t.Fatalf("%q (sent as %q): kept %v, identity header %v", key, name, kept, want)
		}
		if r.Header.Get("Accept") != "*/*" {
			t.Fatalf("%q: Accept was removed", key)
		}
	})
}

// The filter in front of the comparisons must let every spelling of an
// identity header name through (it would otherwise reach the upstream) and
// should stop a browser's usual headers.
func TestNameFilter(t *testing.T) {
	names := standardHeaderNames().names()
	f := newNameFilter(names)
	for _, n := range names {
		for _, v := range []string{n, strings.ToLower(n), strings.ToUpper(n), strings.ReplaceAll(n, "-", "_"),
			strings.ToLower(strings.ReplaceAll(n, "-", "_")), http.CanonicalHeaderKey(strings.ReplaceAll(n, "-", "_"))} {
			if !f.mayHave(v) {
				t.Errorf("filter stops %q, a spelling of %s", v, n)
			}
		}
	}
	for _, n := range []string{"", "Accept", "Cookie", "Sec-Fetch-Site", "Accept-Language", "Cache-Control", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "User-Agent"} {
		if f.mayHave(n) {
			t.Errorf("filter lets %q through", n)
		}
	}
	g := newNameFilter([]string{"_x-a", "-y"})
	for _, v := range []string{"_x-a", "-x_a", "_X-A", "-y", "_y", "-Y"} {
		if !g.mayHave(v) {
			t.Errorf("filter for names starting with a separator stops %q", v)
		}
	}
}
